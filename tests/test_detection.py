"""The detector: each reason on its own examples in English and German, quiet on
routine messages, explained by scores and thresholds, robust to hostile input."""

from datetime import timedelta

import pytest

from baton.detection.loading import sentiment_scorers
from domain.detection import DetectionContext, PriorTurn, Verdict
from domain.detector import Detector
from domain.language import Language
from domain.models import Author, CustomerTier, IncomingMessage
from domain.risk import RiskModel
from domain.signals import PhraseMatcher, amounts_in_text
from domain.states import EscalationLevel


def _assess(
    detector: Detector,
    text: str,
    language: str = "en",
    *,
    author: str = "customer",
    amount: float | None = None,
    tier: CustomerTier = CustomerTier.STANDARD,
    first: bool = True,
    prior: list[str] | None = None,
    prior_sentiments: list[float] | None = None,
    turns: int = 0,
    elapsed: timedelta = timedelta(0),
) -> Verdict:
    message = IncomingMessage(message_id="m", author=author, text=text, amount=amount)
    texts = prior or []
    sentiments = prior_sentiments or [None] * len(texts)
    context = DetectionContext(
        language=Language(language),
        customer_tier=tier,
        first_customer_message=first,
        prior_turns=[
            PriorTurn(text=t, sentiment=s) for t, s in zip(texts, sentiments, strict=True)
        ],
        turns=turns,
        elapsed=elapsed,
    )
    return detector.assess(message, context)


def _names(detector: Detector, text: str, language: str = "en", **kw: object) -> set[str]:
    return {h.name for h in _assess(detector, text, language, **kw).hits}


KEYWORD_EXAMPLES = [
    ("I want to talk to a person, now.", "en", "explicit_human_request"),
    ("Can I speak to a manager please", "en", "explicit_human_request"),
    ("Ich möchte einen Mitarbeiter sprechen", "de", "explicit_human_request"),
    ("Bitte verbinden Sie mich mit einem Menschen", "de", "explicit_human_request"),
    ("There is a FRAUDULENT charge on my card", "en", "fraud"),
    ("There's a payment I didn't make on my statement", "en", "fraud"),
    ("Das ist Betrug!", "de", "fraud"),
    ("Eine Abbuchung, die nicht von mir ist", "de", "fraud"),
    ("My lawyer will hear about this", "en", "legal_threat"),
    ("I will take legal action against you", "en", "legal_threat"),
    ("Ich werde rechtliche Schritte einleiten", "de", "legal_threat"),
    ("Dann sehen wir uns vor Gericht", "de", "legal_threat"),
    ("The charger caught fire and my son was injured", "en", "safety"),
    ("Das Gerät ist überhitzt, das ist gefährlich", "de", "safety"),
    ("Please delete my data under GDPR", "en", "data_protection"),
    ("Löschen Sie meine Daten gemäß DSGVO", "de", "data_protection"),
    ("I will complain to the ombudsman", "en", "regulatory_complaint"),
    ("Ich reiche eine Beschwerde bei der BaFin ein", "de", "regulatory_complaint"),
    ("Is this legal? Selling my data sounds like a loophole", "en", "regulatory_complaint"),
    ("Ist das überhaupt legal, was Sie da machen?", "de", "regulatory_complaint"),
    ("We detected a security breach on our server", "en", "security_incident"),
    ("Wir melden einen Sicherheitsvorfall", "de", "security_incident"),
    ("Your portal is down since this morning", "en", "service_outage"),
    ("Seit heute früh eine Störung im Portal", "de", "service_outage"),
    ("This is urgent, please help", "en", "urgency"),
    ("Bitte dringend um Rückruf", "de", "urgency"),
    ("I want to cancel my subscription", "en", "cancellation"),
    ("Ich will kündigen", "de", "cancellation"),
    ("Feature request: export to Excel", "en", "innovation_request"),
    ("Wir wünschen eine individuelle Anpassung für unser Team", "de", "innovation_request"),
]


@pytest.mark.parametrize(("text", "language", "reason"), KEYWORD_EXAMPLES)
def test_keyword_reasons_fire_on_their_examples(
    detector: Detector, text: str, language: str, reason: str
) -> None:
    [found] = [h for h in _assess(detector, text, language).hits if h.name == reason]
    assert found.evidence.startswith("phrase ")
    assert found.severity == detector.policy.reasons[reason].severity


