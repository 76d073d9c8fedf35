"""The documentation window: changes close together are written in one batch, a move to
another state or level is written at once, and nothing waits longer than the window."""

import asyncio
from datetime import timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

from baton.temporal.history import local_activities, regular_activities
from tests.conftest import case_on

WINDOW = "documentation window: 2 s"


def _documentations(history: WorkflowHistory) -> int:
    kind = "document_case"
    return local_activities(history)[kind] + regular_activities(history)[kind]


def _windows(history: WorkflowHistory) -> tuple[int, int]:
    """Window timers started, and those that ran out (the others were cut short)."""
    started = {
        e.event_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
        and e.user_metadata.summary.data.decode().strip('"') == WINDOW
    }
    fired = sum(
        1
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED
        and e.timer_fired_event_attributes.started_event_id in started
    )
    return len(started), fired


async def test_messages_within_the_window_are_documented_together(
    time_env, policy, store, executor
) -> None:
    assert policy.limits.documentation_window == timedelta(seconds=2)
    async with case_on(time_env, policy, store, executor) as case:
        await case.say("Where is my parcel?")
        await case.say("Let me check the tracking for you.", author="ai")
        await case.say("It was due on Monday.")
        await time_env.sleep(timedelta(seconds=3))  # the window runs out
        messages = [m.message_id for m in store.messages(case.case_id)]
        history = await case.handle.fetch_history()
    assert messages == ["m1", "m2", "m3"]
    assert _documentations(history) == 1  # the opening and three messages, one batch
    assert _windows(history) == (1, 1)


async def test_a_handoff_is_documented_at_once(time_env, policy, store, executor) -> None:
    async with case_on(time_env, policy, store, executor) as case:
        await case.say("Where is my parcel?")
        await case.say("I want to talk to a human")  # HANDOFF, level 2: no waiting
        for _ in range(100):  # wall time: the workflow's clock stands still meanwhile
            row = store.case(case.case_id)
            if row is not None and row.state == "HANDOFF":
                break
            await asyncio.sleep(0.05)
        history = await case.handle.fetch_history()
    assert row is not None and row.state == "HANDOFF"
    started, fired = _windows(history)
    assert started >= 1 and fired == 0  # the opening's window was cut short by the handoff
    assert [m.message_id for m in store.messages(case.case_id)] == ["m1", "m2"]


async def test_a_zero_window_documents_every_change(time_env, policy, store, executor) -> None:
    limits = policy.limits.model_copy(update={"documentation_window": timedelta(0)})
    eager = policy.model_copy(update={"limits": limits})
    async with case_on(time_env, eager, store, executor) as case:
        await case.say("Where is my parcel?")
        await case.say("Let me check the tracking for you.", author="ai")
        await time_env.sleep(timedelta(seconds=1))
        history = await case.handle.fetch_history()
    assert _windows(history) == (0, 0)
    assert _documentations(history) >= 2
    assert [m.message_id for m in store.messages(case.case_id)] == ["m1", "m2"]
