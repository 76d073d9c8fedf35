"""Escalation chains as data: steps, waits, round robin, on-call rotations, windows,
repeats."""

from datetime import UTC, datetime, time, timedelta

import pytest
from pydantic import ValidationError

from domain.calendar import BusinessCalendar, WorkingHours
from domain.chains import ChainPosition, EscalationChain, OnCallSchedule, walk

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # Monday
SCHEDULES = {"it": OnCallSchedule(people=["oskar", "mona"], start=T0, shift=timedelta(hours=12))}


def chain(**fields: object) -> EscalationChain:
    base: dict[str, object] = {
        "steps": [
            {"kind": "notify_team_channel", "team": "support-frontline"},
            {"kind": "wait", "duration": "PT5M"},
            {"kind": "round_robin", "people": ["anna", "ben"]},
            {"kind": "notify_on_call", "schedule": "it"},
            {"kind": "wait", "duration": "PT10M"},
            {"kind": "notify_people", "people": ["lead-support", "head-of-service"]},
        ]
    }
    return EscalationChain.model_validate(base | fields)


def names(progress) -> list[str]:  # type: ignore[no-untyped-def]
    return [a.recipient for a in progress.actions]


def test_the_chain_runs_step_by_step_with_durable_waits() -> None:
    first = walk(chain(), ChainPosition(), T0, SCHEDULES)
    assert names(first) == ["support-frontline"] and first.wake_at == T0 + timedelta(minutes=5)
    second = walk(chain(), first.position, first.wake_at, SCHEDULES)
    assert names(second) == ["anna", "oskar"]
    assert second.wake_at == T0 + timedelta(minutes=15)
    third = walk(chain(), second.position, second.wake_at, SCHEDULES)
    assert names(third) == ["lead-support", "head-of-service"] and third.wake_at is None


def test_repeats_rotate_the_round_robin() -> None:
    repeating = chain(repeat=1)
    position, at, seen = ChainPosition(), T0, []
    while at is not None:
        progress = walk(repeating, position, at, SCHEDULES)
        seen += names(progress)
        position, at = progress.position, progress.wake_at
    assert seen.count("support-frontline") == 2
    assert [n for n in seen if n in ("anna", "ben")] == ["anna", "ben"]  # next person each run


def test_on_call_follows_the_rotation() -> None:
    schedule = SCHEDULES["it"]
    assert schedule.on_call(T0) == "oskar"
    assert schedule.on_call(T0 + timedelta(hours=12)) == "mona"
    assert schedule.on_call(T0 + timedelta(hours=24)) == "oskar"


def test_outside_its_window_the_chain_waits_for_the_window() -> None:
    office = BusinessCalendar(
        timezone="Europe/Berlin",
        hours=[WorkingHours(days=[0, 1, 2, 3, 4], start=time(9), end=time(17))],
    )
    evening = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
    progress = walk(chain(window=office), ChainPosition(), evening, SCHEDULES)
    assert progress.actions == [] and progress.wake_at == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("step", "message"),
    [
        ({"kind": "page_everyone"}, "does not match any of the expected tags"),
        ({"kind": "wait", "duration": "PT0S"}, "greater than 0"),
        ({"kind": "notify_people", "people": []}, "at least 1 item"),
    ],
)
def test_bad_steps_are_rejected(step: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        EscalationChain.model_validate({"steps": [step]})


def test_a_window_that_never_opens_again_rests_the_chain() -> None:
    # Open on Mondays only, and every Monday of the next 60 weeks a holiday.
    mondays = BusinessCalendar(
        hours=[WorkingHours(days=[0], start=time(9), end=time(17))],
        holidays=[T0.date() + timedelta(weeks=w) for w in range(60)],
    )
    progress = walk(chain(window=mondays), ChainPosition(), T0, SCHEDULES)
    assert progress.actions == [] and progress.wake_at is None
    assert progress.position == ChainPosition()
