"""Business time: working hours, time zones, holidays, overnight shifts, DST."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.calendar import CONFIG_FILE, BusinessCalendar, WorkingHours, overlapping_hours

WEEKDAYS = [0, 1, 2, 3, 4]
BERLIN = BusinessCalendar(
    timezone="Europe/Berlin",
    hours=[WorkingHours(days=WEEKDAYS, start=time(9), end=time(17))],
    holidays=[date(2026, 12, 25)],
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_open_and_closed_in_the_teams_time_zone() -> None:
    # Monday 2026-11-23: 09:00 in Berlin is 08:00 UTC (CET, UTC+1).
    assert not BERLIN.is_open(utc(2026, 11, 23, 7, 59))
    assert BERLIN.is_open(utc(2026, 11, 23, 8, 0))
    assert BERLIN.is_open(utc(2026, 11, 23, 15, 59))
    assert not BERLIN.is_open(utc(2026, 11, 23, 16, 0))
    assert not BERLIN.is_open(utc(2026, 11, 28, 10, 0))  # Saturday


def test_sla_counts_only_working_hours() -> None:
    # Friday 16:00 Berlin + 2 working hours = Monday 10:00 Berlin (09:00 UTC).
    friday_4pm = utc(2026, 11, 27, 15, 0)
    assert BERLIN.add(friday_4pm, timedelta(hours=2)) == utc(2026, 11, 30, 9, 0)
    assert BERLIN.between(friday_4pm, utc(2026, 11, 30, 9, 0)) == timedelta(hours=2)


def test_a_request_outside_hours_starts_counting_at_the_next_opening() -> None:
    sunday = utc(2026, 11, 29, 12, 0)
    assert BERLIN.next_open(sunday) == utc(2026, 11, 30, 8, 0)
    assert BERLIN.add(sunday, timedelta(minutes=30)) == utc(2026, 11, 30, 8, 30)


def test_holidays_are_closed() -> None:
    christmas_eve_4pm = utc(2026, 12, 24, 15, 0)  # Thursday; the 25th is a holiday
    assert BERLIN.add(christmas_eve_4pm, timedelta(hours=2)) == utc(2026, 12, 28, 9, 0)


def test_daylight_saving_moves_the_utc_opening() -> None:
    # 2026-03-30 is the first Monday of CEST (UTC+2): 09:00 Berlin is 07:00 UTC.
    assert BERLIN.next_open(utc(2026, 3, 30, 0, 0)) == utc(2026, 3, 30, 7, 0)
    assert BERLIN.next_open(utc(2026, 3, 23, 0, 0)) == utc(2026, 3, 23, 8, 0)


def test_overnight_shift_runs_past_midnight() -> None:
    night = BusinessCalendar(
        timezone="America/New_York",
        hours=[WorkingHours(days=[0, 1, 2, 3, 4], start=time(22), end=time(6))],
    )
    # Monday 23:00 New York (EST, UTC-5) is open; Tuesday 05:59 too; 06:00 not.
    assert night.is_open(utc(2026, 11, 24, 4, 0))
    assert night.is_open(utc(2026, 11, 24, 10, 59))
    assert not night.is_open(utc(2026, 11, 24, 11, 0))
    assert night.add(utc(2026, 11, 24, 10, 0), timedelta(hours=2)) == utc(2026, 11, 25, 4, 0)


def test_around_the_clock_is_wall_time() -> None:
    always = BusinessCalendar(around_the_clock=True)
    start = utc(2026, 11, 28, 23, 30)
    assert always.is_open(start)
    assert always.add(start, timedelta(hours=3)) == start + timedelta(hours=3)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"hours": []}, "around_the_clock"),
        ({"hours": [{"days": [7], "start": "09:00", "end": "17:00"}]}, "less than or equal to 6"),
    ],
)
def test_bad_calendars_are_rejected(fields: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"hours": [{"days": [0], "start": "09:00", "end": "17:00"}]}
    with pytest.raises(ValidationError, match=message):
        BusinessCalendar.model_validate(base | fields)


def test_a_calendar_that_never_opens_is_a_clear_error() -> None:
    closed = BusinessCalendar(
        hours=[WorkingHours(days=[0], start=time(9), end=time(17))],
        holidays=[date(2026, 11, 23) + timedelta(weeks=w) for w in range(60)],
    )
    with pytest.raises(ValueError, match="never opens"):
        closed.add(utc(2026, 11, 22, 0, 0), timedelta(hours=1))


def _hours(*lines: tuple[list[int], str, str]) -> list[WorkingHours]:
    return [
        WorkingHours(days=d, start=time.fromisoformat(a), end=time.fromisoformat(b))
        for d, a, b in lines
    ]


@pytest.mark.parametrize(
    ("lines", "clash"),
    [
        (([0, 1, 2, 3, 4], "08:00", "17:00"), ([0, 6], "09:00", "13:00")),  # same day
        (([0], "22:00", "06:00"), ([1], "05:00", "13:00")),  # overnight into the morning
        (([6], "22:00", "06:00"), ([0], "05:30", "13:00")),  # Sunday night into Monday
        (([2], "09:00", "09:00"), ([3], "08:00", "10:00")),  # a 24-hour shift
    ],
)
def test_overlapping_working_hours_are_named(lines: tuple, clash: tuple) -> None:
    found = overlapping_hours(_hours(lines, clash))
    assert found is not None and "overlap" in found
    assert f"{clash[1]}-{clash[2]}" in found


def test_hours_that_only_touch_do_not_overlap() -> None:
    assert overlapping_hours(_hours(([0, 1], "08:00", "12:00"), ([0, 1], "12:00", "16:00"))) is None
    assert overlapping_hours(_hours(([6], "22:00", "06:00"), ([0], "06:00", "12:00"))) is None


def test_overlapping_hours_are_refused_in_a_config_file_only() -> None:
    # Overlapping lines would count their common hours twice: a 10-hour SLA from 08:00
    # would end at 10:00. A calendar recorded in a running case's history (validated
    # without the config-file context) still loads as it was recorded.
    raw = {
        "hours": [
            {"days": [0], "start": "08:00", "end": "17:00"},
            {"days": [0], "start": "09:00", "end": "13:00"},
        ]
    }
    with pytest.raises(ValidationError, match="Monday 08:00-17:00 and Monday 09:00-13:00"):
        BusinessCalendar.model_validate(raw, context={CONFIG_FILE: True})
    recorded = BusinessCalendar.model_validate(raw)
    assert recorded.hours == _hours(([0], "08:00", "17:00"), ([0], "09:00", "13:00"))


_TIMES = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
_LINES = st.builds(
    WorkingHours,
    days=st.lists(st.integers(0, 6), min_size=1, max_size=7, unique=True),
    start=_TIMES,
    end=_TIMES,
)
_ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(
    zone=st.sampled_from(_ZONES),
    hours=st.lists(_LINES, min_size=1, max_size=3),
    start=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)),
    minutes=st.integers(1, 60 * 24 * 10),
)
def test_working_time_added_is_the_working_time_between(
    zone: str, hours: list[WorkingHours], start: datetime, minutes: int
) -> None:
    # Any calendar a config file may hold (no overlaps), across DST changes, overnight
    # shifts and half-hour zones: the deadline is that much working time later, and
    # falls at the end of an open stretch.
    assume(overlapping_hours(hours) is None)
    calendar = BusinessCalendar(timezone=zone, hours=hours)
    at, duration = start.replace(tzinfo=UTC), timedelta(minutes=minutes)
    try:
        due = calendar.add(at, duration)
    except ValueError:  # open too little to fit it in SEARCH_DAYS
        assume(False)
    assert due > at and calendar.between(at, due) == duration
    assert calendar.is_open(due - timedelta(seconds=1))
