"""The wire contract: every payload that crosses the Temporal boundary, as plain JSON.

Backend services in any language send and receive exactly these shapes; pydantic
validates them at the boundary, so a malformed payload is rejected with the field
named and never reaches the case's logic.
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from domain.calendar import BusinessCalendar
from domain.chains import ChainPosition
from domain.language import Language
from domain.policy import EscalationPolicy
from domain.states import CaseState, EscalationLevel, Severity, Tier, Trigger

CASE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty or only whitespace")
    return value


def _finite(value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


Amount = Annotated[float | None, Field(ge=0), AfterValidator(_finite)]
"""A money amount: absent, or finite and not negative."""


Text = Annotated[str, AfterValidator(_not_blank)]
Identifier = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_not_blank)]


class CustomerTier(StrEnum):
    """The customer's service tier; VIPs get shorter timers and a human sooner."""

    STANDARD = "standard"
    VIP = "vip"


class Channel(StrEnum):
    """The channel the customer writes in; the handoff answers in the same one."""

    CHAT = "chat"
    EMAIL = "email"
    PHONE = "phone"
    SOCIAL = "social"


class Author(StrEnum):
    """Who wrote a message in the conversation."""

    CUSTOMER = "customer"
    AI = "ai"
    AGENT = "agent"


class Outcome(StrEnum):
    """How the case ended."""

    RESOLVED_BY_AI = "resolved_by_ai"
    RESOLVED_BY_HUMAN = "resolved_by_human"
    ABANDONED = "abandoned"


class EscalationTiming(StrEnum):
    """Follow-up verdict on when the escalation happened."""

    ON_TIME = "on_time"
    TOO_EARLY = "too_early"
    TOO_LATE = "too_late"


