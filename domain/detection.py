"""What detection hands the case: named reasons with their consequences.

The detector itself lives in :mod:`domain.detector`; this module holds the types the
workflow exchanges with it and the rules that turn reasons into decisions (which
reason is strongest, when a handoff must happen at once).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from pydantic import BaseModel

from domain.language import Language
from domain.models import CustomerTier, IncomingMessage, ReasonHit
from domain.policy import EscalationPolicy
from domain.states import EscalationLevel, Severity


class PriorTurn(BaseModel):
    """An earlier customer turn, as the detector needs it for trends and repeats."""

    text: str
    sentiment: float | None = None


class DetectionContext(BaseModel):
    """What detection knows about the case besides the message itself."""

    language: Language
    customer_tier: CustomerTier
    first_customer_message: bool
    prior_turns: list[PriorTurn] = []
    """The customer's most recent earlier turns, oldest first (the policy's window)."""
    turns: int = 0
    """Messages in the conversation before this one, from anyone."""
    elapsed: timedelta = timedelta(0)
    """Conversation time so far: the customer waiting on us, not their own pauses."""


class DetectionRequest(BaseModel):
    """Input of the ``assess_message`` activity."""

    message: IncomingMessage
    context: DetectionContext


class Verdict(BaseModel):
    """What the detector found in one message (the ``assess_message`` activity's result)."""

    hits: list[ReasonHit]
    risk: float = 0.0
    """P(this case needs a human) from the risk model; 0 when no model is loaded."""
    sentiment: float | None = None
    """The message's compound sentiment -1..1 (None for messages not assessed)."""
    policy_version: str = ""
    model_version: str | None = None
    """The risk model's version."""
    trigger_model_version: str | None = None
    """The learned triggers' version (None where none was loaded)."""


def hit(
    policy: EscalationPolicy,
    name: str,
    evidence: str,
    score: float = 1.0,
    threshold: float | None = None,
) -> ReasonHit:
    """A hit for reason ``name`` with the consequences the policy configures."""
    rule = policy.reasons[name]
    return ReasonHit(
        name=name,
        score=round(score, 3),
        evidence=evidence,
        threshold=threshold,
        severity=rule.severity,
        level=rule.level,
        path=rule.path,
        immediate=rule.immediate,
    )


def strongest(hits: Iterable[ReasonHit]) -> ReasonHit | None:
    """The hit that demands the most: highest level, then severity, then immediacy."""
    return max(
        hits,
        key=lambda h: (h.level, h.severity.rank, h.immediate),
        default=None,
    )


def max_severity(current: Severity, hits: Iterable[ReasonHit]) -> Severity:
    """Severity never goes down during a case: the maximum of all seen."""
    return max([current, *(h.severity for h in hits)], key=lambda s: s.rank)


def demands_handoff_now(reason: ReasonHit) -> bool:
    """Severity-based escalation: critical or immediate reasons at level 2+ go at once."""
    return reason.level >= EscalationLevel.TAKEOVER and (
        reason.immediate or reason.severity is Severity.CRITICAL
    )
