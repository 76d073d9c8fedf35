"""Business time: a team's working hours, time zone and holidays turn SLA durations
into real deadlines that count only the hours the team works.

Pure computation on aware datetimes (time zones from the standard library's
``zoneinfo``); every result is an aware UTC datetime, so workflow code can compare it
with ``workflow.now()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Annotated, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)

SEARCH_DAYS = 400
"""A calendar with no open hour within this many days is rejected as never open."""

CONFIG_FILE = "config_file"
"""Validation context key, set where a config file is read: only there are overlapping
working hours refused. A calendar recorded in a running case's history must still load
as it was recorded, so the model itself accepts them."""

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_DAY = 24 * 60 * 60  # seconds
_WEEK = 7 * _DAY


class NeverOpens(ValueError):
    """The calendar has no open time left within :data:`SEARCH_DAYS` days."""


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

    @model_validator(mode="after")
    def _hours_do_not_overlap(self, info: ValidationInfo) -> Self:
        # Overlapping lines would count their common hours twice in ``add`` and
        # ``between``: an SLA deadline due hours too early.
        if info.context and info.context.get(CONFIG_FILE) and not self.around_the_clock:
            clash = overlapping_hours(self.hours)
            if clash:
                raise ValueError(clash)
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
        raise NeverOpens(f"calendar never opens within {SEARCH_DAYS} days")

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The moment ``duration`` of working time after ``start`` has passed."""
        left = duration
        for begin, end in self._open_from(start):
            if end - begin >= left:
                return begin + left
            left -= end - begin
        raise NeverOpens(f"calendar never opens within {SEARCH_DAYS} days")

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Working time between ``start`` and ``end`` (zero if ``end`` is not later)."""
        total = timedelta(0)
        for begin, stop in self._open_from(start):
            if begin >= end:
                break
            total += min(stop, end) - begin
        return total


def overlapping_hours(hours: list[WorkingHours]) -> str | None:
    """Which two working-hour lines overlap, as a sentence, or None. Shifts past
    midnight count into the next day, Sunday's into Monday."""
    spans: list[tuple[int, int, int, WorkingHours]] = []  # start, end, day, line
    for line in hours:
        begin = _seconds(line.start)
        length = (_seconds(line.end) - begin) % _DAY or _DAY
        for day in line.days:
            start = day * _DAY + begin
            spans += [
                (start, start + length, day, line),
                (start + _WEEK, start + _WEEK + length, day, line),
            ]
    spans.sort(key=lambda span: span[0])
    for (_, end, day, line), (start, _, next_day, next_line) in pairwise(spans):
        if start < end:
            return (
                f"working hours overlap: {_shift(day, line)} and {_shift(next_day, next_line)};"
                " write the hours they share once"
            )
    return None


def _seconds(moment: time) -> int:
    return moment.hour * 3600 + moment.minute * 60 + moment.second


def _shift(day: int, line: WorkingHours) -> str:
    return f"{WEEKDAYS[day]} {line.start:%H:%M}-{line.end:%H:%M}"