class WireModel(BaseModel):
    """Base of incoming payloads: unknown fields are an error, not silently dropped.

    Validation errors name the field and the problem but never quote the input: they
    end up in logs and failures, and the input may be a customer's text.
    """

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class Customer(WireModel):
    """The customer a case belongs to."""

    id: Identifier
    name: Annotated[str, Field(max_length=200)] = ""
    tier: CustomerTier = CustomerTier.STANDARD
    language: Language = Language.EN
    email: Annotated[str, Field(max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")] | None = Field(
        default=None, exclude_if=lambda v: v is None
    )
    """Where the customer hears from us on the e-mail channel."""


class IncomingMessage(WireModel):
    """A message in the conversation (update ``post_message`` and signal ``message``)."""

    message_id: Identifier
    author: Author
    text: Text
    amount: Amount = None


class AcceptRequest(WireModel):
    """Update ``accept``: the offered agent takes the case."""

    agent_id: Identifier


class DeclineRequest(WireModel):
    """Update ``decline``: the offered agent cannot take the case; the next one is asked."""

    agent_id: Identifier
    reason: Annotated[str, Field(max_length=2000)] = ""


class ConsultAnswer(WireModel):
    """Update ``consult_answer``: an expert answers the AI's request for input (level 1)."""

    by: Identifier
    reason: Identifier
    """The reason the AI asked about (one of the case's consulted reasons)."""
    answer: Text


class ExpertInput(BaseModel):
    """An expert's answer, kept on the case for the AI and any human who takes over."""

    by: str
    reason: str
    answer: str
    at: datetime


class EscalateRequest(WireModel):
    """Update ``escalate``: a manual escalation to the next level or tier."""

    by: Identifier
    reason: Text


class ApprovalDecision(WireModel):
    """Update ``decide_approval``: the management tier's supervisor approves or denies an
    escalation that waits for them; a denial gives its reason."""

    by: Identifier
    approve: bool
    reason: Annotated[str, Field(max_length=2000)] = ""


class ReassignRequest(WireModel):
    """Update ``reassign``: a supervisor gives the case to another agent of its tier; it is
    offered to them (they accept as with any offer)."""

    by: Identifier
    agent_id: Identifier
    reason: Text


class ResolveRequest(WireModel):
    """Update ``resolve``: the case is solved (by the AI or by the human who owns it)."""

    by: Identifier
    resolution: Text
    escalation_necessary: bool | None = None
    root_cause: str | None = None


class FollowUpRequest(WireModel):
    """Update ``follow_up``: the documentation the resolver owes after the resolution."""

    by: Identifier
    root_cause: Text
    escalation_necessary: bool | None = None
    timing: EscalationTiming | None = None
    lesson: str = ""


class ReasonHit(BaseModel):
    """One detection reason that fired, with its score, evidence and consequences."""

    name: str
    score: float = 1.0
    evidence: str = ""
    threshold: float | None = None
    """The configured threshold the score was compared with (None for phrase matches)."""
    severity: Severity
    level: EscalationLevel
    path: str
    immediate: bool = False


class Assessment(BaseModel):
    """The answer to ``post_message``: where the case stands after this message."""

    state: CaseState
    level: EscalationLevel
    severity: Severity
    escalate: bool
    """True once a human owns or is about to own the case (level 2 or 3)."""
    reasons: list[ReasonHit]
    """The reasons this message triggered."""
    risk: float = 0.0
    """The predictive risk score after this message: P(the case needs a human)."""
    duplicate: bool = False
    """True if the message id was seen before; nothing was changed."""


class MessageRecord(BaseModel):
    """A message as the case keeps it."""

    seq: int
    message_id: str
    author: Author
    text: str
    amount: float | None = None
    at: datetime
    sentiment: float | None = None
    """Compound sentiment -1..1 of a customer message, as detection measured it."""


class CaseEvent(BaseModel):
    """One entry of the case's history: a transition with its cause and time."""

    seq: int
    at: datetime
    trigger: Trigger
    from_state: CaseState
    to_state: CaseState
    level: EscalationLevel
    severity: Severity
    tier: Tier | None = None
    team: str | None = None
    agent: str | None = None
    cause: str = ""
    reason: str | None = Field(default=None, exclude_if=lambda v: v is None)
    """The detection reason behind an escalation to a human (None for tier raises)."""


class Deadline(BaseModel):
    """An active timer of the case: what it waits for and when it fires."""

    name: str
    at: datetime
    summary: str


class Resolution(BaseModel):
    """How and by whom the case was solved."""

    by: str
    resolution: str
    at: datetime
    outcome: Outcome


class FollowUp(BaseModel):
    """The follow-up documentation; ``missing`` names fields never provided."""

    by: str | None = None
    root_cause: str | None = None
    escalation_necessary: bool | None = None
    timing: EscalationTiming | None = None
    lesson: str = ""
    missing: list[str] = []


class EarlierCase(BaseModel):
    """One of the customer's earlier cases, as the handoff package shows it."""

    case_id: str
    subject: str
    opened_at: datetime
    state: CaseState
    level: EscalationLevel
    outcome: str | None = None
    path: str = ""
    resolved_by: str | None = None
    """The agent who resolved it (a human resolution)."""
    resolved_at: datetime | None = None
    repeat_number: int = 0
    """How many earlier cases of the same topic it repeats (0: the first)."""


class CustomerHistoryRequest(BaseModel):
    """The customer's earlier cases a first handoff asks for (with its reservation)."""

    customer_id: str
    case_id: str
    """The case asking, left out of the answer."""
    limit: int = 5


class HandoffPackage(BaseModel):
    """Everything the human needs to start without asking the customer again."""

    subject: str
    customer: Customer
    channel: Channel
    level: EscalationLevel
    severity: Severity
    path: str
    tier: Tier
    reasons: list[ReasonHit]
    help_needed: list[str]
    ai_steps: list[str]
    transcript: list[MessageRecord]
    deadlines: list[Deadline]
    summary: str = ""
    """The customer's request in a few sentences, extracted from the transcript."""
    impact: str = ""
    """What is at stake: severity, risk, VIP, money, SLA breaches so far."""
    earlier_cases: list[EarlierCase] = []
    """The customer's most recent earlier cases. """
    expert_input: list[ExpertInput] = []
    risk: float = 0.0
    """The predictive risk score when the case was handed over."""


class DirectoryOp(BaseModel):
    """A change to the case's reservations in the directory, done by an activity."""

    kind: Literal["accept", "release", "performance", "reopen"]
    offer: int | None = None
    """The offer concerned; ``None`` releases every reservation of the case."""
    agent: str | None = None
    path: str | None = None
    minutes: float | None = None
    """``performance``: the agent resolved a case of ``path`` in this many minutes."""
    earlier_case: str | None = None
    """``reopen``: the agent's earlier resolution this case reopens."""


class DeliveryStatus(StrEnum):
    """Where one delivery (one recipient on one channel) stands in the outbox."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    """Retrying cannot help (401, 404, a malformed address): surfaced on the case."""
    SKIPPED = "skipped"
    """The channel is not connected in this installation (no host or URL configured)."""


class DeliveryFailure(BaseModel):
    """A delivery that failed for good, as the case shows it."""

    key: str
    recipient: str
    channel: str
    error: str
    at: datetime | None = None


class PendingApproval(BaseModel):
    """An escalation to the management tier waiting for its supervisor's approval."""

    team: str
    """The management team the case would go to."""
    supervisor: str
    """Who approves or denies."""
    asked_by: str
    """Who escalated: a person, or ``timer`` for an SLA breach."""
    cause: str
    asked_at: datetime
    due_at: datetime
    """When the configured ``on_timeout`` decides."""


class ApprovalTally(BaseModel):
    """How the case's requests to go up to management ended (the KPIs count them)."""

    asked: int = 0
    granted: int = 0
    denied: int = 0
    timed_out: int = 0
    withdrawn: int = 0


class CaseView(BaseModel):
    """The whole case as query ``state`` returns it (and as the workflow carries it)."""

    case_id: str
    customer: Customer
    channel: Channel
    subject: str
    policy_version: str
    opened_at: datetime
    state: CaseState = CaseState.AI_HANDLING
    level: EscalationLevel = EscalationLevel.AI_ONLY
    severity: Severity = Severity.LOW
    path: str
    tier: Tier | None = None
    assigned_team: str | None = None
    assigned_agent: str | None = None
    offered_to: str | None = None
    reasons: list[ReasonHit] = []
    deadlines: list[Deadline] = []
    history: list[CaseEvent] = []
    recent_messages: list[MessageRecord] = []
    message_count: int = 0
    customer_messages: int = 0
    handoff: HandoffPackage | None = None
    resolution: Resolution | None = None
    follow_up: FollowUp | None = None
    outcome: Outcome | None = None
    handoffs: int = 0
    """Offers made to humans (each transfer counts)."""
    transfers: int = 0
    """Moves to another tier or path after the first handoff (the KPIs count them)."""
    sla_breaches: int = 0
    # Clocks the timers are computed from (all in workflow time).
    ai_since: datetime
    """When the AI's clock last started running (the customer waiting on the AI)."""
    ai_time_used: timedelta = timedelta(0)
    """AI handling time used before ``ai_since``; the clock pauses while we wait on the customer."""
    awaiting_customer_since: datetime | None = None
    handoff_at: datetime | None = None
    offered_at: datetime | None = None
    accepted_at: datetime | None = None
    first_response_at: datetime | None = None
    tier_since: datetime | None = None
    follow_up_since: datetime | None = None
    follow_up_reminded: bool = False
    risk: float = 0.0
    """The latest predictive risk score: P(the case needs a human), 0..1."""
    route_needed: bool = False
    """The workflow must reserve an agent in the directory for offer ``offer_no``."""
    offer_no: int = 0
    reserved_offer: int = 0
    """The offer whose reservation ``offered_to`` holds."""
    broadcast_to: list[str] = []
    """Broadcast offers: everyone the case is offered to besides ``offered_to``."""
    offered_at_tier: list[str] = []
    """Agents this case was offered to at its current tier (not offered again there)."""
    team_calendar: BusinessCalendar | None = None
    """The assigned team's working hours, for the SLA clocks."""
    team_supervisor: str | None = None
    resolution_paused: timedelta = timedelta(0)
    """SLA time spent waiting on the customer at this tier (not counted)."""
    sla_warned: list[str] = []
    """Warnings already sent, as ``deadline@fraction@since``."""
    earlier_cases: list[EarlierCase] | None = None
    """The customer's earlier cases, looked up at the first handoff."""
    repeat_of: str | None = None
    """The customer's earlier case on the same path within the repeat window, if any."""
    repeat_number: int = 0
    """1 for the first repeat of a topic, 2 for the second, ... (0: not a repeat)."""
    chain: ChainPosition | None = None
    """Where the case stands in its path's escalation chain."""
    chain_wake_at: datetime | None = None
    customer_told: list[str] = []
    """Which handoff messages the customer has had ("queued", "offered")."""
    queued_since: datetime | None = None
    queue_position: int | None = None
    """Place in the line for the path and tier while nobody is free."""
    queue_recheck_at: datetime | None = None
    """Nobody could take the case: when routing tries again (next shift) at the latest."""
    pending_escalation: ReasonHit | None = None
    """A non-immediate reason that asks for a human when the AI handling limit fires."""
    consulted: list[str] = []
    expert_input: list[ExpertInput] = []
    """Answers to the AI's consult requests, oldest first."""
    reassign_to: str | None = None
    """A supervisor's choice: the next routing offers the case to this agent only."""
    pending_approval: PendingApproval | None = None
    """An escalation to management waiting for approval; the case stays at its tier."""
    approvals: ApprovalTally = ApprovalTally()
    history_seq: int = 0
    message_seq: int = 0
    notification_failures: list[DeliveryFailure] = []
    """Notifications that could not be delivered (retrying cannot help), newest last."""


class CaseInput(WireModel):
    """The start payload of ``CaseWorkflow``."""

    case_id: Annotated[str, Field(pattern=CASE_ID_PATTERN)]
    customer: Customer
    channel: Channel
    subject: Text
    carry_over: SkipJsonSchema[CarryOver | None] = Field(
        default=None, exclude_if=lambda v: v is None
    )
    """Internal: the state handed to the next run by continue-as-new. Never set by callers."""


class CaseSnapshot(BaseModel):
    """What every notification says about its case: the templates render from it and
    the delivery rules match on it (path, reasons)."""

    case_id: str
    subject: str
    customer_id: str
    customer_name: str = ""
    customer_tier: CustomerTier = CustomerTier.STANDARD
    customer_email: str | None = None
    language: Language = Language.EN
    channel: Channel = Channel.CHAT
    state: CaseState = CaseState.AI_HANDLING
    level: EscalationLevel = EscalationLevel.AI_ONLY
    severity: Severity = Severity.LOW
    path: str = ""
    tier: Tier | None = None
    team: str | None = None
    agent: str | None = None
    offered_to: str | None = None
    reasons: list[str] = []


class Notification(BaseModel):
    """One message to one recipient, idempotent by ``key``."""

    key: str
    case_id: str
    event: str
    recipient: str
    recipient_kind: str
    channel: str
    language: Language
    subject: str
    body: str
    context: dict[str, Any] = {}
    case: CaseSnapshot | None = None
    """The case at the moment of the notification (absent in histories before templates)."""


class NotificationBatch(BaseModel):
    """What one change of a case calls for: delivered by one ``deliver_notifications``."""

    notifications: list[Notification]


class DeliveryReport(BaseModel):
    """The outcome of a batch: every delivery sent, skipped or failed for good."""

    sent: list[str] = []
    skipped: list[str] = []
    failed: list[DeliveryFailure] = []


class CarryOver(BaseModel):
    """What continue-as-new hands to the next run of a long case."""

    view: CaseView
    policy: EscalationPolicy
    seen_message_ids: list[str]
    pending_notifications: list[Notification]
    undocumented_events: list[CaseEvent]
    undocumented_messages: list[MessageRecord]
    documented_revision: int
    inbox: list[IncomingMessage] = []
    """Messages signalled but not yet taken in."""
    directory_ops: list[DirectoryOp] = []
    """Reservation changes not yet applied to the directory."""
    undocumented_assessments: list[AssessmentRecord] = []
    undocumented_handoffs: list[HandoffRecord] = []


class AssessmentRecord(BaseModel):
    """Detection's verdict on one customer message, as the case record keeps it."""

    seq: int
    """The message's seq in the transcript."""
    message_id: str
    at: datetime
    level: EscalationLevel
    severity: Severity
    escalate: bool
    risk: float
    sentiment: float | None = None
    reasons: list[ReasonHit] = []
    policy_version: str
    model_version: str | None = None


class HandoffRecord(BaseModel):
    """The handoff package one offer carried, as the case record keeps it."""

    seq: int
    """The history seq of the offer."""
    at: datetime
    agent: str
    package: HandoffPackage


class CaseRecordBatch(BaseModel):
    """What ``document_case`` writes: the current view plus new history and messages."""

    revision: int
    view: CaseView
    events: list[CaseEvent]
    messages: list[MessageRecord]
    assessments: list[AssessmentRecord] = []
    handoffs: list[HandoffRecord] = []
    directory_ops: list[DirectoryOp] = []
    """The agents' reservation changes since the last batch, applied with the record."""


class RetentionRequest(WireModel):
    """Start payload of ``RetentionWorkflow``: keep personal data this many days after
    a case closed."""

    days: int = Field(ge=1, le=36500)


class LearningRequest(WireModel):
    """Start payload of ``LearningWorkflow``: learn from the cases opened in the ``days``
    before ``until`` (a UTC day, exclusive; default: the run's start)."""

    days: int = Field(default=30, ge=1, le=366)
    until: date | None = None
    auto_apply: bool = False
    """Activate the proposal at once instead of waiting for ``baton learning apply``."""


class PurgeRequest(BaseModel):
    """Activity ``purge_personal_data``: cases closed before ``closed_before``."""

    closed_before: datetime


class PurgeReport(BaseModel):
    """What a retention run purged."""

    closed_before: datetime
    cases: list[str]


CaseInput.model_rebuild()

WIRE_PAYLOADS: dict[str, type[BaseModel]] = {
    "CaseInput": CaseInput,
    "IncomingMessage": IncomingMessage,
    "AcceptRequest": AcceptRequest,
    "DeclineRequest": DeclineRequest,
    "ConsultAnswer": ConsultAnswer,
    "EscalateRequest": EscalateRequest,
    "ResolveRequest": ResolveRequest,
    "FollowUpRequest": FollowUpRequest,
    "Assessment": Assessment,
    "CaseView": CaseView,
    "RetentionRequest": RetentionRequest,
    "LearningRequest": LearningRequest,
}
"""Every payload a client sends or receives: start input, update and signal payloads,
the assessment answer and the case view (updates and the ``state`` query)."""


def wire_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of each wire payload, by name."""
    return {name: model.model_json_schema() for name, model in WIRE_PAYLOADS.items()}
