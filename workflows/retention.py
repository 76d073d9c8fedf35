"""``RetentionWorkflow``: run nightly by a Temporal Schedule (``baton-retention``),
it removes the personal data of cases closed longer ago than the retention period."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.retention import RetentionActivities
    from domain.models import PurgeReport, PurgeRequest, RetentionRequest


@workflow.defn(name="RetentionWorkflow")
class RetentionWorkflow:
    """One retention run."""

    @workflow.run
    async def run(self, request: RetentionRequest) -> PurgeReport:
        """Purge cases closed before now minus ``request.days``."""
        cutoff = workflow.now() - timedelta(days=request.days)
        return await workflow.execute_activity_method(
            RetentionActivities.purge_personal_data,
            PurgeRequest(closed_before=cutoff),
            start_to_close_timeout=timedelta(hours=1),
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=10)),
            summary=f"purge personal data of cases closed before {cutoff:%Y-%m-%d}",
        )
