"""Messages in the conversation: the ``post_message`` update, the durable ``message``
signal and its queue, and the assessment of each customer message."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.detection import DetectionActivities, DetectionResult
    from domain.case import CaseRuleViolation
    from domain.detection import DetectionRequest
    from domain.models import Assessment, Author, IncomingMessage, Notification
    from domain.states import ACTIVE_STATES

from workflows.case.base import CaseWorkflowBase, _rejected


class CaseMessages(CaseWorkflowBase):
    """Messages in the conversation of a case (mixed into ``CaseWorkflow``)."""

    @workflow.update(name="post_message")
    async def post_message(self, message: IncomingMessage) -> Assessment:
        """A message in the conversation; answers at once with the case's assessment."""
        try:
            await self._after_earlier_signals()
            return await self._take_message(message)
        except CaseRuleViolation as err:
            raise _rejected(err) from None

    @post_message.validator
    def _check_post_message(self, message: IncomingMessage) -> None:
        self._check(lambda file: file.check_message(message))

    @workflow.signal(name="message")
    def message(self, message: IncomingMessage) -> None:
        """The durable fire-and-forget path for messages (same payload as ``post_message``).

        Signals only queue the message; :meth:`_take_inbox` works through the queue in
        order. So a steady stream never keeps a handler open, and a long case can
        continue as new at any time, carrying the queue over.
        """
        self._inbox.append(message)
        self._queued += 1

    async def _take_inbox(self) -> None:
        while True:
            await workflow.wait_condition(lambda: bool(self._inbox))
            message = self._inbox[0]
            try:
                await self._take_message(message)
            except CaseRuleViolation as err:
                # Texts are personal data: log the id and the rule, never the text.
                workflow.logger.warning(
                    "message %s dropped: %s",
                    message.message_id,
                    err,
                    extra={"case": self._case_id()},
                )
            # Taken (recorded or refused) in the same step as it leaves the queue, so a
            # continue-as-new in between carries it exactly once.
            self._inbox.pop(0)
            self._taken += 1

    async def _after_earlier_signals(self) -> None:
        """Updates wait for the messages signalled before them: arrival order holds."""
        ticket = self._queued
        await workflow.wait_condition(lambda: self._taken >= ticket)

    async def _take_message(self, message: IncomingMessage) -> Assessment:
        """Assess and record one message; raises :class:`CaseRuleViolation` if refused."""
        await workflow.wait_condition(lambda: self._file is not None)
        async with self._messages:  # one message at a time, in arrival order
            self._messages_this_run += 1
            file = self._case
            if not file.is_duplicate(message.message_id):
                file.check_message(message)
            verdict = None
            if message.author is Author.CUSTOMER and file.view.state in ACTIVE_STATES:
                try:
                    verdict = await self._assess(message)
                except ActivityError as err:
                    raise CaseRuleViolation(f"message could not be assessed: {err.cause}") from None
            answer: list[Assessment] = []

            def record(now: datetime) -> list[Notification]:
                assessment, notifications = file.record_message(
                    message,
                    verdict.hits if verdict else [],
                    now,
                    sentiment=verdict.sentiment if verdict else None,
                    risk=verdict.risk if verdict else None,
                    assessed_by=(verdict.policy_version, verdict.model_version)
                    if verdict
                    else ("", None),
                )
                answer.append(assessment)
                return notifications

            self._apply(record)
            await self._routed()
            return answer[0].model_copy(update={"state": self._case.view.state})

    async def _assess(self, message: IncomingMessage) -> DetectionResult:
        request = DetectionRequest(
            message=message, context=self._case.detection_context(workflow.now())
        )
        attempts = self._case.policy.activities.detection_attempts
        verdict: DetectionResult = await self._locally_first(
            DetectionActivities.assess_message,
            request,
            # Detection is pure: retrying cannot fix a failure for long.
            RetryPolicy(maximum_attempts=attempts),
            f"assess message {message.message_id}",
        )
        return verdict