ROUTINE = [
    ("I have an issue with my invoice", "en"),  # "sue" inside "issue" must not fire
    ("How do I reset my password?", "en"),
    ("What are your opening hours?", "en"),
    ("Thanks, that solved it!", "en"),
    ("Wo finde ich meine Rechnung?", "de"),
    ("Der Versand dauert zu lange", "de"),
    ("Wie ändere ich meine Adresse?", "de"),
    ("Vielen Dank, das hat geholfen.", "de"),
]


@pytest.mark.parametrize(("text", "language"), ROUTINE)
def test_routine_messages_do_not_escalate(detector: Detector, text: str, language: str) -> None:
    verdict = _assess(detector, text, language)
    assert all(h.level < EscalationLevel.TAKEOVER for h in verdict.hits), verdict.hits
    assert verdict.risk < detector.policy.detection.risk.threshold


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("I want to talk to a person", "en"),
        ("Ich möchte einen Mitarbeiter sprechen", "de"),
        ("Get me a real human, this bot is useless", "en"),
        ("Ich will mit einem Menschen reden, sofort", "de"),
        ("I will sue you", "en"),
        ("Mein Anwalt wird sich melden", "de"),
        ("Someone used my card without my permission", "en"),
        ("Meine Karte wurde gestohlen", "de"),
    ],
)
def test_human_requests_legal_and_fraud_threats_always_escalate(
    detector: Detector, text: str, language: str
) -> None:
    # Caught in the case's language and when the customer switches language.
    for case_language in ("en", "de"):
        verdict = _assess(detector, text, case_language)
        assert any(h.level >= EscalationLevel.TAKEOVER for h in verdict.hits), (text, verdict)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("This is the worst service ever, absolutely terrible and useless. I hate it.", "en"),
        ("Das ist eine Frechheit, ich bin total enttäuscht und wütend. Katastrophal!", "de"),
    ],
)
def test_emotional_peak_fires_with_score_and_threshold(
    detector: Detector, text: str, language: str
) -> None:
    [peak] = [h for h in _assess(detector, text, language).hits if h.name == "negative_sentiment"]
    assert peak.threshold == detector.policy.detection.sentiment.negative
    assert peak.score >= -peak.threshold


@pytest.mark.parametrize(
    ("earlier", "now", "language"),
    [
        ("Great, thanks, that is helpful!", "Hmm, that did not work, I am disappointed.", "en"),
        ("Super, vielen Dank, das ist toll!", "Das hat leider nicht funktioniert.", "de"),
    ],
)
def test_sentiment_trend_fires_on_a_sharp_fall(
    detector: Detector, earlier: str, now: str, language: str
) -> None:
    scorer = sentiment_scorers()[Language(language)]
    before = scorer.compound(earlier)
    alone = {h.name for h in _assess(detector, now, language).hits}
    assert "negative_sentiment" not in alone  # not negative enough on its own
    after = _assess(detector, now, language, prior=[earlier], prior_sentiments=[before])
    [trend] = [h for h in after.hits if h.name == "negative_sentiment"]
    assert "fell" in trend.evidence


def test_german_negation_and_boosters() -> None:
    german = sentiment_scorers()[Language.DE]
    assert german.compound("Ich bin zufrieden") > 0
    assert german.compound("Ich bin nicht zufrieden") < 0
    assert german.compound("sehr schlecht") < german.compound("schlecht") < 0


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("WHY DOES NOTHING WORK HERE!!!", "en"),
        ("This is bullshit", "en"),
        ("WARUM FUNKTIONIERT HIER NICHTS!!!", "de"),
        ("So ein Mist, verdammt", "de"),
    ],
)
def test_intensity_fires_on_shouting_and_profanity(
    detector: Detector, text: str, language: str
) -> None:
    assert "emotional_intensity" in _names(detector, text, language)


def test_acronyms_and_one_exclamation_are_not_shouting(detector: Detector) -> None:
    assert "emotional_intensity" not in _names(detector, "Our EMR and PACS sync fails. Help!")


@pytest.mark.parametrize(
    ("earlier", "now", "language"),
    [
        ("Where is my refund for order 1234?", "WHERE IS MY REFUND FOR ORDER 1234??", "en"),
        ("Where is my refund?", "I asked already: where is my refund", "en"),
        ("Wann kommt meine Erstattung?", "Ich frage nochmal: wann kommt meine Erstattung?", "de"),
    ],
)
def test_repetition_fires_on_reworded_repeats(
    detector: Detector, earlier: str, now: str, language: str
) -> None:
    verdict = _assess(detector, now, language, prior=[earlier])
    [repeat] = [h for h in verdict.hits if h.name == "repetition"]
    assert "1 back" in repeat.evidence


