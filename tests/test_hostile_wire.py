"""Hostile payloads through the wire into a running case, property-based (Hypothesis):
every update and the ``message`` signal get random edits of valid payloads. A rejected
update changes nothing, a bad signal is dropped, and the case's workflow task never
gets stuck: a valid message afterwards is still answered."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.service import RPCError

from baton.store.cases import CaseStore
from baton.temporal.slots import WorkerSlots
from domain.policy import EscalationPolicy
from domain.states import CaseState
from tests.conftest import case_on, start_time_skipping
from tests.test_hostile_input import MARKER, VALID, edited

UPDATES = {
    "post_message": "IncomingMessage",
    "accept": "AcceptRequest",
    "decline": "DeclineRequest",
    "consult_answer": "ConsultAnswer",
    "escalate": "EscalateRequest",
    "resolve": "ResolveRequest",
    "follow_up": "FollowUpRequest",
}


async def _attack(
    policy: EscalationPolicy, folder: Path, payloads: dict[str, Any], signal: Any
) -> None:
    env = await start_time_skipping()
    store = CaseStore(f"sqlite:///{folder / 'baton.db'}")
    try:
        with WorkerSlots().executor() as executor:
            async with case_on(env, policy, store, executor) as case:
                await case.say("Where is my parcel?")
                for update, payload in payloads.items():
                    before = await case.view()
                    try:
                        await case.handle.execute_update(update, payload)
                    except WorkflowUpdateFailedError as rejected:
                        assert MARKER not in str(rejected.cause), "the error quotes the input"
                        assert await case.view() == before, f"a rejected {update} changed the case"
                try:
                    await case.handle.signal("message", signal)
                except RPCError:  # valid enough edits of resolve and follow-up closed it
                    status = (await case.handle.describe()).status
                    assert status is WorkflowExecutionStatus.COMPLETED
                view = await case.view()
                if view.state in (CaseState.AI_HANDLING, CaseState.HANDOFF):
                    answer = await case.say("Are you still there?")  # not stuck
                    assert answer.state in (CaseState.AI_HANDLING, CaseState.HANDOFF)
                else:  # a random payload may have been valid enough to resolve the case
                    assert (await case.view()).message_count >= 1
    finally:
        store.close()
        await env.shutdown()


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_hostile_updates_and_signals_never_change_or_stick_a_case(
    data: st.DataObject, policy: EscalationPolicy, tmp_path_factory: Any
) -> None:
    payloads = {u: data.draw(edited(VALID[model]), label=u) for u, model in UPDATES.items()}
    signal = data.draw(edited(VALID["IncomingMessage"]), label="message signal")
    folder = tmp_path_factory.mktemp("hostile")
    asyncio.run(_attack(policy, folder, payloads, signal))
