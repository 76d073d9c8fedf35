"""The case state machine: states, the escalation matrix and the one transition table."""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum, StrEnum


class CaseState(StrEnum):
    """Where a customer case stands; the main axis of the state machine."""

    AI_HANDLING = "AI_HANDLING"
    HANDOFF = "HANDOFF"
    HUMAN_HANDLING = "HUMAN_HANDLING"
    FOLLOW_UP = "FOLLOW_UP"
    CLOSED = "CLOSED"


class EscalationLevel(IntEnum):
    """The escalation matrix: how much of the case a human owns."""

    AI_ONLY = 0
    """The AI acts alone."""
    CONSULT = 1
    """The AI asks a human for input but stays the customer's contact."""
    TAKEOVER = 2
    """A human takes over, supported by the AI."""
    FULL_TAKEOVER = 3
    """A specialised human team takes over completely."""


class Severity(StrEnum):
    """How urgent a case is; drives the timers and immediate escalation."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Order of urgency, low = 0 ... critical = 3."""
        return _SEVERITY_ORDER.index(self)


_SEVERITY_ORDER = (Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL)


class Tier(StrEnum):
    """Human tiers along an escalation path."""

    FRONTLINE = "frontline"
    SPECIALIST = "specialist"
    MANAGEMENT = "management"

    @property
    def rank(self) -> int:
        """Order along the path, frontline = 0 ... management = 2."""
        return _TIER_ORDER.index(self)


_TIER_ORDER = (Tier.FRONTLINE, Tier.SPECIALIST, Tier.MANAGEMENT)


class Trigger(StrEnum):
    """What happened to a case: every entry in its history names one."""

    OPENED = "opened"
    CONSULT_REQUESTED = "consult_requested"
    CONSULT_ANSWERED = "consult_answered"
    SEVERITY_RAISED = "severity_raised"
    ESCALATED = "escalated"
    OFFERED = "offered"
    OFFER_EXPIRED = "offer_expired"
    OFFER_DECLINED = "offer_declined"
    QUEUED = "queued"
    CHAIN_STEP = "chain_step"
    NOBODY_ACCEPTED = "nobody_accepted"
    ACCEPTED = "accepted"
    FIRST_RESPONSE = "first_response"
    SLA_BREACHED = "sla_breached"
    RESOLVED = "resolved"
    ABANDONED = "abandoned"
    FOLLOW_UP_REMINDED = "follow_up_reminded"
    FOLLOW_UP_DOCUMENTED = "follow_up_documented"
    FOLLOW_UP_EXPIRED = "follow_up_expired"
    NOTIFICATION_FAILED = "notification_failed"
    APPROVAL_REQUESTED = "approval_requested"
    APPROVAL_GRANTED = "approval_granted"
    APPROVAL_DENIED = "approval_denied"
    APPROVAL_TIMED_OUT = "approval_timed_out"
    APPROVAL_WITHDRAWN = "approval_withdrawn"
    REASSIGNED = "reassigned"
    REASSIGN_FAILED = "reassign_failed"


_AI = CaseState.AI_HANDLING
_HANDOFF = CaseState.HANDOFF
_HUMAN = CaseState.HUMAN_HANDLING
_FOLLOW_UP = CaseState.FOLLOW_UP
_CLOSED = CaseState.CLOSED

TRANSITIONS: Mapping[tuple[CaseState, Trigger], CaseState] = {
    (_AI, Trigger.CONSULT_REQUESTED): _AI,
    (_AI, Trigger.CONSULT_ANSWERED): _AI,
    (_HANDOFF, Trigger.CONSULT_ANSWERED): _HANDOFF,
    (_HUMAN, Trigger.CONSULT_ANSWERED): _HUMAN,
    (_AI, Trigger.SEVERITY_RAISED): _AI,
    (_AI, Trigger.ESCALATED): _HANDOFF,
    (_AI, Trigger.RESOLVED): _FOLLOW_UP,
    (_AI, Trigger.ABANDONED): _CLOSED,
    (_HANDOFF, Trigger.SEVERITY_RAISED): _HANDOFF,
    (_HANDOFF, Trigger.ESCALATED): _HANDOFF,
    (_HANDOFF, Trigger.OFFERED): _HANDOFF,
    (_HANDOFF, Trigger.OFFER_EXPIRED): _HANDOFF,
    (_HANDOFF, Trigger.OFFER_DECLINED): _HANDOFF,
    (_HANDOFF, Trigger.QUEUED): _HANDOFF,
    (_HANDOFF, Trigger.CHAIN_STEP): _HANDOFF,
    (_HANDOFF, Trigger.NOBODY_ACCEPTED): _HANDOFF,
    (_HANDOFF, Trigger.ACCEPTED): _HUMAN,
    (_HANDOFF, Trigger.RESOLVED): _FOLLOW_UP,
    (_HUMAN, Trigger.SEVERITY_RAISED): _HUMAN,
    (_HUMAN, Trigger.FIRST_RESPONSE): _HUMAN,
    (_HUMAN, Trigger.SLA_BREACHED): _HUMAN,
    (_HUMAN, Trigger.ESCALATED): _HANDOFF,
    # A supervisor's choice of agent: offered to them (or, if they cannot, routed as usual).
    (_HANDOFF, Trigger.REASSIGNED): _HANDOFF,
    (_HUMAN, Trigger.REASSIGNED): _HANDOFF,
    (_HANDOFF, Trigger.REASSIGN_FAILED): _HANDOFF,
    (_HUMAN, Trigger.RESOLVED): _FOLLOW_UP,
    (_HUMAN, Trigger.ABANDONED): _FOLLOW_UP,
    (_FOLLOW_UP, Trigger.FOLLOW_UP_REMINDED): _FOLLOW_UP,
    (_FOLLOW_UP, Trigger.FOLLOW_UP_DOCUMENTED): _CLOSED,
    (_FOLLOW_UP, Trigger.FOLLOW_UP_EXPIRED): _CLOSED,
    # An escalation to management waits for approval while the case stays where it is.
    **{
        (s, t): s
        for s in (_HANDOFF, _HUMAN)
        for t in (
            Trigger.APPROVAL_REQUESTED,
            Trigger.APPROVAL_GRANTED,
            Trigger.APPROVAL_DENIED,
            Trigger.APPROVAL_TIMED_OUT,
            Trigger.APPROVAL_WITHDRAWN,
        )
    },
    # A notification that cannot be delivered is on record while the case is open.
    **{(s, Trigger.NOTIFICATION_FAILED): s for s in CaseState if s is not CaseState.CLOSED},
}
"""The state machine, declared once: (state, trigger) -> next state.

A pair missing from the table is an illegal transition: a bug, raised as
:class:`IllegalTransition` (never silently ignored).
"""


class IllegalTransition(RuntimeError):
    """A transition the table does not allow was attempted: a programming error."""


def next_state(state: CaseState, trigger: Trigger) -> CaseState:
    """Return the state that ``trigger`` leads to from ``state``, or raise."""
    try:
        return TRANSITIONS[(state, trigger)]
    except KeyError:
        raise IllegalTransition(f"{trigger.value} is not allowed in {state.value}") from None


def allows(state: CaseState, trigger: Trigger) -> bool:
    """Whether ``trigger`` may happen in ``state``."""
    return (state, trigger) in TRANSITIONS


ACTIVE_STATES = frozenset({_AI, _HANDOFF, _HUMAN})
"""States in which the case is still being worked on (before the resolution)."""
WITH_A_TEAM = frozenset({_HANDOFF, _HUMAN})
"""States in which a case is with a team of people (offered, queued or taken)."""
