"""Temporal Schedules the worker keeps in place: nightly retention.

Created when missing and updated when the settings changed, so restarting the worker
with another ``BATON_RETENTION_DAYS`` or ``BATON_RETENTION_CRON`` takes effect.
Operators see, pause or trigger it in the Web UI (Schedules) or with
``temporal schedule trigger --schedule-id baton-retention``.
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

from domain.models import RetentionRequest
from workflows.retention import RetentionWorkflow

RETENTION_SCHEDULE = "baton-retention"


async def ensure_retention_schedule(
    client: Client, task_queue: str, days: int, cron: str, schedule_id: str = RETENTION_SCHEDULE
) -> ScheduleHandle:
    """Create or update the retention schedule: ``cron`` (UTC), keeping ``days``."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(
            RetentionWorkflow.run,
            RetentionRequest(days=days),
            id=schedule_id,
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(cron_expressions=[cron]),
    )
    try:
        return await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:
        handle = client.get_schedule_handle(schedule_id)

        def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await handle.update(replace)
        return handle
