"""Long conversations continue-as-new with the case carried over, nothing lost.

Runs on the real dev server: the time-skipping test server stalls when a run continues
as new while activities of the old run are still in flight.
"""

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.models import IncomingMessage
from domain.policy import EscalationPolicy
from domain.states import CaseState
from tests.conftest import case_on
from workflows.case import CaseWorkflow


@pytest.fixture
def short_history(policy: EscalationPolicy) -> EscalationPolicy:
    limits = policy.limits.model_copy(update={"continue_as_new_after_events": 100})
    return policy.model_copy(update={"limits": limits})


async def test_long_case_continues_as_new_and_keeps_everything(
    dev_env: WorkflowEnvironment, short_history: EscalationPolicy, store, executor
) -> None:
    async with case_on(dev_env, short_history, store, executor) as case:
        first_run = (await case.handle.describe()).run_id
        await case.say("talk to a human")
        for i in range(40):
            await case.say(f"update {i}", author="customer" if i % 2 else "ai")
        # The first message id is remembered across runs: a duplicate is still ignored.
        again = await case.handle.execute_update(
            CaseWorkflow.post_message,
            IncomingMessage(message_id="m1", author="customer", text="talk to a human"),
        )
        assert again.duplicate
        # Signals in bulk: each arrives exactly once even while runs hand over.
        await case.signal_burst(200, "signal {i}")
        await case.wait_for_messages(241)
        latest = await case.handle.describe()
        assert latest.run_id != first_run  # it continued as new at least once
        view = await case.view()
        assert view.message_count == 241
        assert view.state is CaseState.HANDOFF and view.offered_to == "anna"
        assert len(view.recent_messages) == short_history.limits.recent_messages
        await case.accept("anna")
        await case.resolve("anna", root_cause="other", escalation_necessary=True)
        result = await case.handle.result()
        assert result.state is CaseState.CLOSED

    history = await case.handle.fetch_history()
    # The last run stays short: one run holding all 241 messages would need well over
    # 700 events; a run continues at 100 plus whatever arrives while it hands over.
    assert len(history.events) < 200
    messages = store.messages(result.case_id)
    assert len(messages) == 241 and len({m.message_id for m in messages}) == 241
    assert [e.seq for e in store.events(result.case_id)] == list(range(1, result.history_seq + 1))
    assert len(store.outbox(result.case_id)) == 3
