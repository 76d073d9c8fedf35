"""The case's own activities (policy, detection, routing, the case record) run inside the
workflow task as local activities, one at a time, and fall back to regular activities
when their local attempts fail, so a failing dependency never holds the workflow task;
notifications stay regular activities."""

import asyncio
import threading
import uuid
from datetime import timedelta

import pytest

from baton.store.directory import DirectoryStore
from baton.temporal.history import local_activities, regular_activities
from baton.temporal.slots import WorkerSlots
from domain.detection import DetectionContext, Verdict
from domain.detector import Detector
from domain.directory import directory_from_policy
from domain.models import IncomingMessage
from tests.conftest import CaseDriver, case_on, detector_for, start_case
from worker import create_worker
from workflows.case import CaseWorkflow

LOCAL = {
    "load_policy",
    "assess_message",
    "reserve_agent",
    "document_case",
}
"""The standard case's own activities; its accept and release go with its record."""


async def test_the_case_s_own_activities_run_locally(time_env, policy, store, executor) -> None:
    async with case_on(time_env, policy, store, executor) as case:
        await case.say("Where is my parcel?")
        await case.say("Let me check the tracking for you.", author="ai")
        await case.say("I want to talk to a human")
        agent = (await case.view()).offered_to or ""
        await case.accept(agent)
        await case.resolve(agent, escalation_necessary=True, root_cause="other")
        view = await case.handle.result()  # the follow-up is complete: it closes
        history = await case.handle.fetch_history()
    assert view.state.value == "CLOSED" and agent
    local = local_activities(history)
    assert set(local) == LOCAL
    assert local["assess_message"] == 2  # the customer's two messages
    assert store.case(view.case_id).state == "CLOSED"  # type: ignore[union-attr]
    # The handoff's notices and the offer went out as one delivery.
    assert regular_activities(history) == {"deliver_notifications": 1}
    # The accept and the release rode on the record: the agent holds no slot.
    assert DirectoryStore(store.engine).loads()[agent].active_cases == 0


class _FailingFirst(Detector):
    """The shipped detector, failing its first ``failures`` assessments."""

    def __init__(self, base: Detector, failures: int) -> None:
        self.__dict__.update(base.__dict__)
        self.failures = failures

    def assess(self, message: IncomingMessage, context: DetectionContext) -> Verdict:
        if self.failures > 0:
            self.failures -= 1
            raise RuntimeError("detector not ready")
        return super().assess(message, context)


async def test_a_failing_local_decision_falls_back_to_a_regular_activity(
    time_env, policy, store, executor
) -> None:
    attempts = policy.activities.local_attempts
    detector = _FailingFirst(detector_for(policy), failures=attempts)
    directory = DirectoryStore(store.engine)
    directory.seed(directory_from_policy(policy))
    queue = f"tq-{uuid.uuid4()}"
    worker = create_worker(
        time_env.client, queue, detector, store, executor, directory, learning_refresh=0.0
    )
    async with worker:
        handle = await start_case(time_env.client, worker)
        assessment = await handle.execute_update(
            CaseWorkflow.post_message,
            IncomingMessage(message_id="m1", author="customer", text="I want to talk to a human"),
        )
        history = await handle.fetch_history()
        await handle.terminate("test finished")
    assert "explicit_human_request" in [hit.name for hit in assessment.reasons]
    assert detector.failures == 0
    assert local_activities(history)["assess_message"] == 1  # the failed local attempts: one marker
    assert regular_activities(history)["assess_message"] == 1


async def test_a_burst_spreads_over_workflow_tasks(time_env, policy, store, executor) -> None:
    activities = policy.activities.model_copy(update={"local_per_workflow_task": 5})
    small = policy.model_copy(update={"activities": activities})
    async with case_on(time_env, small, store, executor) as case:
        await case.signal_burst(30, "order {i}?")
        view = await case.wait_for_messages(30, seconds=10)
        history = await case.handle.fetch_history()
    assert view.message_count == 30
    local, regular = local_activities(history), regular_activities(history)
    assert local["assess_message"] + regular["assess_message"] == 30
    regular.pop("deliver_notifications", None)  # not one of the case's own
    lane = sum(local.values()) + sum(regular.values())
    assert regular["assess_message"] >= 1
    assert sum(regular.values()) == lane // 6  # every sixth: five local ones in a row at most


class _HoldingFirst(Detector):
    """The shipped detector; its first assessment waits until the test releases it."""

    def __init__(self, base: Detector) -> None:
        self.__dict__.update(base.__dict__)
        self.holding, self.release = threading.Event(), threading.Event()

    def assess(self, message: IncomingMessage, context: DetectionContext) -> Verdict:
        if not self.holding.is_set():
            self.holding.set()
            # Within the local start-to-close (2 s): only the slot is held, nothing fails.
            self.release.wait(timeout=1.5)
        return super().assess(message, context)


async def test_a_busy_local_slot_hands_the_decision_to_a_regular_activity(
    time_env, policy, store, executor
) -> None:
    activities = policy.activities.model_copy(
        update={"local_schedule_to_start": timedelta(milliseconds=200)}
    )
    quick = policy.model_copy(update={"activities": activities})
    detector = _HoldingFirst(detector_for(quick))
    directory = DirectoryStore(store.engine)
    directory.seed(directory_from_policy(quick))
    worker = create_worker(
        time_env.client,
        f"tq-{uuid.uuid4()}",
        detector,
        store,
        executor,
        directory,
        learning_refresh=0.0,
        slots=WorkerSlots(regular=4, local=1),
    )
    async with worker:
        first, second = [
            CaseDriver(await start_case(time_env.client, worker), time_env.client) for _ in "ab"
        ]
        for case in (first, second):
            await case.say("Thanks for your patience.", author="ai")  # open and documented
        held = asyncio.create_task(first.say("Where is my parcel?"))
        assert await asyncio.to_thread(detector.holding.wait, 5)
        answered = await second.say("I want to talk to a human")  # while the slot is taken
        detector.release.set()
        await held
        histories = [await case.handle.fetch_history() for case in (first, second)]
        for case in (first, second):
            await case.handle.terminate("test finished")
    assert "explicit_human_request" in [hit.name for hit in answered.reasons]
    assert regular_activities(histories[0])["assess_message"] == 0  # it had the slot
    assert local_activities(histories[0])["assess_message"] == 1
    assert regular_activities(histories[1])["assess_message"] == 1  # it did not wait for it


async def test_the_executor_needs_a_thread_for_every_slot(time_env, policy, store) -> None:
    slots = WorkerSlots(regular=4, local=2)
    with slots.executor() as small:
        create_worker(time_env.client, "tq", detector_for(policy), store, small, slots=slots)
        with pytest.raises(ValueError, match=r"has 6 threads.*need 24"):
            create_worker(time_env.client, "tq", detector_for(policy), store, small)
