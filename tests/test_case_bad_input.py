"""Bad input at the wire boundary: a clear error naming the problem, the case unchanged,
and never a stuck workflow task."""

import uuid
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from baton.temporal.client import BatonClient, CaseAlreadyExists, CaseRequestRejected
from domain.states import CaseState
from tests.conftest import case_on, new_case, running_worker
from workflows.case import CaseWorkflow, workflow_id_for


@pytest.fixture
def on(time_env: WorkflowEnvironment, policy, store, executor):
    return lambda case=None: case_on(time_env, policy, store, executor, case)


def _start_payload(**overrides: Any) -> dict[str, Any]:
    payload = new_case().model_dump(mode="json", exclude_none=True)
    payload.update(overrides)
    return payload


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"case_id": "bad id with spaces"}, "case_id"),
        ({"channel": "fax"}, "channel"),
        ({"customer": {"id": "c1", "tier": "platinum"}}, "tier"),
        ({"customer": {"id": ""}}, "customer.id"),
        ({"subject": "   "}, "subject"),
        ({"priority": "urgent"}, "priority"),
    ],
)
async def test_malformed_start_payload_fails_the_case_clearly(
    time_env, policy, store, executor, overrides: dict[str, Any], named: str
) -> None:
    payload = _start_payload(**overrides)
    async with running_worker(time_env.client, policy, store, executor) as worker:
        handle = await time_env.client.start_workflow(
            "CaseWorkflow",
            payload,
            id=f"case-bad-{uuid.uuid4().hex[:8]}",
            task_queue=worker.task_queue,
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
    assert named.split(".")[-1] in str(failed.value.cause)


async def test_workflow_id_must_match_the_case(time_env, policy, store, executor) -> None:
    case = new_case()
    async with running_worker(time_env.client, policy, store, executor) as worker:
        handle = await time_env.client.start_workflow(
            CaseWorkflow.run, case, id="some-other-id", task_queue=worker.task_queue
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
    assert "workflow id must be" in str(failed.value.cause)


async def test_starting_a_running_case_again_is_rejected(time_env, policy, store, executor) -> None:
    case = new_case()
    async with running_worker(time_env.client, policy, store, executor) as worker:
        client = BatonClient(time_env.client, worker.task_queue)
        await client.start_case(case)
        with pytest.raises(CaseAlreadyExists, match=case.case_id):
            await client.start_case(case)
        await time_env.client.get_workflow_handle(workflow_id_for(case.case_id)).terminate()


async def test_starting_an_ended_case_again_is_rejected_and_its_record_kept(
    on, store, time_env
) -> None:
    # Its record, events and messages are keyed by the case id: a second case under it
    # would be mixed into the first one's (message m1 of the new case dropped as a
    # duplicate of the old one's, say).
    async with on() as case:
        await case.say("talk to a human")
        await case.accept("anna")
        await case.resolve("anna", root_cause="other", escalation_necessary=True)
        first = await case.handle.result()
        ended_run = (await case.handle.describe()).run_id
        with pytest.raises(CaseAlreadyExists, match="has already run and ended"):
            await case.baton.start_case(new_case(case_id=first.case_id))
    latest = time_env.client.get_workflow_handle(workflow_id_for(first.case_id))
    assert (await latest.describe()).run_id == ended_run  # no second run
    assert store.case(first.case_id).state == CaseState.CLOSED.value
    assert [m.message_id for m in store.messages(first.case_id)] == ["m1"]


@pytest.mark.parametrize(
    ("message", "named"),
    [
        ({"message_id": "m9", "author": "robot", "text": "hi"}, "author"),
        ({"message_id": "m9", "author": "customer", "text": "   "}, "text"),
        ({"message_id": "m9", "author": "customer", "text": ""}, "text"),
        ({"message_id": "", "author": "customer", "text": "hi"}, "message_id"),
        ({"message_id": "m9", "author": "customer", "text": "hi", "amount": -5}, "amount"),
        ({"message_id": "m9", "author": "customer", "text": "hi", "mood": "angry"}, "mood"),
        ({"message_id": "m9", "author": "customer", "text": "x" * 20_001}, "longer than"),
    ],
)
async def test_bad_messages_are_rejected_and_change_nothing(
    on, message: dict[str, Any], named: str
) -> None:
    async with on() as case:
        await case.say("hello")
        before = await case.view()
        with pytest.raises(WorkflowUpdateFailedError) as rejected:
            await case.handle.execute_update("post_message", message)
        assert named in str(rejected.value.cause)
        assert await case.view() == before
        # The case is not stuck: the next good message goes through.
        assessment = await case.say("still there?")
        assert assessment.state is CaseState.AI_HANDLING


async def test_duplicate_message_id_is_ignored(on) -> None:
    async with on() as case:
        message = {"message_id": "same", "author": "customer", "text": "talk to a human"}
        first = await case.handle.execute_update(CaseWorkflow.post_message, message)
        view = await case.view()
        again = await case.handle.execute_update(CaseWorkflow.post_message, message)
        assert first.state is CaseState.HANDOFF and not first.duplicate
        assert again.duplicate and again.reasons == []
        assert await case.view() == view
        await case.handle.signal(CaseWorkflow.message, message)
        await case.say("after the signal")
        assert (await case.view()).message_count == view.message_count + 1


async def test_bad_signal_is_dropped_and_the_case_goes_on(on) -> None:
    async with on() as case:
        await case.say("hello")
        before = await case.view()
        await case.handle.signal("message", {"message_id": "s1", "author": "robot", "text": "x"})
        await case.handle.signal("message", {"unexpected": True})
        await case.handle.signal(
            "message", {"message_id": "s2", "author": "customer", "text": "via signal"}
        )
        await case.say("and an update")
        view = await case.view()
        assert view.message_count == before.message_count + 2
        assert [m.text for m in view.recent_messages][-2:] == ["via signal", "and an update"]


@pytest.mark.parametrize(
    ("update", "payload", "named"),
    [
        ("accept", {"agent_id": "anna"}, "not offered to anyone"),
        ("follow_up", {"by": "anna", "root_cause": "other"}, "not in FOLLOW_UP"),
        ("resolve", {"by": "ai-bot", "resolution": "ok", "root_cause": "gremlins"}, "root causes"),
        ("escalate", {"by": "x"}, "reason"),
        ("resolve", {"by": "x"}, "resolution"),
        ("accept", {"agent": "anna"}, "agent_id"),
    ],
)
async def test_illegal_updates_are_rejected_and_change_nothing(
    on, update: str, payload: dict[str, Any], named: str
) -> None:
    async with on() as case:
        await case.say("hello")
        before = await case.view()
        with pytest.raises(WorkflowUpdateFailedError) as rejected:
            await case.handle.execute_update(update, payload)
        assert named in str(rejected.value.cause)
        assert await case.view() == before


async def test_wrong_agent_and_repeated_resolution_are_rejected(time_env, on) -> None:
    async with on() as case:
        await case.say("talk to a human")
        client = BatonClient(time_env.client, "unused")
        case_id = (await case.view()).case_id
        with pytest.raises(CaseRequestRejected, match="offered to anna, not to the agent asking"):
            await client.accept(case_id, "ben")
        await client.accept(case_id, "anna")
        await client.resolve(case_id, {"by": "anna", "resolution": "fixed"})
        before = await case.view()
        assert before.state is CaseState.FOLLOW_UP
        with pytest.raises(CaseRequestRejected, match="already resolved"):
            await client.resolve(case_id, {"by": "anna", "resolution": "again"})
        assert await case.view() == before
