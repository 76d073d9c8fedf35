"""The core's first, simple detection: explicit human requests, configured keywords,
an amount over the threshold, and VIP customers.

Each rule yields a named :class:`ReasonHit` with its evidence; the reason's severity,
level and path come from the policy, so the verdict explains itself. The detection
issue replaces these rules with a real detector behind the same signature.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from pydantic import BaseModel

from domain.language import Language
from domain.models import Author, CustomerTier, IncomingMessage, ReasonHit
from domain.policy import CoreReason, EscalationPolicy
from domain.states import EscalationLevel, Severity


class DetectionContext(BaseModel):
    """What detection knows about the case besides the message itself."""

    language: Language
    customer_tier: CustomerTier
    first_customer_message: bool


class DetectionRequest(BaseModel):
    """Input of the ``assess_message`` activity."""

    message: IncomingMessage
    context: DetectionContext


@lru_cache(maxsize=1024)
def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    # Word boundaries so "sue" does not fire inside "issue".
    return re.compile(r"(?<!\w)" + re.escape(phrase.casefold()) + r"(?!\w)")


def hit(policy: EscalationPolicy, name: str, evidence: str, score: float = 1.0) -> ReasonHit:
    """A hit for reason ``name`` with the consequences the policy configures."""
    rule = policy.reasons[name]
    return ReasonHit(
        name=name,
        score=score,
        evidence=evidence,
        severity=rule.severity,
        level=rule.level,
        path=rule.path,
        immediate=rule.immediate,
    )


def detect(
    message: IncomingMessage, context: DetectionContext, policy: EscalationPolicy
) -> list[ReasonHit]:
    """Every reason this message triggers; only customer messages are assessed."""
    if message.author is not Author.CUSTOMER:
        return []
    hits = list(_keyword_hits(message.text, context.language, policy))
    threshold = policy.detection.amount_threshold
    if message.amount is not None and message.amount > threshold:
        hits.append(
            hit(policy, CoreReason.HIGH_AMOUNT, f"amount {message.amount:.2f} > {threshold:.2f}")
        )
    if context.customer_tier is CustomerTier.VIP and context.first_customer_message:
        hits.append(hit(policy, CoreReason.VIP, "customer tier vip"))
    return hits


def _keyword_hits(text: str, language: Language, policy: EscalationPolicy) -> Iterable[ReasonHit]:
    folded = text.casefold()
    table = policy.detection.keywords.get(language.value, {})
    for reason, phrases in table.items():
        found = next((p for p in phrases if _phrase_pattern(p).search(folded)), None)
        if found is not None:
            yield hit(policy, reason, f"phrase {found!r}")


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
