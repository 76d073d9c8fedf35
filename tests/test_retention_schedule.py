"""The nightly retention schedule on the real dev server: created once, updated on a
restart with new settings, and a triggered run purges old closed cases."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from temporalio.client import Client, ScheduleActionExecutionStartWorkflow, ScheduleHandle

from baton.store.cases import CaseStore
from baton.temporal.schedules import ensure_retention_schedule
from domain.case import CaseFile
from domain.models import CaseRecordBatch
from tests.conftest import new_case, running_worker
from tests.test_case_rules import at, say


def _closed_case(store: CaseStore, policy: Any, closed_at: datetime) -> str:
    """A documented case that closed at ``closed_at``, with its transcript."""
    file = CaseFile.open(new_case(), policy, at(0))
    say(file, "Mein Name ist Ada, bitte rufen Sie mich an", at(1))
    store.write_case(
        CaseRecordBatch(
            revision=file.revision,
            view=file.view,
            events=list(file.new_events),
            messages=list(file.new_messages),
        )
    )
    with store.engine.begin() as conn:
        conn.execute(
            text("""UPDATE "case" SET state = 'CLOSED', closed_at = :at WHERE case_id = :id"""),
            {"at": closed_at, "id": file.view.case_id},
        )
    return file.view.case_id


async def triggered_run(client: Client, handle: ScheduleHandle) -> Any:
    """Trigger the schedule now, return its run's result, delete the schedule."""
    await handle.trigger()
    for _ in range(200):
        recent_actions = (await handle.describe()).info.recent_actions
        if recent_actions:
            break
        await asyncio.sleep(0.05)
    action = recent_actions[0].action
    assert isinstance(action, ScheduleActionExecutionStartWorkflow)
    run = client.get_workflow_handle(action.workflow_id)
    try:
        return await asyncio.wait_for(run.result(), 60)
    finally:
        await handle.delete()


async def test_the_schedule_purges_old_closed_cases(dev_env, policy, store, executor) -> None:
    now = datetime.now(UTC)
    old = _closed_case(store, policy, now - timedelta(days=40))
    recent = _closed_case(store, policy, now - timedelta(days=5))
    schedule_id = f"baton-retention-{uuid.uuid4().hex[:8]}"
    async with running_worker(dev_env.client, policy, store, executor) as worker:
        queue = worker.task_queue
        await ensure_retention_schedule(dev_env.client, queue, 365, "0 3 * * *", schedule_id)
        # A restart with other settings updates the schedule instead of failing.
        handle = await ensure_retention_schedule(
            dev_env.client, queue, 30, "15 2 * * *", schedule_id
        )
        described = await handle.describe()
        [calendar] = described.schedule.spec.calendars  # the server keeps cron as calendars
        assert (calendar.hour[0].start, calendar.minute[0].start) == (2, 15)
        report = await triggered_run(dev_env.client, handle)
    assert report["cases"] == [old]  # 40 days old: purged under the updated 30 days
    assert store.case(old).purged_at is not None and store.messages(old) == []  # type: ignore[union-attr]
    assert store.case(recent).purged_at is None and len(store.messages(recent)) == 1  # type: ignore[union-attr]
