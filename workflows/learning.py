"""``LearningWorkflow``: run nightly by a Temporal Schedule (``baton-learning``) or on
demand, it learns from the documented cases of the last days and proposes a new config
version; it applies it only when the request says so (``BATON_LEARNING_AUTO_APPLY``)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.learning import NOTHING_TO_LEARN, LearningActivities
    from domain.learning import LearningOutcome, LearningPeriod
    from domain.models import LearningRequest

RETRY = RetryPolicy(maximum_interval=timedelta(minutes=10), maximum_attempts=5)


@workflow.defn(name="LearningWorkflow")
class LearningWorkflow:
    """One learning run."""

    @workflow.run
    async def run(self, request: LearningRequest) -> LearningOutcome:
        """Learn from the period, store the proposal, apply it if asked to."""
        period = self._period(request)
        try:
            outcome = await workflow.execute_activity_method(
                LearningActivities.propose_learning,
                period,
                start_to_close_timeout=timedelta(hours=1),
                retry_policy=RETRY,
                summary=f"learn from the cases opened {period.label()}",
            )
        except ActivityError as err:
            cause = err.cause
            if isinstance(cause, ApplicationError) and cause.type == NOTHING_TO_LEARN:
                workflow.logger.info("nothing to learn", extra={"period": period.label()})
                return LearningOutcome(note=cause.message)
            raise
        if request.auto_apply and outcome.version is not None:
            await workflow.execute_activity_method(
                LearningActivities.apply_learning,
                outcome.version,
                start_to_close_timeout=timedelta(minutes=5),
                retry_policy=RETRY,
                summary=f"apply {outcome.version}",
            )
            outcome = outcome.model_copy(update={"applied": True})
        return outcome

    @staticmethod
    def _period(request: LearningRequest) -> LearningPeriod:
        until = (
            datetime.combine(request.until, time(), tzinfo=UTC) if request.until else workflow.now()
        )
        return LearningPeriod(since=until - timedelta(days=request.days), until=until)
