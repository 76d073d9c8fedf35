"""Long conversations continue-as-new with the case carried over, nothing lost.

Runs on the real dev server: the time-skipping test server stalls when a run continues
as new while activities of the old run are still in flight.
"""

import asyncio

import pytest
from temporalio.api.enums.v1 import WorkflowTaskFailedCause
from temporalio.client import Client, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from baton.temporal.client import BatonClient
from baton.temporal.slots import WorkerSlots
from domain.models import IncomingMessage
from domain.policy import EscalationPolicy
from domain.states import CaseState
from tests.conftest import (
    CaseDriver,
    case_on,
    case_replayer,
    running_worker,
    start_case,
    stop_if_running,
)
from tests.test_lifecycle_dev_server import _eventually
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
        # Visibility holds a row per run; the case list shows the case once, running.
        wid = case.handle.id
        await _eventually(lambda: _run_count(dev_env.client, wid, at_least=2))
        listed = await BatonClient(dev_env.client, "any").list_cases(f'WorkflowId = "{wid}"')
        assert [(c.case_id, c.status) for c in listed] == [(wid.removeprefix("case-"), "RUNNING")]
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


async def test_with_no_case_cached_every_task_replays_across_runs(
    dev_env: WorkflowEnvironment, short_history: EscalationPolicy, store, executor
) -> None:
    # A worker that caches no case replays each run from its first event for every
    # workflow task: every decision (the continue-as-new one, taken on the history's
    # length right after local activities, included) must come out as it did before.
    no_cache = WorkerSlots(cached_cases=0)
    async with running_worker(dev_env.client, short_history, store, executor, slots=no_cache) as w:
        case = CaseDriver(await start_case(dev_env.client, w), dev_env.client)
        try:
            first_run = (await case.handle.describe()).run_id
            await case.say("talk to a human")
            for i in range(30):
                await case.say(f"update {i}", author="customer" if i % 2 else "ai")
            await case.signal_burst(60, "signal {i}")
            await case.wait_for_messages(91)
            await case.accept("anna")
            await case.resolve("anna", root_cause="other", escalation_necessary=True)
            result = await asyncio.wait_for(case.handle.result(), 60)
        finally:
            await stop_if_running(case.handle)
    assert result.state is CaseState.CLOSED and result.message_count == 91

    runs = await _runs(dev_env.client, case.handle.id, first_run)
    assert len(runs) >= 2, "the case never continued as new"
    replayer = case_replayer()
    for history in runs:
        # UNHANDLED_COMMAND is the server's own: a signal came in while the run tried
        # to end, so it gets a new task with the signal; anything else is the worker's.
        failed = [
            WorkflowTaskFailedCause.Name(attrs.cause) + ": " + attrs.failure.message
            for e in history.events
            if e.HasField("workflow_task_failed_event_attributes")
            and (attrs := e.workflow_task_failed_event_attributes).cause
            != WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND
        ]
        assert not failed, f"run {history.run_id}: {failed}"
        replayed = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert replayed.replay_failure is None, history.run_id


async def _run_count(client: Client, workflow_id: str, at_least: int) -> bool:
    runs = [w async for w in client.list_workflows(f'WorkflowId = "{workflow_id}"')]
    return len(runs) >= at_least


async def _runs(client: Client, workflow_id: str, run_id: str) -> list[WorkflowHistory]:
    """Every run's history, first to last, following the continue-as-new chain."""
    runs = []
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        runs.append(history)
        last = history.events[-1]
        if not last.HasField("workflow_execution_continued_as_new_event_attributes"):
            return runs
        run_id = last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
