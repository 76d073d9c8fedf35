"""Learned triggers: one logistic head per reason over a sentence embedding and words.

Each head was trained (``baton detection train``) on labelled data: its weights over
the multilingual embedding of the message carry what it learned in English over to
German; its word weights say which words of the message pushed the score. Applying a
head is a dot product here in the pure core; the embedding comes from the adapter.
Every score explains itself: its threshold, the words that weighed most and the
nearest labelled examples (by data set and row, never their text).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Protocol, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.language import Language

_WORD = re.compile(r"\w+", re.UNICODE)


def words_of(text: str) -> set[str]:
    """The distinct lower-case words of ``text`` (the heads' word features)."""
    return set(_WORD.findall(text.lower()))


def _finite(values: Sequence[float], what: str) -> None:
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"{what} must be finite numbers")


class Prototype(BaseModel):
    """A labelled training example the head is close to, by reference."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reference: str = Field(min_length=1, max_length=100)
    vector: list[float]


class TriggerHead(BaseModel):
    """One reason's learned decision."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: str = Field(min_length=1, max_length=100)
    weights: list[float]
    """One per embedding dimension."""
    words: dict[str, float] = {}
    """Weight of each word when it occurs in the message."""
    intercept: float
    threshold: float = Field(gt=0.0, lt=1.0)
    """Chosen at training on the training split's out-of-fold scores."""
    languages: list[Language] = Field(default_factory=lambda: list(Language))
    """The languages it decides in (others keep their rules)."""
    prototypes: list[Prototype] = []
    trained_on: str = ""
    metrics: dict[str, float] = {}

    @model_validator(mode="after")
    def _sound(self) -> Self:
        _finite([*self.weights, *self.words.values(), self.intercept], f"{self.reason} weights")
        for p in self.prototypes:
            if len(p.vector) != len(self.weights):
                raise ValueError(f"{self.reason}: prototype {p.reference} has the wrong size")
        return self

    def probability(self, embedding: Sequence[float], words: set[str]) -> float:
        """P(this reason applies) for a message with this embedding and these words."""
        z = self.intercept + sum(w * x for w, x in zip(self.weights, embedding, strict=True))
        z += sum(weight for word, weight in self.words.items() if word in words)
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def weighing_words(self, words: set[str], top: int = 3) -> list[tuple[str, float]]:
        """The message's words that pushed the score up most."""
        found = [(w, v) for w, v in self.words.items() if w in words and v > 0]
        return sorted(found, key=lambda p: (-p[1], p[0]))[:top]

    def nearest(self, embedding: Sequence[float], top: int = 2) -> list[tuple[str, float]]:
        """The prototypes closest to the message (cosine: vectors are unit length)."""
        scored = [
            (p.reference, sum(a * b for a, b in zip(p.vector, embedding, strict=True)))
            for p in self.prototypes
        ]
        return sorted(scored, key=lambda p: -p[1])[:top]


class TriggerScore(BaseModel):
    """A head's score for one message and why."""

    reason: str
    score: float
    threshold: float
    evidence: str

    @property
    def fired(self) -> bool:
        """At or above the head's threshold."""
        return self.score >= self.threshold


class TriggerModel(BaseModel):
    """Every learned head, trained together on one encoder; versioned by its weights."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(min_length=1, max_length=100)
    encoder: str = Field(min_length=1)
    """The sentence encoder the heads were trained on (it must be the one loaded)."""
    dimensions: int = Field(gt=0)
    max_tokens: int = Field(gt=0)
    """How much of a message the encoder reads (training and serving alike)."""
    heads: list[TriggerHead] = Field(min_length=1)
    trained_on: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        for head in self.heads:
            if len(head.weights) != self.dimensions:
                raise ValueError(
                    f"head {head.reason}: {len(head.weights)} weights for {self.dimensions} "
                    "dimensions"
                )
        names = [h.reason for h in self.heads]
        if len(set(names)) != len(names):
            raise ValueError("one head per reason")
        return self

    def applies(self, language: Language) -> bool:
        """Does any head decide in ``language``?"""
        return any(language in h.languages for h in self.heads)

    def scores(
        self,
        embedding: Sequence[float],
        text: str,
        language: Language,
        thresholds: Mapping[str, float] | None = None,
    ) -> list[TriggerScore]:
        """Each head's score for a message in ``language``, with its evidence, against
        its trained threshold or the one ``thresholds`` gives its reason."""
        if len(embedding) != self.dimensions:
            raise ValueError(f"embedding has {len(embedding)} dimensions, not {self.dimensions}")
        words = words_of(text)
        result = []
        for head in self.heads:
            if language not in head.languages:
                continue
            score = head.probability(embedding, words)
            threshold = (thresholds or {}).get(head.reason, head.threshold)
            # Evidence costs a pass over the prototypes: only a firing head needs it.
            evidence = (
                self._evidence(head, score, threshold, embedding, words)
                if score >= threshold
                else ""
            )
            result.append(
                TriggerScore(
                    reason=head.reason, score=score, threshold=threshold, evidence=evidence
                )
            )
        return result

    def _evidence(
        self,
        head: TriggerHead,
        score: float,
        threshold: float,
        embedding: Sequence[float],
        words: set[str],
    ) -> str:
        relation = "at or above" if score >= threshold else "below"
        parts = [f"model {self.version}: {score:.2f} {relation} {threshold:.2f}"]
        weighing = head.weighing_words(words)
        if weighing:
            parts.append("words " + ", ".join(f"{w!r} +{v:.2f}" for w, v in weighing))
        near = head.nearest(embedding)
        if near:
            parts.append("nearest labelled " + ", ".join(f"{r} ({s:.2f})" for r, s in near))
        return "; ".join(parts)


def model_version(heads: Sequence[TriggerHead], encoder: str, max_tokens: int) -> str:
    """A digest of everything that decides: the same weights, the same version."""
    payload = json.dumps(
        [encoder, max_tokens, [h.model_dump(exclude={"metrics", "trained_on"}) for h in heads]],
        sort_keys=True,
        default=str,
    )
    return "triggers-" + hashlib.sha256(payload.encode()).hexdigest()[:10]


class TextEncoder(Protocol):
    """Turns a text into the unit-length embedding the heads were trained on."""

    @property
    def version(self) -> str:
        """The encoder's name and version (the model must name the same)."""
        ...

    def encode(self, text: str) -> Sequence[float]:
        """The embedding of ``text`` (of as much of it as the encoder reads)."""
        ...


class LearnedTriggers:
    """A trigger model with the encoder it was trained on."""

    def __init__(self, model: TriggerModel, encoder: TextEncoder) -> None:
        """Pair ``model`` with ``encoder``; they must agree on what the encoder is."""
        if not encoder.version.startswith(model.encoder):
            raise ValueError(
                f"trigger model {model.version} was trained on {model.encoder}, "
                f"not on {encoder.version}"
            )
        self.model = model
        self.encoder = encoder

    def scores(
        self, text: str, language: Language, thresholds: Mapping[str, float] | None = None
    ) -> list[TriggerScore]:
        """Every head's score for ``text`` in ``language`` (see :meth:`TriggerModel.scores`)."""
        return self.model.scores(self.encoder.encode(text), text, language, thresholds)

    def threshold(self, reason: str, thresholds: Mapping[str, float] | None = None) -> float:
        """Where ``reason``'s head fires: ``thresholds``' value, or its trained one."""
        trained = next(h.threshold for h in self.model.heads if h.reason == reason)
        return (thresholds or {}).get(reason, trained)
