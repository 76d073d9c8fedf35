"""Temporal Schedules the worker keeps in place: nightly retention and learning.

Created when missing and updated when the settings changed, so restarting the worker
with another ``BATON_RETENTION_*`` or ``BATON_LEARNING_*`` setting takes effect.
Operators see, pause or trigger them in the Web UI (Schedules) or with
``temporal schedule trigger --schedule-id baton-retention`` (or ``baton-learning``).
"""

from __future__ import annotations

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleHandle,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from domain.models import LearningRequest, RetentionRequest
from workflows.learning import LearningWorkflow
from workflows.retention import RetentionWorkflow

RETENTION_SCHEDULE = "baton-retention"
LEARNING_SCHEDULE = "baton-learning"


async def ensure_retention_schedule(
    client: Client, task_queue: str, days: int, cron: str, schedule_id: str = RETENTION_SCHEDULE
) -> ScheduleHandle:
    """Create or update the retention schedule: ``cron`` (UTC), keeping ``days``."""
    action = ScheduleActionStartWorkflow(
        RetentionWorkflow.run, RetentionRequest(days=days), id=schedule_id, task_queue=task_queue
    )
    return await _ensure(client, schedule_id, action, cron)


async def ensure_learning_schedule(
    client: Client,
    task_queue: str,
    request: LearningRequest,
    cron: str,
    schedule_id: str = LEARNING_SCHEDULE,
) -> ScheduleHandle:
    """Create or update the learning schedule: ``cron`` (UTC), learning as ``request`` says."""
    action = ScheduleActionStartWorkflow(
        LearningWorkflow.run, request, id=schedule_id, task_queue=task_queue
    )
    return await _ensure(client, schedule_id, action, cron)


async def _ensure(
    client: Client, schedule_id: str, action: ScheduleActionStartWorkflow, cron: str
) -> ScheduleHandle:
    schedule = Schedule(action=action, spec=ScheduleSpec(cron_expressions=[cron]))
    try:
        return await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:
        handle = client.get_schedule_handle(schedule_id)

        def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await handle.update(replace)
        return handle
