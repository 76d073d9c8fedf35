"""``CaseFile``: the phases' rules put together, with what belongs to no one phase:
opening a case, the deadline that came due (each handled by its phase), and
deliveries that failed for good."""

from __future__ import annotations

from datetime import datetime

from domain.case.ai_handling import AiHandlingRules
from domain.case.approval import ApprovalRules
from domain.case.base import CaseRuleViolation
from domain.case.follow_up import FollowUpRules
from domain.case.handoff import HandoffRules
from domain.case.human_handling import HumanHandlingRules
from domain.models import CaseInput, CaseView, DeliveryFailure, Notification
from domain.policy import EscalationPolicy
from domain.states import Trigger
from domain.timers import SLA_WARNING, DeadlineName


class CaseFile(AiHandlingRules, HandoffRules, HumanHandlingRules, FollowUpRules, ApprovalRules):
    """One customer case and the rules that move it, phase by phase
    (``domain/case/<phase>.py``)."""

    @classmethod
    def open(cls, case: CaseInput, policy: EscalationPolicy, now: datetime) -> CaseFile:
        """Open a new case in ``AI_HANDLING``; raises :class:`CaseRuleViolation` on bad input."""
        limit = policy.limits.max_text_field_chars
        if len(case.subject) > limit:
            raise CaseRuleViolation(f"subject is longer than {limit} characters")
        view = CaseView(
            case_id=case.case_id,
            customer=case.customer,
            channel=case.channel,
            subject=case.subject,
            policy_version=policy.version,
            opened_at=now,
            path=policy.default_path,
            ai_since=now,
        )
        file = cls(view, policy)
        file._record(
            Trigger.OPENED, now, f"{case.channel.value} case for {case.customer.tier.value}"
        )
        return file

    def deadline_due(self, name: str, now: datetime) -> list[Notification]:
        """A durable timer fired: apply the time-based escalation it stands for.

        A deadline that is no longer active (the state moved on meanwhile) is ignored.
        """
        current = next((d for d in self.view.deadlines if d.name == name), None)
        if current is None or current.at > now:
            return []
        if name.startswith(SLA_WARNING):
            return self._done(self._sla_warning(current, now))
        handler = {
            DeadlineName.AI_HANDLING_LIMIT: self._ai_limit_reached,
            DeadlineName.ACCEPT_TIMEOUT: self._offer_expired,
            DeadlineName.QUEUE_RECHECK: self._recheck_queue,
            DeadlineName.ESCALATION_CHAIN: self._continue_chain,
            DeadlineName.FIRST_RESPONSE_SLA: self._sla_breached,
            DeadlineName.RESOLUTION_SLA: self._sla_breached,
            DeadlineName.CUSTOMER_INACTIVITY: self._abandoned,
            DeadlineName.FOLLOW_UP_REMINDER: self._remind_follow_up,
            DeadlineName.FOLLOW_UP_DEADLINE: self._follow_up_expired,
            DeadlineName.APPROVAL_TIMEOUT: self._approval_timed_out,
        }[DeadlineName(name)]
        return self._done(handler(current, now))

    def notifications_failed(
        self, failures: list[DeliveryFailure], now: datetime
    ) -> list[Notification]:
        """Deliveries that retrying cannot fix: on the case, in its history, never resent."""
        v = self.view
        known = {f.key for f in v.notification_failures}
        new = [f.model_copy(update={"at": now}) for f in failures if f.key not in known]
        if not new:
            return []
        v.notification_failures = [*v.notification_failures, *new]
        if self.closed:  # closed is final: the failures stay on the view and in the outbox
            return []
        for failure in new:
            self._record(
                Trigger.NOTIFICATION_FAILED,
                now,
                f"{failure.recipient} via {failure.channel or 'no channel'}: {failure.error}",
            )
        return []
