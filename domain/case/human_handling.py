"""HUMAN_HANDLING: SLA warnings and breaches, the customer going quiet, the resolution."""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.case.approval import BY_TIMER
from domain.case.base import CaseBase, CaseRuleViolation
from domain.models import Deadline, FollowUp, Notification, Outcome, Resolution, ResolveRequest
from domain.states import ACTIVE_STATES, CaseState, Trigger
from domain.timers import DeadlineName


class HumanHandlingRules(CaseBase):
    """The rules of HUMAN_HANDLING."""

    def _resolution_clock_pauses(self) -> bool:
        return self.view.state is CaseState.HUMAN_HANDLING

    def _sla_warning(self, deadline: Deadline, now: datetime) -> list[Notification]:
        """Before a breach: the assignee and the team lead hear how much time is left."""
        v = self.view
        v.sla_warned = [*v.sla_warned, deadline.name]
        _, sla, _, _ = deadline.name.split("@", 3)
        breach = next((d for d in v.deadlines if d.name == sla), None)
        subject = f"[{v.case_id}] {deadline.summary}" + (
            f"; breach at {breach.at:%Y-%m-%d %H:%M} UTC" if breach else ""
        )
        recipients = [(v.assigned_agent, "agent"), (v.team_supervisor, "supervisor")]
        return [
            self._notification("sla_warning", r, kind, subject, {"deadline": sla})
            for r, kind in recipients
            if r
        ]

    def _sla_breached(self, deadline: Deadline, now: datetime) -> list[Notification]:
        v = self.view
        staff = self._staff()
        v.sla_breaches += 1
        self._record(Trigger.SLA_BREACHED, now, f"{deadline.summary} breached")
        out = [
            self._notification(
                "sla_breached",
                recipient,
                kind,
                f"[{v.case_id}] {deadline.summary} breached",
                {"deadline": deadline.model_dump(mode="json"), "agent": v.assigned_agent},
            )
            for recipient, kind in ((staff.supervisor, "supervisor"), (v.assigned_agent, "agent"))
            if recipient
        ]
        above = self._path().above(staff.tier)
        cause = f"{deadline.summary} breached"
        if above is not None and not self._approval_needed(above, BY_TIMER):
            return out + self._raise_tier(now, cause)
        if above is not None:
            out += self._ask_approval(above, now, cause, BY_TIMER)
        # Nobody to hand up to (yet): restart the clock and keep reminding.
        if deadline.name == DeadlineName.FIRST_RESPONSE_SLA:
            v.accepted_at = now
        else:
            v.tier_since, v.resolution_paused = now, timedelta(0)
        return out

    def _abandoned(self, deadline: Deadline, now: datetime) -> list[Notification]:
        v = self.view
        v.outcome = Outcome.ABANDONED
        cause = f"{deadline.summary}: customer did not answer"
        if v.state is CaseState.AI_HANDLING:
            self._record(Trigger.ABANDONED, now, cause)
            return []
        v.resolution = Resolution(
            by="customer_inactivity", resolution=cause, at=now, outcome=Outcome.ABANDONED
        )
        v.follow_up = FollowUp(by=v.assigned_agent)
        self._enter_follow_up(Trigger.ABANDONED, now, cause)
        return []

    def check_resolve(self, request: ResolveRequest) -> None:
        """Resolve an open case; with a human owner, only they or their supervisor may."""
        v = self.view
        self._check_text("resolution", request.resolution)
        if request.root_cause:
            self._check_root_cause(request.root_cause)
        if v.state not in ACTIVE_STATES:
            raise CaseRuleViolation(f"case is {v.state.value}; it is already resolved")
        if v.state is CaseState.HUMAN_HANDLING and request.by not in self._owners():
            raise CaseRuleViolation(
                f"case is assigned to {v.assigned_agent}; only they can resolve it"
            )

    def resolve(self, request: ResolveRequest, now: datetime) -> list[Notification]:
        """The case is solved; it enters ``FOLLOW_UP`` (and closes if documented)."""
        self.check_resolve(request)
        v = self.view
        human = v.state is CaseState.HUMAN_HANDLING
        outcome = Outcome.RESOLVED_BY_HUMAN if human else Outcome.RESOLVED_BY_AI
        v.resolution = Resolution(
            by=request.by, resolution=request.resolution, at=now, outcome=outcome
        )
        v.outcome = outcome
        v.follow_up = FollowUp(
            by=request.by,
            root_cause=request.root_cause or None,
            escalation_necessary=request.escalation_necessary,
        )
        self._enter_follow_up(Trigger.RESOLVED, now, f"resolved by {request.by}")
        if self._follow_up_complete():
            self._record(Trigger.FOLLOW_UP_DOCUMENTED, now, f"documented by {request.by}")
        return self._done([])
