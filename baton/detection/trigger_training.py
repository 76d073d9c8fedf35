"""Trains the learned triggers (scikit-learn) from the shared data's training split.

One logistic regression per trigger over the message's sentence embedding and a few
hundred words picked by chi-squared, with balanced classes and every data set counting
the same. Its threshold comes from out-of-fold scores on the training split, so the
held-back split stays unseen until ``baton detection eval``, which also refits heads
with :func:`fit_head` to measure them on a source they never saw. On documented cases
the learning loop moves the heads' thresholds (``domain.learning.head_tunables``).
"""

from __future__ import annotations

import json
import random
import tomllib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from baton.detection.datasets import Example
from baton.settings import ConfigError, describe
from domain.language import Language
from domain.scores import binary_scores
from domain.triggers import Prototype, TriggerHead, TriggerModel, model_version, words_of

EMBEDDING_SCALE = 384**0.5
"""Unit vectors have tiny coordinates; scaled so that one penalty suits words and them."""
MIN_NEGATIVES = 100
"""A data set's own false-alarm rate counts for the threshold from this many negatives."""
SEED = 20261204
"""Every random choice of training (subsamples, folds, clusters) starts here."""


class Encoder(Protocol):
    """What training needs of an encoder."""

    def encode_many(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length embeddings of ``texts``, one row each."""
        ...


class TriggerSpec(BaseModel):
    """Where one trigger learns from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sources: list[str] = Field(min_length=1)
    word_features: int | None = Field(default=None, ge=0)
    """Overrides the spec's number of words for this trigger."""
    regularisation: float | None = Field(default=None, gt=0)
    """Overrides the spec's C for this trigger."""
    keep_all: list[str] = []
    """Data sets whose routine examples are all kept (few labels, each one large)."""
    languages: list[Language] = Field(default_factory=lambda: list(Language))
    max_false_alarm: Annotated[float, Field(gt=0, lt=1)] = 0.02
    """The false-alarm budget each data set's negatives must stay within."""
    objective: Literal["recall", "f1"] = "recall"
    """Within the budget: the most recall, or (for a mood, not a request) the best F1."""


class TrainingSpec(BaseModel):
    """``config/triggers.toml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_tokens: int = Field(default=28, gt=0, le=512)
    routine_per_label: int = Field(default=40, gt=0)
    prototypes: int = Field(default=8, ge=0, le=50)
    word_features: int = Field(default=300, ge=0)
    regularisation: float = Field(default=1.0, gt=0)
    triggers: dict[str, TriggerSpec] = Field(min_length=1)


def load_spec(path: Path) -> TrainingSpec:
    """Read and validate the training spec; :class:`ConfigError` names what is wrong."""
    try:
        return TrainingSpec.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except OSError as err:
        raise ConfigError(f"{path}: {err.strerror}") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not TOML ({err})") from None
    except ValidationError as err:
        raise ConfigError(f"{path}: invalid training spec\n{describe(err)}") from None


def capped(
    examples: Iterable[Example],
    positive: Callable[[Example], bool],
    per_label: int,
    rng: random.Random,
) -> list[Example]:
    """Every positive example, then up to ``per_label`` of the others of each label (so
    no big routine intent dominates); ``per_label`` 0 keeps them all."""
    rows: list[Example] = []
    routine: dict[str, list[Example]] = defaultdict(list)
    for e in examples:
        if positive(e):
            rows.append(e)
        else:
            routine[e.label].append(e)
    for label in sorted(routine):
        group = routine[label]
        keep = per_label == 0 or len(group) <= per_label
        rows.extend(group if keep else rng.sample(group, per_label))
    return rows


def training_rows(
    reason: str, spec: TriggerSpec, data: Mapping[str, Sequence[Example]], per_label: int
) -> list[Example]:
    """The training split of the trigger's data sets, :func:`capped` per data set."""
    rng = random.Random(SEED)
    rows: list[Example] = []
    for source in spec.sources:
        cap = 0 if source in spec.keep_all else per_label
        training = (e for e in data[source] if not e.held_back)
        rows += capped(training, lambda e: reason in e.triggers, cap, rng)
    return rows


def _weights(rows: Sequence[Example], labels: Sequence[bool]) -> np.ndarray:
    # Balanced classes, and within each class every data set weighs the same.
    groups = Counter((e.source, y) for e, y in zip(rows, labels, strict=True))
    sources_per_class = Counter(y for _, y in groups)
    total = len(rows)
    return np.array(
        [
            total / (2 * sources_per_class[y] * groups[(e.source, y)])
            for e, y in zip(rows, labels, strict=True)
        ]
    )


def _vocabulary(texts: Sequence[str], labels: Sequence[bool], size: int) -> list[str]:
    """The words most associated with either class (chi-squared), seen in 3+ texts."""
    if size == 0:
        return []
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.feature_selection import chi2

    counter = CountVectorizer(binary=True, token_pattern=r"(?u)\b\w+\b", min_df=3)
    try:
        matrix = counter.fit_transform(texts)
    except ValueError:  # no word seen three times
        return []
    scores, _ = chi2(matrix, labels)
    names = counter.get_feature_names_out()
    order = np.argsort(-np.nan_to_num(scores), kind="stable")[:size]
    return sorted(str(names[i]) for i in order)


def _features(embeddings: np.ndarray, texts: Sequence[str], vocabulary: list[str]) -> np.ndarray:
    index = {w: i for i, w in enumerate(vocabulary)}
    words = np.zeros((len(texts), len(vocabulary)), dtype=np.float32)
    for row, text in enumerate(texts):
        for w in words_of(text):
            if w in index:
                words[row, index[w]] = 1.0
    return np.hstack([embeddings * EMBEDDING_SCALE, words])


def _threshold(
    scores: np.ndarray,
    labels: np.ndarray,
    sources: np.ndarray,
    spec: TriggerSpec,
) -> float:
    """The threshold at which no data set's false-alarm rate (the share of its examples
    without the trigger that fire) exceeds the spec's budget, and, within it, the most
    recall (missing a human moment costs more than a false alarm; ties: the higher
    threshold) or the best F1, as the spec's objective says."""
    # Each data set large enough to say (100+ negatives), and all of them together.
    groups = [(~labels) & (sources == s) for s in np.unique(sources)]
    groups = [g for g in groups if g.sum() >= MIN_NEGATIVES] + [~labels]
    best, best_key = 0.95, (-1.0, -1.0)
    for t in np.round(np.arange(0.05, 0.96, 0.01), 2):
        predicted = scores >= t
        if any(predicted[g].mean() > spec.max_false_alarm for g in groups):
            continue
        found = binary_scores(labels.tolist(), predicted.tolist())
        key = (found.recall, float(t)) if spec.objective == "recall" else (found.f1, -float(t))
        if key > best_key:
            best, best_key = float(t), key
    return best


def _prototypes(
    embeddings: np.ndarray, rows: Sequence[Example], labels: np.ndarray, k: int
) -> list[Prototype]:
    """The medoids of ``k`` clusters of the positive examples, by reference."""
    positive = np.flatnonzero(labels)
    if k == 0 or len(positive) == 0:
        return []
    from sklearn.cluster import KMeans

    k = min(k, len(positive))
    vectors = embeddings[positive]
    clusters = KMeans(n_clusters=k, n_init=4, random_state=SEED).fit(vectors)
    result = []
    for centre in clusters.cluster_centers_:
        medoid = int(np.argmax(vectors @ centre))
        result.append(
            Prototype(
                reference=rows[positive[medoid]].reference,
                vector=[round(float(x), 4) for x in vectors[medoid]],
            )
        )
    return sorted(result, key=lambda p: p.reference)


def fit_head(
    reason: str,
    rows: Sequence[Example],
    embeddings: np.ndarray,
    spec: TriggerSpec,
    training: TrainingSpec,
    trained_on: str,
) -> TriggerHead:
    """One trigger's head fitted to labelled ``rows`` and their ``embeddings``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    labels = np.array([reason in e.triggers for e in rows])
    if labels.all() or not labels.any():
        raise ValueError(f"{reason}: training needs examples with and without the trigger")
    texts = [e.text for e in rows]
    size = training.word_features if spec.word_features is None else spec.word_features
    vocabulary = _vocabulary(texts, labels.tolist(), size)
    x = _features(embeddings, texts, vocabulary)
    weights = _weights(rows, labels.tolist())
    c = training.regularisation if spec.regularisation is None else spec.regularisation
    fit = LogisticRegression(C=c, max_iter=3000)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED)
    out_of_fold = cross_val_predict(
        fit, x, labels, cv=folds, method="predict_proba", params={"sample_weight": weights}
    )[:, 1]
    fit.fit(x, labels, sample_weight=weights)
    coefficients = fit.coef_[0]
    dims = embeddings.shape[1]
    words = {
        w: round(float(c), 4)
        for w, c in zip(vocabulary, coefficients[dims:], strict=True)
        if abs(c) >= 0.01
    }
    sources = np.array([e.source for e in rows])
    threshold = _threshold(out_of_fold, labels, sources, spec)
    scores = binary_scores(labels.tolist(), (out_of_fold >= threshold).tolist())
    return TriggerHead(
        reason=reason,
        weights=[round(float(c) * EMBEDDING_SCALE, 5) for c in coefficients[:dims]],
        words=words,
        intercept=round(float(fit.intercept_[0]), 5),
        threshold=threshold,
        languages=spec.languages,
        prototypes=_prototypes(embeddings, rows, labels, training.prototypes),
        trained_on=trained_on,
        metrics={
            "out_of_fold_recall": round(scores.recall, 3),
            "out_of_fold_precision": round(scores.precision, 3),
            "out_of_fold_f1": round(scores.f1, 3),
            "positives": int(labels.sum()),
            "rows": len(rows),
        },
    )


def train_triggers(
    encoder: Encoder,
    encoder_name: str,
    data: Mapping[str, Sequence[Example]],
    training: TrainingSpec,
) -> TriggerModel:
    """Every head of ``training`` fitted on the training split of ``data``."""
    heads = []
    for reason, spec in sorted(training.triggers.items()):
        missing = [s for s in spec.sources if s not in data]
        if missing:
            raise ValueError(f"{reason}: no data set {', '.join(missing)}")
        rows = training_rows(reason, spec, data, training.routine_per_label)
        embeddings = encoder.encode_many([e.text for e in rows])
        counts = Counter(e.source for e in rows)
        trained_on = "training split of " + ", ".join(
            f"{s} ({n} rows)" for s, n in sorted(counts.items())
        )
        heads.append(fit_head(reason, rows, embeddings, spec, training, trained_on))
    return TriggerModel(
        version=model_version(heads, encoder_name, training.max_tokens),
        encoder=encoder_name,
        dimensions=len(heads[0].weights),
        max_tokens=training.max_tokens,
        heads=heads,
        trained_on="logistic regression over the embedding and the words config/triggers.toml "
        "allows each trigger; balanced classes, equal weight per data set",
    )


def save(model: TriggerModel, path: Path) -> None:
    """Write the model as JSON with one head a line (a retrain's diff stays readable)."""
    data = json.loads(model.model_dump_json())
    heads = data.pop("heads")
    header = json.dumps(data, indent=2, ensure_ascii=False)[:-2]
    body = ",\n".join("    " + json.dumps(h, ensure_ascii=False) for h in heads)
    path.write_text(f'{header},\n  "heads": [\n{body}\n  ]\n}}\n', encoding="utf-8")
