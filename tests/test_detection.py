"""The core's simple detection rules, in English and German."""

import pytest

from domain.detection import DetectionContext, detect
from domain.language import Language
from domain.models import Author, CustomerTier, IncomingMessage
from domain.policy import EscalationPolicy
from domain.states import EscalationLevel, Severity


def _names(policy: EscalationPolicy, text: str, language: str = "en", **kw: object) -> list[str]:
    message = IncomingMessage(
        message_id="m", author=kw.get("author", Author.CUSTOMER), text=text, amount=kw.get("amount")
    )
    context = DetectionContext(
        language=Language(language),
        customer_tier=kw.get("tier", CustomerTier.STANDARD),
        first_customer_message=bool(kw.get("first", True)),
    )
    return [h.name for h in detect(message, context, policy)]


@pytest.mark.parametrize(
    ("text", "language", "reason"),
    [
        ("I want to talk to a person, now.", "en", "explicit_human_request"),
        ("Ich möchte einen Mitarbeiter sprechen", "de", "explicit_human_request"),
        ("There is a FRAUDULENT charge on my card", "en", "fraud"),
        ("Das ist Betrug!", "de", "fraud"),
        ("My lawyer will hear about this", "en", "legal_threat"),
        ("Ich werde rechtliche Schritte einleiten", "de", "legal_threat"),
        ("Please delete my data under GDPR", "en", "data_protection"),
        ("Ich will kündigen", "de", "cancellation"),
        ("Your portal is down since this morning", "en", "service_outage"),
        ("Seit heute früh eine Störung im Portal", "de", "service_outage"),
    ],
)
def test_reason_fires_on_its_examples(
    policy: EscalationPolicy, text: str, language: str, reason: str
) -> None:
    assert reason in _names(policy, text, language)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("I have an issue with my invoice", "en"),  # "sue" inside "issue" must not fire
        ("How do I reset my password?", "en"),
        ("Wo finde ich meine Rechnung?", "de"),
        ("Der Versand dauert zu lange", "de"),
    ],
)
def test_routine_messages_stay_quiet(policy: EscalationPolicy, text: str, language: str) -> None:
    assert _names(policy, text, language) == []


def test_keywords_are_per_language(policy: EscalationPolicy) -> None:
    assert _names(policy, "Das ist Betrug", "en") == []


def test_amount_over_threshold(policy: EscalationPolicy) -> None:
    threshold = policy.detection.amount_threshold
    assert _names(policy, "refund please", amount=threshold + 0.01) == ["high_amount"]
    assert _names(policy, "refund please", amount=threshold) == []


def test_vip_fires_once_on_the_first_customer_message(policy: EscalationPolicy) -> None:
    assert _names(policy, "hello", tier=CustomerTier.VIP, first=True) == ["vip_customer"]
    assert _names(policy, "hello", tier=CustomerTier.VIP, first=False) == []


def test_ai_and_agent_messages_are_not_assessed(policy: EscalationPolicy) -> None:
    assert _names(policy, "fraud lawyer", author=Author.AI) == []
    assert _names(policy, "fraud lawyer", author=Author.AGENT) == []


def test_hits_carry_policy_consequences(policy: EscalationPolicy) -> None:
    message = IncomingMessage(message_id="m", author="customer", text="this is fraud")
    context = DetectionContext(
        language=Language.EN, customer_tier=CustomerTier.STANDARD, first_customer_message=True
    )
    [fraud] = detect(message, context, policy)
    assert (fraud.severity, fraud.level, fraud.path) == (
        Severity.CRITICAL,
        EscalationLevel.FULL_TAKEOVER,
        "compliance",
    )
    assert "fraud" in fraud.evidence
