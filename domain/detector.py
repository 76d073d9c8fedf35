"""The detector: every signal of one customer message, turned into named reasons.

It reads the message and a bounded window of the conversation (so its cost does not
grow with the conversation's length), compares each signal with the thresholds in the
policy, asks the learned trigger heads (``domain.triggers``) beside the phrase rules,
and combines all signals into one predictive risk score with the trained model.
Sentiment analysers, the sentence encoder and both models are handed in by the
adapters that load them (``baton.detection.loading``); everything here is pure.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from statistics import fmean

from domain.detection import DetectionContext, Verdict, hit
from domain.language import Language
from domain.models import Author, CustomerTier, IncomingMessage, ReasonHit
from domain.policy import CoreReason, EscalationPolicy, SignalReason
from domain.risk import RiskModel
from domain.sentiment import SentimentScorer
from domain.signals import (
    PhraseMatcher,
    amounts_in_text,
    complexity,
    intensity,
    ratio,
    repetition,
)
from domain.states import EscalationLevel
from domain.triggers import LearnedTriggers

SIGNAL_FEATURES = (
    "sentiment_negativity",
    "sentiment_drop",
    "intensity",
    "repetition",
    "complexity",
    "questions",
    "long_conversation",
    "high_amount",
    "vip",
)
"""Features every message has besides one per keyword reason (1.0 when it fired)."""


class Detector:
    """Assesses customer messages with one policy, sentiment analysers and a risk model."""

    def __init__(
        self,
        policy: EscalationPolicy,
        sentiment: Mapping[Language, SentimentScorer],
        risk_model: RiskModel | None = None,
        learned: LearnedTriggers | None = None,
    ) -> None:
        """Compile the policy's phrase tables once; analysers cover every language;
        ``learned`` (the trigger heads and their encoder) decides beside the phrases."""
        self.policy = policy
        self.risk_model = risk_model
        self.learned = learned
        self._sentiment = sentiment
        rules = policy.detection
        self._keywords = PhraseMatcher(rules.keywords.values())
        self._keyword_reasons = {name for table in rules.keywords.values() for name in table}
        self._profanity = PhraseMatcher(rules.intensity.profanity.values())
        self._topics = PhraseMatcher(rules.complexity.topics.values())

    def with_learned(self, learned: LearnedTriggers | None) -> Detector:
        """This detector with other learned triggers (another encoder, or none)."""
        return Detector(self.policy, self._sentiment, self.risk_model, learned)

    @property
    def sentiment_scorers(self) -> Mapping[Language, SentimentScorer]:
        """The analysers per language (shared by detectors built from this one)."""
        return self._sentiment

    def assess(self, message: IncomingMessage, context: DetectionContext) -> Verdict:
        """Every reason this message triggers, and the risk score; only customers count."""
        if message.author is not Author.CUSTOMER:
            return self._verdict([], 0.0, None)
        found, compound = self._signals(message, context)
        risk = self._risk_hit(found)
        return self._verdict(found.routed_hits(), risk, compound)

    def features(self, message: IncomingMessage, context: DetectionContext) -> dict[str, float]:
        """The named feature values the risk model sees for this message (for training)."""
        found, _ = self._signals(message, context)
        return found.features

    def feature_names(self) -> list[str]:
        """Every feature this policy can produce, in a stable order."""
        learned = {h.reason for h in self.learned.model.heads} if self.learned else set()
        return sorted(self._keyword_reasons | learned | set(SIGNAL_FEATURES))

    def _signals(
        self, message: IncomingMessage, context: DetectionContext
    ) -> tuple[_Findings, float]:
        # Bounded work per message, whatever arrives: the wire limit, applied here too.
        text = message.text[: self.policy.limits.max_message_chars]
        found = _Findings(self.policy)
        self._keyword_hits(text, found)
        compound = self._sentiment_hits(text, context, found)
        self._learned_hits(text, context, found)
        self._intensity_hit(text, found)
        self._repetition_hit(text, context, found)
        self._complexity_hit(text, context, found)
        self._long_conversation_hit(context, found)
        self._amount_hit(text, message.amount, found)
        if context.customer_tier is CustomerTier.VIP:
            found.features["vip"] = 1.0
            if context.first_customer_message:
                found.fire(CoreReason.VIP, 1.0, "customer tier vip")
        found.topic_path = self._topic_path(found.topics)
        return found, compound

    def _topic_path(self, topics: Iterable[str]) -> str | None:
        """The path most of the named products or systems belong to (ties: by name)."""
        paths = Counter(
            path for t in topics if (path := self.policy.detection.topic_paths.get(t)) is not None
        )
        if not paths:
            return None
        return min(paths, key=lambda p: (-paths[p], p))

    def _verdict(self, hits: list[ReasonHit], risk: float, compound: float | None) -> Verdict:
        return Verdict(
            hits=hits,
            risk=round(risk, 4),
            sentiment=None if compound is None else round(compound, 4),
            policy_version=self.policy.version,
            model_version=self.risk_model.version if self.risk_model else None,
            trigger_model_version=self.learned.model.version if self.learned else None,
        )

    # ------------------------------------------------------------------ signals
    def _keyword_hits(self, text: str, found: _Findings) -> None:
        for name, phrase in sorted(self._keywords.find(text).items()):
            found.features[name] = 1.0
            found.fire(name, 1.0, f"phrase {phrase!r}")

    def _learned_hits(self, text: str, context: DetectionContext, found: _Findings) -> None:
        # A phrase or the lexicon that fired already decided (one hit per reason); the
        # head's score still goes to the risk model's features.
        if self.learned is None or not self.learned.model.applies(context.language):
            return
        thresholds = self.policy.detection.learned.thresholds
        for score in self.learned.scores(text, context.language, thresholds):
            found.features[score.reason] = max(found.features.get(score.reason, 0.0), score.score)
            if score.fired:
                found.fire(score.reason, score.score, score.evidence, score.threshold)

    def _sentiment_hits(self, text: str, context: DetectionContext, found: _Findings) -> float:
        rules = self.policy.detection.sentiment
        compound = self._sentiment[context.language].compound(text)
        earlier = [t.sentiment for t in context.prior_turns[-rules.window :]]
        known = [s for s in earlier if s is not None]
        drop = fmean(known) - compound if known else 0.0
        found.features["sentiment_negativity"] = max(0.0, -compound)
        found.features["sentiment_drop"] = max(0.0, drop) / 2
        if compound <= rules.negative:
            found.fire(
                SignalReason.NEGATIVE_SENTIMENT,
                -compound,
                f"sentiment {compound:+.2f} at or below {rules.negative:+.2f}",
                threshold=rules.negative,
            )
        elif compound < 0 and drop >= rules.trend_drop:
            found.fire(
                SignalReason.NEGATIVE_SENTIMENT,
                -compound,
                f"sentiment {compound:+.2f}, fell {drop:.2f} below the earlier turns "
                f"(threshold {rules.trend_drop:.2f})",
                threshold=rules.trend_drop,
            )
        return compound

    def _intensity_hit(self, text: str, found: _Findings) -> None:
        rules = self.policy.detection.intensity
        loud = intensity(text, self._profanity, rules.caps_ratio, rules.exclamations)
        found.features["intensity"] = loud.score
        if loud.score >= rules.threshold:
            found.fire(SignalReason.INTENSITY, loud.score, loud.evidence(), rules.threshold)

    def _repetition_hit(self, text: str, context: DetectionContext, found: _Findings) -> None:
        rules = self.policy.detection
        window = [t.text for t in context.prior_turns[-rules.sentiment.window :]]
        similarity, back = repetition(text, window, rules.repetition.min_words)
        found.features["repetition"] = similarity
        threshold = rules.repetition.similarity / 100
        if similarity >= threshold:
            found.fire(
                SignalReason.REPETITION,
                similarity,
                f"{similarity:.0%} similar to the customer's turn {back} back",
                threshold,
            )

    def _complexity_hit(self, text: str, context: DetectionContext, found: _Findings) -> None:
        rules = self.policy.detection
        earlier: set[str] = set()
        for turn in context.prior_turns[-rules.sentiment.window :]:
            earlier.update(self._topics.find(turn.text))
        c = rules.complexity
        result = complexity(
            text, earlier, self._topics, c.distinct_topics, c.many_issues, c.long_message_chars
        )
        # An unusual combination: phrases calling for different paths in one message
        # (a fraud report inside an outage complaint) needs a specialist's overview.
        found.topics = result.topics
        paths = sorted({h.path for h in found.hits if h.name in self._keyword_reasons})
        score = max(result.score, 1.0 if len(paths) >= 2 else 0.0)
        found.features["complexity"] = score
        found.features["questions"] = min(1.0, result.points / c.many_issues)
        if score >= 1.0:
            evidence = (
                f"{len(result.topics)} products or systems ({', '.join(result.topics)}), "
                f"{result.points} questions or points"
            )
            if len(paths) >= 2:
                evidence += f", reasons for {len(paths)} paths ({', '.join(paths)})"
            found.fire(SignalReason.COMPLEXITY, score, evidence, 1.0)

    def _long_conversation_hit(self, context: DetectionContext, found: _Findings) -> None:
        rules = self.policy.detection.long_conversation
        turns = context.turns + 1
        score = max(
            ratio(turns, rules.turns),
            ratio(context.elapsed.total_seconds(), rules.elapsed.total_seconds()),
        )
        found.features["long_conversation"] = score
        if score >= 1.0:
            minutes = int(context.elapsed.total_seconds() // 60)
            found.fire(
                SignalReason.LONG_CONVERSATION,
                score,
                f"{turns} turns over {minutes} min (limits {rules.turns} turns, "
                f"{int(rules.elapsed.total_seconds() // 60)} min)",
                1.0,
            )

    def _amount_hit(self, text: str, amount: float | None, found: _Findings) -> None:
        threshold = self.policy.detection.amount_threshold
        candidates = [(amount, "amount field")] if amount is not None else []
        candidates += [
            (value, f"{written!r} in the text") for value, written in amounts_in_text(text)
        ]
        if not candidates:
            return
        value, source = max(candidates, key=lambda c: c[0])
        found.features["high_amount"] = 1.0 if value > threshold else 0.0
        if value > threshold:
            found.fire(
                CoreReason.HIGH_AMOUNT,
                1.0,
                f"amount {value:,.2f} ({source}) above {threshold:,.2f}",
                threshold,
            )

    def _risk_hit(self, found: _Findings) -> float:
        if self.risk_model is None:
            return 0.0
        rules = self.policy.detection.risk
        risk = self.risk_model.probability(found.features)
        # The risk model speaks where no single reason brings a human in already.
        covered = any(h.level >= EscalationLevel.TAKEOVER for h in found.hits)
        if risk >= rules.threshold and not covered:
            drivers = ", ".join(
                f"{name} +{weight:.2f}" for name, weight in self.risk_model.drivers(found.features)
            )
            found.fire(
                SignalReason.PREDICTED_RISK,
                risk,
                f"risk {risk:.2f} at or above {rules.threshold:.2f} "
                f"(model {self.risk_model.version}; {drivers or 'base rate'})",
                rules.threshold,
            )
        return risk


class _Findings:
    """Hits and risk-model features gathered while assessing one message."""

    def __init__(self, policy: EscalationPolicy) -> None:
        self.policy = policy
        self.hits: list[ReasonHit] = []
        self.features: dict[str, float] = {}

        self.topics: tuple[str, ...] = ()
        self.topic_path: str | None = None

    def fire(self, name: str, score: float, evidence: str, threshold: float | None = None) -> None:
        # A reason the policy does not configure is switched off; the first signal to
        # fire a reason explains it (phrases before the lexicon before the heads).
        if name in self.policy.reasons and not self.has(name):
            self.hits.append(hit(self.policy, name, evidence, score, threshold))

    def has(self, name: str) -> bool:
        """Has reason ``name`` fired already?"""
        return any(h.name == name for h in self.hits)

    def routed_hits(self) -> list[ReasonHit]:
        """The hits, with default-path reasons sent to the path of the named topics."""
        target = self.topic_path
        default = self.policy.default_path
        if target is None or target == default:
            return self.hits
        return [
            h.model_copy(
                update={"path": target, "evidence": f"{h.evidence}; path {target} by topic"}
            )
            if h.path == default
            else h
            for h in self.hits
        ]
