"""AI_HANDLING: each message is recorded and assessed; a reason consults an expert or
hands the case over."""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.case.base import CaseBase, CaseRuleViolation
from domain.detection import (
    DetectionContext,
    PriorTurn,
    demands_handoff_now,
    hit,
    max_severity,
    strongest,
)
from domain.models import (
    Assessment,
    AssessmentRecord,
    Author,
    ConsultAnswer,
    Deadline,
    ExpertInput,
    IncomingMessage,
    Notification,
    ReasonHit,
)
from domain.policy import CoreReason
from domain.states import ACTIVE_STATES, CaseState, EscalationLevel, Trigger
from domain.timers import sla_calendar


class AiHandlingRules(CaseBase):
    """The rules of AI_HANDLING."""

    def check_message(self, message: IncomingMessage) -> None:
        """Reject a message the case cannot take."""
        if self.closed:
            raise CaseRuleViolation("case is closed; start a new case")
        limit = self.policy.limits.max_message_chars
        if len(message.text) > limit:
            raise CaseRuleViolation(f"text is longer than {limit} characters")

    def detection_context(self, now: datetime) -> DetectionContext:
        """What the detector needs besides the message: the customer's recent turns (the
        policy's window, so the cost per message stays flat), the turn count, and the
        conversation's time (the AI's clock, paused while we wait on the customer)."""
        v = self.view
        window = self.policy.detection.sentiment.window
        customer_turns = [m for m in v.recent_messages if m.author is Author.CUSTOMER]
        return DetectionContext(
            language=v.customer.language,
            customer_tier=v.customer.tier,
            first_customer_message=v.customer_messages == 0,
            prior_turns=[
                PriorTurn(text=m.text, sentiment=m.sentiment) for m in customer_turns[-window:]
            ],
            turns=v.message_count,
            elapsed=self._conversation_time(now),
        )

    def _conversation_time(self, now: datetime) -> timedelta:
        # Time the customer spent waiting on us; their own pauses do not make it long.
        v = self.view
        running = v.awaiting_customer_since is None and v.state is CaseState.AI_HANDLING
        return v.ai_time_used + (max(now - v.ai_since, timedelta(0)) if running else timedelta(0))

    def record_message(
        self,
        message: IncomingMessage,
        hits: list[ReasonHit],
        now: datetime,
        *,
        sentiment: float | None = None,
        risk: float | None = None,
        assessed_by: tuple[str, str | None] = ("", None),
    ) -> tuple[Assessment, list[Notification]]:
        """Take one message and what detection found in it; decide what follows.
        ``assessed_by``: the detector's policy and model versions, for the record."""
        if self.is_duplicate(message.message_id):
            return self._assessment([], duplicate=True), []
        self.check_message(message)
        self._remember(message, now, sentiment)
        if risk is not None:
            self.view.risk = risk
        out: list[Notification] = []
        self._track_turns(message.author, now)
        assessed = message.author is Author.CUSTOMER and self.view.state in ACTIVE_STATES
        if self.view.state in ACTIVE_STATES and hits:
            self._merge_reasons(hits)
            out += self._decide(hits, now)
        self._refresh_deadlines()
        assessment = self._assessment(hits)
        if assessed:
            self.new_assessments.append(
                AssessmentRecord(
                    seq=self.view.message_seq,
                    message_id=message.message_id,
                    at=now,
                    level=assessment.level,
                    severity=assessment.severity,
                    escalate=assessment.escalate,
                    risk=assessment.risk,
                    sentiment=sentiment,
                    reasons=hits,
                    policy_version=assessed_by[0] or self.view.policy_version,
                    model_version=assessed_by[1],
                )
            )
        return assessment, out

    def _track_turns(self, author: Author, now: datetime) -> None:
        """Who waits on whom: the customer inactivity clock runs after our replies."""
        v = self.view
        if author is Author.CUSTOMER:
            if v.awaiting_customer_since is not None and v.state is CaseState.AI_HANDLING:
                v.ai_since = now  # the AI's clock runs again
            if v.awaiting_customer_since is not None and self._resolution_clock_pauses():
                # The resolution clock resumes; the wait does not count against the SLA.
                calendar = sla_calendar(v, self.policy)
                waited = (
                    calendar.between(v.awaiting_customer_since, now)
                    if calendar
                    else now - v.awaiting_customer_since
                )
                v.resolution_paused += waited
            v.awaiting_customer_since = None
            return
        if v.state not in (CaseState.AI_HANDLING, CaseState.HUMAN_HANDLING):
            return
        if v.state is CaseState.AI_HANDLING and v.awaiting_customer_since is None:
            v.ai_time_used += now - v.ai_since  # pause the AI's clock
        v.awaiting_customer_since = now
        human_turn = author is Author.AGENT and v.state is CaseState.HUMAN_HANDLING
        if human_turn and v.first_response_at is None:
            v.first_response_at = now
            self._record(Trigger.FIRST_RESPONSE, now, f"first response by {v.assigned_agent}")

    def _decide(self, hits: list[ReasonHit], now: datetime) -> list[Notification]:
        v = self.view
        top = strongest(hits)
        assert top is not None
        severity = max_severity(v.severity, hits)
        raised = severity is not v.severity
        v.severity = severity
        if v.state is CaseState.AI_HANDLING:
            if demands_handoff_now(top):
                return self._hand_off(top, now, f"{top.name}: {top.evidence}")
            if top.level >= EscalationLevel.TAKEOVER:
                # Lower severities follow the timers: the AI handling limit hands it off.
                pending = v.pending_escalation
                v.pending_escalation = strongest([top] if pending is None else [top, pending])
            elif top.level is EscalationLevel.CONSULT and top.name not in v.consulted:
                return self._consult(top, now)
        elif top.level > v.level:
            return self._hand_off(top, now, f"{top.name}: {top.evidence}")
        if raised:
            self._record(Trigger.SEVERITY_RAISED, now, f"{top.name}: severity {severity.value}")
        return []

    def _consult(self, reason: ReasonHit, now: datetime) -> list[Notification]:
        v = self.view
        v.level = max(v.level, EscalationLevel.CONSULT)
        v.consulted = [*v.consulted, reason.name]
        expert = self.policy.path(reason.path).tiers[0]
        self._record(Trigger.CONSULT_REQUESTED, now, f"{reason.name}: ask {expert.team}")
        return [
            self._notification(
                "consult_requested",
                expert.team,
                "team",
                f"[{v.case_id}] The AI asks for your input: {reason.name}",
                {"reason": reason.model_dump(mode="json"), "subject": v.subject},
            )
        ]

    def check_consult_answer(self, request: ConsultAnswer) -> None:
        """Answers are for consults the AI asked for, while the case is being worked on."""
        v = self.view
        if v.state not in ACTIVE_STATES:
            raise CaseRuleViolation(f"case is {v.state.value}; it takes no expert input")
        if request.reason not in v.consulted:
            asked = ", ".join(v.consulted) or "nothing"
            known = request.reason in self.policy.reasons  # else it is the caller's word
            about = repr(request.reason) if known else "a reason the policy does not know"
            raise CaseRuleViolation(f"no consult on {about} (asked: {asked})")
        self._check_text("answer", request.answer)

    def consult_answer(self, request: ConsultAnswer, now: datetime) -> list[Notification]:
        """An expert's answer flows back into the case, for the AI and whoever takes over."""
        self.check_consult_answer(request)
        v = self.view
        entry = ExpertInput(by=request.by, reason=request.reason, answer=request.answer, at=now)
        v.expert_input = [*v.expert_input, entry]
        self._record(Trigger.CONSULT_ANSWERED, now, f"{request.by} answered on {request.reason}")
        return self._done([])

    def _ai_limit_reached(self, deadline: Deadline, now: datetime) -> list[Notification]:
        reason = self.view.pending_escalation or hit(
            self.policy, CoreReason.AI_HANDLING_LIMIT, f"not solved by the AI ({deadline.summary})"
        )
        self._merge_reasons([reason])
        return self._hand_off(reason, now, f"{deadline.summary} reached")