def test_different_questions_are_not_repeats(detector: Detector) -> None:
    names = _names(
        detector,
        "How do I change my delivery address?",
        prior=["How do I change my password?", "Yes", "ok"],
    )
    assert "repetition" not in names


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("My Outlook email, the VPN and the printer all stopped syncing.", "en"),
        ("E-Mail in Outlook, das WLAN und der Drucker gehen nicht.", "de"),
    ],
)
def test_complexity_fires_on_several_systems(detector: Detector, text: str, language: str) -> None:
    [complex_] = [h for h in _assess(detector, text, language).hits if h.name == "complexity"]
    assert "3 products or systems" in complex_.evidence


def test_complexity_counts_systems_across_the_window(detector: Detector) -> None:
    assert "complexity" not in _names(detector, "And now the printer fails too.")
    names = _names(detector, "And now the printer fails too.", prior=["Outlook crashes", "VPN?"])
    assert "complexity" in names


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Your portal is down and there is a payment I didn't make", "en"),
        ("Das Portal hat eine Störung und dazu eine Abbuchung, die nicht von mir ist", "de"),
    ],
)
def test_an_unusual_combination_of_paths_is_complex(
    detector: Detector, text: str, language: str
) -> None:
    [complex_] = [h for h in _assess(detector, text, language).hits if h.name == "complexity"]
    assert "reasons for 2 paths (compliance, it_incident)" in complex_.evidence


@pytest.mark.parametrize(
    ("text", "language", "path"),
    [
        ("This is urgent: the VPN and my email fail", "en", "it_incident"),
        ("Dringend: meine Rechnung und die Zahlung stimmen nicht", "de", "billing"),
    ],
)
def test_default_path_reasons_go_where_the_named_systems_belong(
    detector: Detector, text: str, language: str, path: str
) -> None:
    [urgent] = [h for h in _assess(detector, text, language).hits if h.name == "urgency"]
    assert detector.policy.reasons["urgency"].path == detector.policy.default_path
    assert urgent.path == path and urgent.evidence.endswith(f"path {path} by topic")


def test_a_reason_with_its_own_path_keeps_it(detector: Detector) -> None:
    [fraud] = [
        h for h in _assess(detector, "Fraud on my card via the app").hits if h.name == "fraud"
    ]
    assert fraud.path == "compliance"


def test_long_conversation_by_turns_and_by_time(detector: Detector) -> None:
    rules = detector.policy.detection.long_conversation
    assert "long_conversation" not in _names(detector, "still there?", turns=3)
    assert "long_conversation" in _names(detector, "still there?", turns=rules.turns)
    assert "long_conversation" in _names(detector, "still there?", elapsed=rules.elapsed)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Sie haben mir 1.200,00 € doppelt abgebucht", 1200.0),
        ("You charged me $1,200 twice", 1200.0),
        ("Es geht um 2.500 Euro", 2500.0),
        ("refund of EUR 1500.50 please", 1500.5),
    ],
)
def test_amounts_are_read_from_the_text(detector: Detector, text: str, value: float) -> None:
    assert max(v for v, _ in amounts_in_text(text)) == value
    [stake] = [h for h in _assess(detector, text).hits if h.name == "high_amount"]
    assert stake.threshold == detector.policy.detection.amount_threshold


def test_amount_threshold_is_exclusive_and_numbers_without_currency_are_not_money(
    detector: Detector,
) -> None:
    threshold = detector.policy.detection.amount_threshold
    assert "high_amount" in _names(detector, "refund please", amount=threshold + 0.01)
    assert "high_amount" not in _names(detector, "refund please", amount=threshold)
    assert "high_amount" not in _names(detector, "My order 123456 from 2024 is late")
    assert "high_amount" not in _names(detector, "It was only 99,90 €")


def test_vip_fires_once_on_the_first_customer_message(detector: Detector) -> None:
    assert "vip_customer" in _names(detector, "hello", tier=CustomerTier.VIP, first=True)
    assert "vip_customer" not in _names(detector, "hello", tier=CustomerTier.VIP, first=False)


