"""Trains the predictive risk model from labelled conversations (scikit-learn).

The model is a logistic regression over the detector's named features, so its weights
say how much each signal counts. Training uses only the training split of the shared
data (see :mod:`baton.detection.datasets`); the held-back figures are stored with the model.
The learning loop retrains it from documented cases the same way.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from baton.detection.datasets import Example, load_all, split
from baton.detection.embedding import ENCODER_NAME, CachedEncoder, E5Encoder
from baton.detection.evaluation import as_first_message
from baton.detection.loading import beside, model_path, sentiment_scorers
from baton.detection.trigger_training import SEED, capped, load_spec, train_triggers
from baton.detection.trigger_training import save as save_triggers
from baton.settings import ConfigError, load_policy
from domain.detector import Detector
from domain.risk import RiskModel
from domain.scores import binary_scores
from domain.triggers import LearnedTriggers, TriggerModel

REGULARISATION = 1.0
"""Inverse regularisation strength C: moderate, as the tickets are few."""


def _matrix(detector: Detector, examples: Sequence[Example], names: list[str]) -> list[list[float]]:
    rows = []
    for example in examples:
        features = detector.features(*as_first_message(example))
        rows.append([features.get(name, 0.0) for name in names])
    return rows


def _source_weights(examples: Sequence[Example]) -> list[float]:
    # Each data set counts as much as the other, however many rows it has.
    counts = Counter(e.source for e in examples)
    total = len(examples)
    return [total / (len(counts) * counts[e.source]) for e in examples]


def train(detector: Detector, examples: Sequence[Example]) -> RiskModel:
    """Fit the risk model on the training split of ``examples``; score it on the rest."""
    training, held_back = split(examples)
    if not any(e.needs_human for e in training) or all(e.needs_human for e in training):
        raise ValueError("training split needs examples of both classes")
    names = detector.feature_names()
    sources = Counter(e.source for e in training)
    unscored = fit_risk_model(
        names,
        _matrix(detector, training, names),
        [e.needs_human for e in training],
        _source_weights(training),
        trained_on=(
            "training split of "
            + ", ".join(f"{source} ({n} rows)" for source, n in sorted(sources.items()))
            + f"; logistic regression C={REGULARISATION}, balanced classes, equal weight per set"
        ),
    )
    return unscored.model_copy(
        update={"metrics": _held_back_metrics(detector, unscored, held_back)}
    )


def fit_risk_model(
    names: list[str],
    rows: Sequence[Sequence[float]],
    labels: Sequence[bool],
    weights: Sequence[float] | None = None,
    trained_on: str = "",
) -> RiskModel:
    """A logistic model over the features ``names`` fitted to ``rows`` and ``labels``;
    its version is a digest of its weights."""
    from sklearn.linear_model import LogisticRegression  # heavy: only when training

    fit = LogisticRegression(C=REGULARISATION, class_weight="balanced", max_iter=2000)
    fit.fit(rows, labels, sample_weight=weights)
    coefficients = [round(float(w), 6) for w in fit.coef_[0]]
    intercept = round(float(fit.intercept_[0]), 6)
    digest = hashlib.sha256(json.dumps([names, coefficients, intercept]).encode()).hexdigest()
    return RiskModel(
        version=f"risk-{digest[:10]}",
        features=names,
        coefficients=coefficients,
        intercept=intercept,
        trained_on=trained_on,
    )


def _held_back_metrics(
    detector: Detector, model: RiskModel, held_back: Sequence[Example]
) -> dict[str, float]:
    threshold = detector.policy.detection.risk.threshold
    metrics: dict[str, float] = {}
    for source in sorted({e.source for e in held_back}):
        rows = [e for e in held_back if e.source == source]
        predicted = [
            model.probability(detector.features(*as_first_message(e))) >= threshold for e in rows
        ]
        scores = binary_scores([e.needs_human for e in rows], predicted)
        metrics[f"{source}_precision"] = round(scores.precision, 3)
        metrics[f"{source}_recall"] = round(scores.recall, 3)
        metrics[f"{source}_f1"] = round(scores.f1, 3)
        metrics[f"{source}_n"] = len(rows)
    return metrics


def save(model: RiskModel, path: Path) -> None:
    """Write the model as indented JSON (reviewable in a diff)."""
    path.write_text(model.model_dump_json(indent=2) + "\n", encoding="utf-8")


TRIGGER_SPEC = "triggers.toml"
"""The learned triggers' training spec, beside the policy file."""
RISK_SOURCES = ("bitext", "clinc150", "banking77")
"""Data sets whose labels say directly whether a human must take over (the tickets'
priority is an urgency proxy: reported by the evaluation, not trained on)."""


def _risk_rows(data: Mapping[str, Sequence[Example]], per_label: int) -> list[Example]:
    """The risk model's data: held-back rows all (its figures), and the training split
    :func:`capped` per data set."""
    rng = random.Random(SEED)
    rows: list[Example] = []
    for source in RISK_SOURCES:
        training, held_back = split(data[source])
        rows += held_back + capped(training, lambda e: e.needs_human, per_label, rng)
    return rows


def train_detection(
    policy_file: Path, cache: Path, threads: int
) -> tuple[tuple[Path, TriggerModel], tuple[Path, RiskModel]]:
    """Train the trigger heads, then the risk model over the detector that runs them;
    write both where the policy names them. Returns each model with its path."""
    policy = load_policy(policy_file)
    if not policy.detection.learned.model:
        raise ConfigError(f"{policy_file}: detection.learned.model names no trigger model file")
    spec = load_spec(beside(policy_file, TRIGGER_SPEC))
    data = load_all()
    encoder = CachedEncoder(E5Encoder(spec.max_tokens, threads), cache)
    triggers = train_triggers(encoder, ENCODER_NAME, data, spec)
    trigger_path = beside(policy_file, policy.detection.learned.model)
    save_triggers(triggers, trigger_path)
    detector = Detector(policy, sentiment_scorers(), None, LearnedTriggers(triggers, encoder))
    rows = _risk_rows(data, spec.routine_per_label)
    encoder.encode_many([e.text for e in rows])
    risk = train(detector, rows)
    risk_path = model_path(policy, policy_file)
    save(risk, risk_path)
    return (trigger_path, triggers), (risk_path, risk)
