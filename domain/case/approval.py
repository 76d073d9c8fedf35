"""Approvals: a non-urgent escalation to the management tier waits for that tier's
supervisor, who approves or denies it; the configured timeout decides if nobody
answers. The case stays at its tier, with its people, meanwhile."""

from __future__ import annotations

from datetime import datetime

from domain.case.base import CaseBase, CaseRuleViolation
from domain.models import ApprovalDecision, Deadline, Notification, PendingApproval
from domain.policy import ApprovalTimeout, TierStaff
from domain.states import WITH_A_TEAM, Trigger
from domain.timers import human_duration

BY_TIMER = "timer"
"""``asked_by`` of an escalation a breached SLA asked for."""


class ApprovalRules(CaseBase):
    """The rules of approving escalations to management."""

    def _approval_needed(self, staff: TierStaff, by: str) -> bool:
        """Going up to ``staff`` needs its supervisor's approval (unless they ask)."""
        approvals = self.policy.approvals
        if approvals is None or by == staff.supervisor:
            return False
        return approvals.needed(self.view.severity, staff.tier)

    def _ask_approval(
        self, staff: TierStaff, now: datetime, cause: str, by: str
    ) -> list[Notification]:
        """Ask ``staff``'s supervisor to approve going up; one request at a time."""
        v = self.view
        approvals = self.policy.approvals
        assert approvals is not None
        if v.pending_approval is not None:
            return []  # already asked: that answer decides
        v.pending_approval = PendingApproval(
            team=staff.team,
            supervisor=staff.supervisor,
            asked_by=by,
            cause=cause,
            asked_at=now,
            due_at=now + approvals.timeout,
        )
        v.approvals.asked += 1
        self._record(
            Trigger.APPROVAL_REQUESTED,
            now,
            f"escalation to {staff.team} waits for {staff.supervisor}'s approval: {cause}",
        )
        subject = (
            f"[{v.case_id}] Approve the escalation to {staff.team}? ({v.path}, {v.severity.value})"
        )
        context = {
            "cause": cause,
            "asked_by": by,
            "team": staff.team,
            "due_at": v.pending_approval.due_at.isoformat(),
            "on_timeout": approvals.on_timeout.value,
        }
        return [
            self._notification(
                "approval_requested", staff.supervisor, "supervisor", subject, context
            )
        ]

    def check_approval(self, request: ApprovalDecision) -> None:
        """Only the supervisor asked decides, while the escalation waits; a denial says why."""
        v = self.view
        pending = v.pending_approval
        if pending is None or v.state not in WITH_A_TEAM:
            raise CaseRuleViolation("no escalation of this case waits for approval")
        if request.by != pending.supervisor:
            raise CaseRuleViolation(
                f"the escalation waits for {pending.supervisor}'s approval, not the caller's"
            )
        if not request.approve and not request.reason.strip():
            raise CaseRuleViolation("a denial needs a reason")
        if request.reason:
            self._check_text("reason", request.reason)

    def decide_approval(self, request: ApprovalDecision, now: datetime) -> list[Notification]:
        """The supervisor's answer: up to management at once, or the case stays."""
        self.check_approval(request)
        pending = self.view.pending_approval
        assert pending is not None
        self.view.pending_approval = None
        why = f": {request.reason}" if request.reason else ""
        if request.approve:
            self.view.approvals.granted += 1
            self._record(Trigger.APPROVAL_GRANTED, now, f"approved by {request.by}{why}")
            return self._done(
                self._approval_decided(pending, "granted", why)
                + self._raise_tier(now, f"{pending.cause} (approved by {request.by})")
            )
        self.view.approvals.denied += 1
        self._record(Trigger.APPROVAL_DENIED, now, f"denied by {request.by}{why}")
        return self._done(self._approval_decided(pending, "denied", why))

    def _approval_timed_out(self, deadline: Deadline, now: datetime) -> list[Notification]:
        pending = self.view.pending_approval
        approvals = self.policy.approvals
        assert pending is not None and approvals is not None
        self.view.pending_approval = None
        go = approvals.on_timeout is ApprovalTimeout.ESCALATE
        waited = human_duration(pending.due_at - pending.asked_at)
        outcome = "the case goes up" if go else "the case stays"
        cause = f"{pending.supervisor} did not answer within {waited}: {outcome}"
        self.view.approvals.timed_out += 1
        self._record(Trigger.APPROVAL_TIMED_OUT, now, cause)
        out = self._approval_decided(pending, "timed_out", "")
        if go:
            out += self._raise_tier(now, f"{pending.cause} (approval timed out)")
        return out

    def _withdraw_approval(self, now: datetime, why: str) -> None:
        """The case moved on (another tier, resolved): the question is moot."""
        if self.view.pending_approval is None:
            return
        self.view.pending_approval = None
        self.view.approvals.withdrawn += 1
        self._record(Trigger.APPROVAL_WITHDRAWN, now, why)

    def _approval_decided(
        self, pending: PendingApproval, outcome: str, why: str
    ) -> list[Notification]:
        """The case's current owners hear how the request ended."""
        v = self.view
        subject = f"[{v.case_id}] Escalation to {pending.team}: {outcome.replace('_', ' ')}{why}"
        context = {"outcome": outcome, "team": pending.team, "by": pending.supervisor}
        recipients = [(self._staff().supervisor, "supervisor")]
        if v.assigned_agent:
            recipients.append((v.assigned_agent, "agent"))
        return [
            self._notification("approval_decided", who, kind, subject, context)
            for who, kind in recipients
        ]
