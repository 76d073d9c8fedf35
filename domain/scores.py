"""Precision, recall and F1 of a yes/no decision against labels (detection's evaluation
and the learning loop's evidence share them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Scores:
    """Precision, recall and F1 of one binary decision, with the counts behind them."""

    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float:
        """Share of predicted positives that are right."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        """Share of real positives found."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def false_alarm(self) -> float:
        """Share of real negatives predicted positive."""
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else 0.0

    @property
    def rate(self) -> float:
        """Share predicted positive."""
        n = self.tp + self.fp + self.fn + self.tn
        return (self.tp + self.fp) / n if n else 0.0

    def as_dict(self) -> dict[str, float | int]:
        """Figures and counts for JSON output."""
        return {
            "precision": round(self.precision, 3),
            "recall": round(self.recall, 3),
            "f1": round(self.f1, 3),
            "rate": round(self.rate, 3),
            "false_alarm": round(self.false_alarm, 4),
            "n": self.tp + self.fp + self.fn + self.tn,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
        }


def binary_scores(truth: Sequence[bool], predicted: Sequence[bool]) -> Scores:
    """Counts of a binary decision against the truth."""
    pairs = list(zip(truth, predicted, strict=True))
    return Scores(
        tp=sum(t and p for t, p in pairs),
        fp=sum(p and not t for t, p in pairs),
        fn=sum(t and not p for t, p in pairs),
        tn=sum(not t and not p for t, p in pairs),
    )
