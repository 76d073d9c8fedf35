"""Decisions on the case's path (policy, detection, routing) run inside the workflow task
as local activities, one at a time, and fall back to regular activities when their local
attempts fail, so a failing dependency never holds the case's workflow task."""

import json
import uuid
from collections import Counter

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

from baton.directory import DirectoryStore
from domain.detection import DetectionContext, Verdict
from domain.detector import Detector
from domain.directory import directory_from_policy
from domain.models import IncomingMessage
from tests.conftest import case_on, detector_for, start_case
from worker import create_worker
from workflows.case import CaseWorkflow

DECISIONS = {"load_policy", "assess_message", "customer_history", "reserve_agent"}


def _local(history: WorkflowHistory) -> Counter[str]:
    """Local activities by type, from their markers."""
    kinds: Counter[str] = Counter()
    for e in history.events:
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            details = e.marker_recorded_event_attributes.details
            if "data" in details:
                kinds[json.loads(details["data"].payloads[0].data)["activity_type"]] += 1
    return kinds


def _regular(history: WorkflowHistory) -> Counter[str]:
    return Counter(
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    )


async def test_decisions_run_as_local_activities(time_env, policy, store, executor) -> None:
    async with case_on(time_env, policy, store, executor) as case:
        await case.say("Where is my parcel?")
        await case.say("Let me check the tracking for you.", author="ai")
        await case.say("I want to talk to a human")
        view = await case.view()
        history = await case.handle.fetch_history()
    assert view.state.value == "HANDOFF" and view.offered_to
    assert _local(history) == {
        "load_policy": 1,
        "assess_message": 2,  # the customer's two messages
        "customer_history": 1,
        "reserve_agent": 1,
    }
    assert not DECISIONS & set(_regular(history))


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
    assert _local(history)["assess_message"] == 1  # the failed local attempts: one marker
    assert _regular(history)["assess_message"] == 1
