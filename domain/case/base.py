"""What every phase shares: the view, the record of events, notifications, the handoff package."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from domain.models import (
    Assessment,
    AssessmentRecord,
    Author,
    CaseEvent,
    CaseSnapshot,
    CaseView,
    CustomerTier,
    Deadline,
    DirectoryOp,
    HandoffPackage,
    HandoffRecord,
    IncomingMessage,
    MessageRecord,
    Notification,
    ReasonHit,
)
from domain.policy import EscalationPath, EscalationPolicy, TierStaff
from domain.states import CaseState, EscalationLevel, Tier, Trigger
from domain.states import next_state as table_next_state
from domain.summary import ExtractiveSummarizer, Summarizer
from domain.timers import case_deadlines


class CaseRuleViolation(ValueError):
    """A request the case's current state does not allow; nothing was changed."""


class CaseBase:
    """A case's view and policy, and what every phase of its rules shares."""

    def __init__(
        self,
        view: CaseView,
        policy: EscalationPolicy,
        seen_message_ids: Iterable[str] = (),
    ) -> None:
        """Wrap an existing view (a new case comes from :meth:`open`)."""
        self.view = view
        self.policy = policy
        self._seen = deque(seen_message_ids, maxlen=policy.limits.dedupe_window)
        self._seen_set = set(self._seen)
        self.new_events: list[CaseEvent] = []
        self.new_messages: list[MessageRecord] = []
        self.new_assessments: list[AssessmentRecord] = []
        self.new_handoffs: list[HandoffRecord] = []
        self.directory_ops: list[DirectoryOp] = []
        """Reservation changes for the workflow to apply through the routing activity."""
        self._refresh_deadlines()

    @property
    def revision(self) -> int:
        """Grows with every change; documentation writes only newer revisions."""
        return self.view.history_seq + self.view.message_seq

    @property
    def closed(self) -> bool:
        """Whether the case has reached ``CLOSED``."""
        return self.view.state is CaseState.CLOSED

    @property
    def seen_message_ids(self) -> list[str]:
        """The recent message ids, kept for duplicate detection across runs."""
        return list(self._seen)

    def next_deadline(self) -> Deadline | None:
        """The nearest active deadline, if any."""
        return self.view.deadlines[0] if self.view.deadlines else None

    def search_attributes(self) -> dict[str, Any]:
        """Values of the case's custom search attributes."""
        v = self.view
        return {
            "CaseState": v.state.value,
            "EscalationLevel": int(v.level),
            "Severity": v.severity.value,
            "AssignedTeam": v.assigned_team or "",
            "CustomerTier": v.customer.tier.value,
            "EscalationReasons": sorted({r.name for r in v.reasons}),
            "SlaBreaches": v.sla_breaches,
        }

    def is_duplicate(self, message_id: str) -> bool:
        """Whether a message with this id was already recorded."""
        return message_id in self._seen_set

    def _record(
        self, trigger: Trigger, now: datetime, cause: str, reason: str | None = None
    ) -> CaseEvent:
        """Apply ``trigger`` through the transition table and append it to the history."""
        v = self.view
        to_state = table_next_state(v.state, trigger) if trigger is not Trigger.OPENED else v.state
        v.history_seq += 1
        event = CaseEvent(
            seq=v.history_seq,
            at=now,
            trigger=trigger,
            from_state=v.state,
            to_state=to_state,
            level=v.level,
            severity=v.severity,
            tier=v.tier,
            team=v.assigned_team,
            agent=v.assigned_agent or v.offered_to,
            cause=cause,
            reason=reason,
        )
        v.state = to_state
        v.history = [*v.history, event][-self.policy.limits.history_kept :]
        self.new_events.append(event)
        return event

    def _remember(
        self, message: IncomingMessage, now: datetime, sentiment: float | None = None
    ) -> None:
        v = self.view
        v.message_seq += 1
        v.message_count += 1
        if message.author is Author.CUSTOMER:
            v.customer_messages += 1
        record = MessageRecord(
            seq=v.message_seq, at=now, sentiment=sentiment, **message.model_dump()
        )
        v.recent_messages = [*v.recent_messages, record][-self.policy.limits.recent_messages :]
        self.new_messages.append(record)
        if len(self._seen) == self._seen.maxlen:
            self._seen_set.discard(self._seen[0])  # about to fall out of the window
        self._seen.append(message.message_id)
        self._seen_set.add(message.message_id)

    def _done(self, notifications: list[Notification]) -> list[Notification]:
        self._refresh_deadlines()
        return notifications

    def _refresh_deadlines(self) -> None:
        self.view.deadlines = case_deadlines(self.view, self.policy)

    def _path(self) -> EscalationPath:
        return self.policy.path(self.view.path)

    def _staff(self) -> TierStaff:
        tier = self.view.tier or Tier.FRONTLINE
        path = self.policy.path(self.view.path)
        return path.staff(tier) or path.start_staff(tier)

    def _owners(self) -> set[str]:
        owners = {self._staff().supervisor}
        if self.view.assigned_agent:
            owners.add(self.view.assigned_agent)
        return owners

    def _check_text(self, field: str, value: str) -> None:
        limit = self.policy.limits.max_text_field_chars
        if len(value) > limit:
            raise CaseRuleViolation(f"{field} is longer than {limit} characters")

    def _check_root_cause(self, root_cause: str) -> None:
        taxonomy = self.policy.follow_up.root_causes
        if taxonomy and root_cause not in taxonomy:
            raise CaseRuleViolation(
                f"root_cause must be one of the configured root causes: {', '.join(taxonomy)}"
            )

    def _merge_reasons(self, hits: list[ReasonHit]) -> None:
        merged = {r.name: r for r in self.view.reasons}
        merged.update({h.name: h for h in hits})
        self.view.reasons = list(merged.values())

    def _assessment(self, hits: list[ReasonHit], duplicate: bool = False) -> Assessment:
        v = self.view
        return Assessment(
            state=v.state,
            level=v.level,
            severity=v.severity,
            escalate=v.level >= EscalationLevel.TAKEOVER,
            reasons=hits,
            risk=v.risk,
            duplicate=duplicate,
        )

    def _handoff_package(self) -> HandoffPackage:
        v = self.view
        assert v.tier is not None
        ai_steps = [m.text for m in v.recent_messages if m.author is Author.AI][-5:]
        return HandoffPackage(
            subject=v.subject,
            customer=v.customer,
            channel=v.channel,
            level=v.level,
            severity=v.severity,
            path=v.path,
            tier=v.tier,
            reasons=v.reasons,
            # A reason from a newer detector than the case's policy still shows, by name.
            help_needed=[self._reason_description(r.name) for r in v.reasons],
            ai_steps=ai_steps,
            transcript=v.recent_messages,
            deadlines=case_deadlines(v, self.policy),
            summary=SUMMARIZER.summarize(v.recent_messages, [r.evidence for r in v.reasons]),
            risk=v.risk,
            impact=self._impact(),
            expert_input=v.expert_input,
            earlier_cases=v.earlier_cases or [],
        )

    def _impact(self) -> str:
        """What is at stake, in one line for the human taking over."""
        v = self.view
        parts = [f"severity {v.severity.value}", f"risk {v.risk:.0%}"]
        if v.customer.tier is CustomerTier.VIP:
            parts.append("VIP customer")
        amounts = [m.amount for m in v.recent_messages if m.amount is not None]
        if amounts:
            parts.append(f"amount {max(amounts):,.2f}")
        if v.sla_breaches:
            parts.append(f"{v.sla_breaches} SLA breach(es) so far")
        if v.transfers:
            parts.append(f"{v.transfers} transfer(s) so far")
        return ", ".join(parts)

    def _reason_description(self, name: str) -> str:
        rule = self.policy.reasons.get(name)
        return rule.description if rule and rule.description else name

    def _team_notice(self, staff: TierStaff, cause: str) -> Notification:
        v = self.view
        return self._notification(
            "case_escalated",
            staff.team,
            "team",
            f"[{v.case_id}] Escalated to {staff.team} ({staff.tier.value}, level {int(v.level)})",
            {"cause": cause, "severity": v.severity.value, "path": v.path},
        )

    def _notification(
        self,
        event: str,
        recipient: str,
        kind: str,
        subject: str,
        context: dict[str, Any],
        channel: str = "default",
    ) -> Notification:
        v = self.view
        return Notification(
            # Deterministic and attempt-independent: the history seq names the cause.
            key=f"{v.case_id}/{v.history_seq}/{event}/{recipient}",
            case_id=v.case_id,
            event=event,
            recipient=recipient,
            recipient_kind=kind,
            channel=channel,
            language=v.customer.language,
            subject=subject,
            body=subject,
            context=context,
            case=self.snapshot(),
        )

    def snapshot(self) -> CaseSnapshot:
        """The case as notifications describe it."""
        v = self.view
        return CaseSnapshot(
            case_id=v.case_id,
            subject=v.subject,
            customer_id=v.customer.id,
            customer_name=v.customer.name,
            customer_tier=v.customer.tier,
            customer_email=v.customer.email,
            language=v.customer.language,
            channel=v.channel,
            state=v.state,
            level=v.level,
            severity=v.severity,
            path=v.path,
            tier=v.tier,
            team=v.assigned_team,
            agent=v.assigned_agent,
            offered_to=v.offered_to,
            reasons=sorted({r.name for r in v.reasons}),
        )

    # What one phase asks of another (each defined by that phase's rules).
    def _enter_follow_up(self, trigger: Trigger, now: datetime, cause: str) -> None:
        """Defined by ``domain.case.follow_up``."""
        raise NotImplementedError

    def _follow_up_complete(self) -> bool:
        """Defined by ``domain.case.follow_up``."""
        raise NotImplementedError

    def _hand_off(self, reason: ReasonHit, now: datetime, cause: str) -> list[Notification]:
        """Defined by ``domain.case.handoff``."""
        raise NotImplementedError

    def _raise_tier(self, now: datetime, cause: str) -> list[Notification]:
        """Defined by ``domain.case.handoff``."""
        raise NotImplementedError

    def _resolution_clock_pauses(self) -> bool:
        """Defined by ``domain.case.human_handling``."""
        raise NotImplementedError

    def _approval_needed(self, staff: TierStaff, by: str) -> bool:
        """Defined by ``domain.case.approval``."""
        raise NotImplementedError

    def _ask_approval(
        self, staff: TierStaff, now: datetime, cause: str, by: str
    ) -> list[Notification]:
        """Defined by ``domain.case.approval``."""
        raise NotImplementedError

    def _withdraw_approval(self, now: datetime, why: str) -> None:
        """Defined by ``domain.case.approval``."""
        raise NotImplementedError


SUMMARIZER: Summarizer = ExtractiveSummarizer()
"""How handoff packages summarise the conversation (swap in an LLM-backed one here)."""


def path_name(policy: EscalationPolicy, name: str) -> str:
    """The configured path name, or the default path if ``name`` is unknown."""
    return name if name in policy.paths else policy.default_path
