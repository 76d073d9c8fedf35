"""The documentation window: the opening and a move to another state or level are
written at once; plain changes join the next batch once they are older than the
window, with no timer of their own in the history."""

import asyncio
from datetime import timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

from baton.store.cases import CaseStore
from baton.temporal.history import local_activities, regular_activities
from tests.conftest import case_on


def _documentations(history: WorkflowHistory) -> int:
    kind = "document_case"
    return local_activities(history)[kind] + regular_activities(history)[kind]


def _timer_summaries(history: WorkflowHistory) -> list[str]:
    return [
        e.user_metadata.summary.data.decode().strip('"')
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
    ]


async def _stored_state(store: CaseStore, case_id: str, state: str) -> str | None:
    for _ in range(100):  # wall time: the workflow's clock stands still meanwhile
        row = store.case(case_id)
        if row is not None and row.state == state:
            return row.state
        await asyncio.sleep(0.05)
    row = store.case(case_id)
    return None if row is None else row.state


async def test_plain_messages_join_the_next_change_past_the_window(
    time_env, policy, store, executor
) -> None:
    assert policy.limits.documentation_window == timedelta(seconds=2)
    async with case_on(time_env, policy, store, executor) as case:
        await case.say("Where is my parcel?")
        await case.say("Let me check the tracking for you.", author="ai")
        await case.say("It was due on Monday.")
        await time_env.sleep(timedelta(seconds=3))  # the window passes, nothing is written
        waiting = [m.message_id for m in store.messages(case.case_id)]
        opened = store.case(case.case_id)  # the opening was written at once
        assert (await case.view()).message_count == 3  # safe in the workflow meanwhile
        await case.say("Any news?")  # the case wakes: what waited is written
        history = await case.handle.fetch_history()
        latest = (await case.view()).message_count
    assert waiting == [] and opened is not None and opened.state == "AI_HANDLING"
    assert [m.message_id for m in store.messages(case.case_id)] == ["m1", "m2", "m3"]
    assert latest == 4  # the newest waits for the case's next change in its turn
    assert _documentations(history) == 2  # the opening, then three messages in one batch
    assert not any("documentation" in s for s in _timer_summaries(history))


async def test_a_handoff_is_documented_at_once(time_env, policy, store, executor) -> None:
    async with case_on(time_env, policy, store, executor) as case:
        await case.say("Where is my parcel?")
        await case.say("I want to talk to a human")  # HANDOFF, level 2: no waiting
        state = await _stored_state(store, case.case_id, "HANDOFF")
        history = await case.handle.fetch_history()
    assert state == "HANDOFF"
    assert [m.message_id for m in store.messages(case.case_id)] == ["m1", "m2"]
    assert _documentations(history) <= 2  # the opening (with m1 at most), the handoff
    assert not any("documentation" in s for s in _timer_summaries(history))


async def test_a_zero_window_documents_every_change(time_env, policy, store, executor) -> None:
    limits = policy.limits.model_copy(update={"documentation_window": timedelta(0)})
    eager = policy.model_copy(update={"limits": limits})
    async with case_on(time_env, eager, store, executor) as case:
        await case.say("Where is my parcel?")
        await case.say("Let me check the tracking for you.", author="ai")
        for _ in range(100):
            if len(store.messages(case.case_id)) == 2:
                break
            await asyncio.sleep(0.05)
        history = await case.handle.fetch_history()
    assert _documentations(history) >= 2
    assert [m.message_id for m in store.messages(case.case_id)] == ["m1", "m2"]
