"""The predictive risk score: one probability that a conversation will need a human.

A logistic model over the detector's named features. Its weights are learned offline
(``baton detection train`` with scikit-learn) and stored as a small versioned JSON file
beside the policy; applying it here is a dot product, so every assessment stays cheap
and explainable: the features that pushed the score up are part of the evidence.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class RiskModel(BaseModel):
    """A trained, versioned logistic model over named features."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(min_length=1, max_length=100)
    features: list[str] = Field(min_length=1)
    coefficients: list[float]
    intercept: float
    trained_on: str = ""
    """Which data, which split, how many rows: so a reader can tell what it never saw."""
    metrics: dict[str, float] = {}
    """Held-back figures measured when it was trained."""

    @model_validator(mode="after")
    def _one_weight_per_feature(self) -> Self:
        if len(self.coefficients) != len(self.features):
            raise ValueError(
                f"{len(self.coefficients)} coefficients for {len(self.features)} features"
            )
        if not all(math.isfinite(c) for c in [*self.coefficients, self.intercept]):
            raise ValueError("coefficients and intercept must be finite numbers")
        return self

    def probability(self, features: Mapping[str, float]) -> float:
        """P(needs a human) for these feature values (absent features count as 0)."""
        z = self.intercept + sum(
            w * features.get(name, 0.0)
            for name, w in zip(self.features, self.coefficients, strict=True)
        )
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def drivers(self, features: Mapping[str, float], top: int = 3) -> list[tuple[str, float]]:
        """The features that raised the score most, with their contributions."""
        contributions = [
            (name, w * features.get(name, 0.0))
            for name, w in zip(self.features, self.coefficients, strict=True)
        ]
        positive = [c for c in contributions if c[1] >= 0.005]  # what rounds to +0.00 is noise
        return sorted(positive, key=lambda c: (-c[1], c[0]))[:top]