def test_ai_and_agent_messages_are_not_assessed(detector: Detector) -> None:
    for author in (Author.AI, Author.AGENT):
        verdict = _assess(detector, "fraud lawyer", author=author)
        assert verdict.hits == [] and verdict.sentiment is None


def test_risk_score_combines_signals_and_names_its_model(detector: Detector) -> None:
    text = "This is a scam, my money is gone and nobody helps!"
    calm = _assess(detector, "How do I update my address?")
    storm = _assess(detector, text)
    assert 0.0 <= calm.risk < storm.risk <= 1.0
    assert storm.model_version == detector.risk_model.version  # type: ignore[union-attr]
    assert storm.trigger_model_version == detector.learned.model.version  # type: ignore[union-attr]
    # A reason that brings a human in already covers the case: the risk stays silent.
    assert "fraud" in {h.name for h in storm.hits}
    assert "predicted_risk" not in {h.name for h in storm.hits}
    # Where no reason fires (fraud switched off here), the heads' scores still count.
    reasons = {k: v for k, v in detector.policy.reasons.items() if k != "fraud"}
    keywords = {lang: {r: p for r, p in t.items() if r != "fraud"}
                for lang, t in detector.policy.detection.keywords.items()}  # fmt: skip
    detection = detector.policy.detection.model_copy(update={"keywords": keywords})
    policy = detector.policy.model_copy(update={"reasons": reasons, "detection": detection})
    quiet = Detector(policy, sentiment_scorers(), detector.risk_model, detector.learned)
    [risk] = [h for h in _assess(quiet, text).hits if h.name == "predicted_risk"]
    assert risk.threshold == detector.policy.detection.risk.threshold
    assert "model risk-" in risk.evidence and "fraud +" in risk.evidence


def test_a_reason_missing_from_the_policy_is_switched_off(detector: Detector) -> None:
    reasons = {k: v for k, v in detector.policy.reasons.items() if k != "repetition"}
    policy = detector.policy.model_copy(update={"reasons": reasons})
    quiet = Detector(policy, sentiment_scorers(), detector.risk_model)
    message = IncomingMessage(message_id="m", author="customer", text="where is my refund now")
    context = DetectionContext(
        language=Language.EN,
        customer_tier=CustomerTier.STANDARD,
        first_customer_message=False,
        prior_turns=[PriorTurn(text="where is my refund now")],
    )
    assert "repetition" in {h.name for h in detector.assess(message, context).hits}
    assert "repetition" not in {h.name for h in quiet.assess(message, context).hits}


@pytest.mark.parametrize(
    "text",
    [
        "😡😡😡🔥",
        "\x00\x01\x02 ÿþ binary \ufffd garbage \x7f",
        "Hallo, I need help mit meiner Rechnung, it is wrong und ich bin sauer!",
        "a" * 100_000,
        "fraud " * 20_000,
        " \u200b\u200d ",
        "half a pair \ud83d of surrogates",  # JSON may carry one; UTF-8 cannot
    ],
)
@pytest.mark.parametrize("language", ["en", "de"])
def test_hostile_input_gets_an_assessment(detector: Detector, text: str, language: str) -> None:
    verdict = _assess(detector, text, language)
    assert 0.0 <= verdict.risk <= 1.0
    assert verdict.sentiment is not None and -1.0 <= verdict.sentiment <= 1.0


def test_phrase_matching_respects_word_boundaries_and_wildcards() -> None:
    matcher = PhraseMatcher(
        [{"legal": ["sue"], "cancel": ["kündig*"], "human": ["talk to a person"]}]
    )
    assert matcher.find("I have an issue") == {}
    assert matcher.find("We will SUE.") == {"legal": "sue"}
    assert matcher.find("Kündigung zum Monatsende") == {"cancel": "kündig*"}
    assert matcher.find("let me talk to a... person") == {"human": "talk to a person"}
    assert matcher.find("talk to a personal trainer") == {}


def test_risk_model_rejects_mismatched_weights() -> None:
    with pytest.raises(ValueError, match="2 coefficients for 1 features"):
        RiskModel(version="x", features=["a"], coefficients=[1.0, 2.0], intercept=0.0)
    model = RiskModel(version="x", features=["a"], coefficients=[2.0], intercept=-1.0)
    assert model.probability({"a": 1.0}) > model.probability({}) > 0
