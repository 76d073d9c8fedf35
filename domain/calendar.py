"""Business time: a team's working hours, time zone and holidays turn SLA durations
into real deadlines that count only the hours the team works.

Pure computation on aware datetimes (time zones from the standard library's
``zoneinfo``); every result is an aware UTC datetime, so workflow code can compare it
with ``workflow.now()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

SEARCH_DAYS = 400
"""A calendar with no open hour within this many days is rejected as never open."""


def _zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None
    return name


TimeZoneName = Annotated[str, AfterValidator(_zone)]


class WorkingHours(BaseModel):
    """Open from ``start`` to ``end`` (local time) on the given weekdays (0 = Monday).

    An ``end`` at or before ``start`` runs past midnight into the next day.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    days: list[Annotated[int, Field(ge=0, le=6)]] = Field(min_length=1)
    start: time
    end: time


class BusinessCalendar(BaseModel):
    """When a team works: time zone, weekly hours, holidays, or around the clock."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: TimeZoneName = "UTC"
    hours: list[WorkingHours] = []
    holidays: list[date] = []
    around_the_clock: bool = False

    @model_validator(mode="after")
    def _opens_at_all(self) -> Self:
        if not self.around_the_clock and not self.hours:
            raise ValueError("needs working hours, or around_the_clock = true")
        return self

    @property
    def zone(self) -> ZoneInfo:
        """The calendar's time zone."""
        return ZoneInfo(self.timezone)

    def _intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """Open intervals starting on local ``day``, as UTC datetimes, in order."""
        if self.around_the_clock:
            start = datetime.combine(day, time(0), tzinfo=self.zone)
            end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=self.zone)
            return [(start.astimezone(UTC), end.astimezone(UTC))]
        if day in self.holidays:
            return []
        out = []
        for hours in self.hours:
            if day.weekday() not in hours.days:
                continue
            end_day = day if hours.end > hours.start else day + timedelta(days=1)
            start = datetime.combine(day, hours.start, tzinfo=self.zone)
            end = datetime.combine(end_day, hours.end, tzinfo=self.zone)
            out.append((start.astimezone(UTC), end.astimezone(UTC)))
        return sorted(out)

    def _open_from(self, at: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open intervals that end after ``at``, clipped to start no earlier than it."""
        first = at.astimezone(self.zone).date() - timedelta(days=1)  # overnight shifts
        for offset in range(SEARCH_DAYS):
            for start, end in self._intervals(first + timedelta(days=offset)):
                if end > at:
                    yield max(start, at), end

    def is_open(self, at: datetime) -> bool:
        """Whether the team works at ``at``."""
        first = next(self._open_from(at), None)
        return first is not None and first[0] == at

    def next_open(self, at: datetime) -> datetime:
        """``at`` if the team works then, else when it next starts."""
        for start, _ in self._open_from(at):
            return start
        raise ValueError(f"calendar never opens within {SEARCH_DAYS} days")

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The moment ``duration`` of working time after ``start`` has passed."""
        left = duration
        for begin, end in self._open_from(start):
            if end - begin >= left:
                return begin + left
            left -= end - begin
        raise ValueError(f"calendar never opens within {SEARCH_DAYS} days")

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Working time between ``start`` and ``end`` (zero if ``end`` is not later)."""
        total = timedelta(0)
        for begin, stop in self._open_from(start):
            if begin >= end:
                break
            total += min(stop, end) - begin
        return total
