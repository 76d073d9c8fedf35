"""Reading a case's event history: which activities ran, and how (for tests and the
benchmarks; operators see the same in the Web UI)."""

from __future__ import annotations

import json
from collections import Counter

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory

LOCAL_ACTIVITY_MARKER = "core_local_activity"
"""The marker name the SDK records a local activity's outcome under."""


def event_kind(event: HistoryEvent) -> str:
    """An event's kind in the words of its attributes: ``workflow_task_started``,
    ``marker_recorded``, ``timer_fired``..."""
    return str(event.WhichOneof("attributes")).removesuffix("_event_attributes")


def event_kinds(history: WorkflowHistory) -> Counter[str]:
    """How many events of each kind the history holds."""
    return Counter(event_kind(e) for e in history.events)


def regular_activities(history: WorkflowHistory) -> Counter[str]:
    """Activities scheduled on the task queue, by type."""
    return Counter(
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    )


def local_activities(history: WorkflowHistory) -> Counter[str]:
    """Local activities by type, from their markers (one per activity, success or not)."""
    kinds: Counter[str] = Counter()
    for e in history.events:
        marker = e.marker_recorded_event_attributes
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED and (
            marker.marker_name == LOCAL_ACTIVITY_MARKER
        ):
            data = json.loads(marker.details["data"].payloads[0].data)
            kinds[data["activity_type"]] += 1
    return kinds
