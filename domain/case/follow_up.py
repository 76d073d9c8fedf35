"""FOLLOW_UP: the resolver documents root cause and verdict; reminders, then the case closes."""

from __future__ import annotations

from datetime import datetime

from domain.case.base import CaseBase, CaseRuleViolation
from domain.models import Deadline, DirectoryOp, FollowUp, FollowUpRequest, Notification, Outcome
from domain.states import CaseState, Trigger


class FollowUpRules(CaseBase):
    """The rules of FOLLOW_UP."""

    def _enter_follow_up(self, trigger: Trigger, now: datetime, cause: str) -> None:
        v = self.view
        self._withdraw_approval(now, "the case was resolved meanwhile")
        v.offered_to = None
        v.follow_up_since = now
        v.awaiting_customer_since = None
        if v.handoff_at is not None:
            self.directory_ops.append(DirectoryOp(kind="release"))  # however the case ends
            v.route_needed, v.queued_since, v.queue_recheck_at = False, None, None
            v.queue_position = None
            if v.outcome is Outcome.RESOLVED_BY_HUMAN and v.assigned_agent and v.accepted_at:
                # The agent's record on this path feeds best-performance routing.
                minutes = (now - v.accepted_at).total_seconds() / 60
                self.directory_ops.append(
                    DirectoryOp(
                        kind="performance", agent=v.assigned_agent, path=v.path, minutes=minutes
                    )
                )
        self._record(trigger, now, cause)

    def _follow_up_complete(self) -> bool:
        return not self._missing_follow_up()

    def _missing_follow_up(self) -> list[str]:
        f = self.view.follow_up or FollowUp()
        missing = [] if f.root_cause else ["root_cause"]
        if self.view.handoff_at is not None and f.escalation_necessary is None:
            missing.append("escalation_necessary")
        return missing

    def check_follow_up(self, request: FollowUpRequest) -> None:
        """Follow-up documentation is taken in ``FOLLOW_UP`` only, complete."""
        v = self.view
        self._check_text("root_cause", request.root_cause)
        self._check_root_cause(request.root_cause)
        self._check_text("lesson", request.lesson)
        if v.state is not CaseState.FOLLOW_UP:
            raise CaseRuleViolation(f"case is {v.state.value}, not in FOLLOW_UP")
        if v.handoff_at is not None and request.escalation_necessary is None:
            raise CaseRuleViolation(
                "escalation_necessary is required: this case was escalated to a human"
            )

    def complete_follow_up(self, request: FollowUpRequest, now: datetime) -> list[Notification]:
        """The resolver documents root cause and verdict; the case closes."""
        self.check_follow_up(request)
        self.view.follow_up = FollowUp(
            by=request.by,
            root_cause=request.root_cause,
            escalation_necessary=request.escalation_necessary,
            timing=request.timing,
            lesson=request.lesson,
        )
        self._record(Trigger.FOLLOW_UP_DOCUMENTED, now, f"documented by {request.by}")
        return self._done([])

    def _remind_follow_up(self, deadline: Deadline, now: datetime) -> list[Notification]:
        v = self.view
        v.follow_up_reminded = True
        self._record(Trigger.FOLLOW_UP_REMINDED, now, deadline.summary)
        owner = (v.follow_up.by if v.follow_up else None) or v.assigned_agent
        if owner is None:
            return []
        return [
            self._notification(
                "follow_up_reminder",
                owner,
                "agent",
                f"[{v.case_id}] Please document the follow-up",
                {"missing": self._missing_follow_up()},
            )
        ]

    def _follow_up_expired(self, deadline: Deadline, now: datetime) -> list[Notification]:
        v = self.view
        v.follow_up = (v.follow_up or FollowUp()).model_copy(
            update={"missing": self._missing_follow_up()}
        )
        self._record(Trigger.FOLLOW_UP_EXPIRED, now, f"{deadline.summary} passed")
        return []
