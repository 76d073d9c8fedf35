"""Measures the detector on the held-back split of the shared data (``make eval-detection``).

Per trigger, data set and language: recall, false-alarm rate, precision and F1 of the
detector (phrases and learned heads together, as the worker runs them), beside a plain
baseline trained in the same run on the same training rows (logistic regression on
TF-IDF of the text). Also: the trigger learned on one source measured on another
(generalisation), the escalation rate on routine traffic, the tickets' escalate decision
against their priority (an urgency proxy, reported, not tuned to) and the cost per
message with and without the learned stage.
"""

from __future__ import annotations

import csv
import os
import statistics
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from baton.detection.datasets import (
    LOADERS,
    SEEDS,
    DataNotFound,
    Example,
    load_all,
    shared_data,
    split,
)
from baton.detection.trigger_training import Encoder, TrainingSpec, fit_head, training_rows
from baton.settings import ConfigError
from domain.detection import DetectionContext, Verdict, strongest
from domain.detector import Detector
from domain.language import Language
from domain.models import Author, CustomerTier, IncomingMessage
from domain.scores import binary_scores
from domain.states import EscalationLevel, Severity
from domain.triggers import LearnedTriggers, TriggerHead, words_of

__all__ = ["LOADERS", "DataNotFound", "evaluate", "report", "shared_data"]

OWN_PHRASINGS = Path(__file__).resolve().parents[2] / "bench" / "own_phrasings.csv"
"""Requests written for this project (not from any data set): the other source."""

SEVERITY_AS_PRIORITY = {
    Severity.CRITICAL: "high",
    Severity.HIGH: "high",
    Severity.MEDIUM: "medium",
    Severity.LOW: "low",
}


def as_first_message(example: Example) -> tuple[IncomingMessage, DetectionContext]:
    """A labelled text as the first customer message of a new case."""
    message = IncomingMessage(message_id="eval", author=Author.CUSTOMER, text=example.text)
    context = DetectionContext(
        language=example.language,
        customer_tier=CustomerTier.STANDARD,
        first_customer_message=True,
    )
    return message, context


def assess(detector: Detector, example: Example) -> Verdict:
    """The detector's verdict on one example."""
    return detector.assess(*as_first_message(example))


def escalates(verdict: Verdict) -> bool:
    """Would this verdict bring a human in (a reason at level 2 or 3)?"""
    return any(h.level >= EscalationLevel.TAKEOVER for h in verdict.hits)


def _baseline(rows: Sequence[Example], labels: Sequence[bool]) -> Any:
    """The plain baseline: logistic regression on TF-IDF of the same training rows."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(
        TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1),
        LogisticRegression(class_weight="balanced", max_iter=2000),
    )
    return model.fit([e.text for e in rows], list(labels))


def _trigger_baseline(
    reason: str, training: TrainingSpec, data: Mapping[str, Sequence[Example]]
) -> Any:
    rows = training_rows(reason, training.triggers[reason], data, training.routine_per_label)
    return _baseline(rows, [reason in e.triggers for e in rows])


def _figures(truth: Sequence[bool], predicted: Sequence[bool]) -> dict[str, float | int]:
    return binary_scores(truth, predicted).as_dict()


def _groups(held: Mapping[str, Sequence[Example]]) -> dict[str, list[Example]]:
    """Held-back rows by ``source/language``."""
    groups: dict[str, list[Example]] = {}
    for source, rows in held.items():
        for e in rows:
            groups.setdefault(f"{source}/{e.language.value}", []).append(e)
    return groups


def _trigger_report(
    reason: str,
    groups: Mapping[str, Sequence[Example]],
    verdicts: Mapping[int, Verdict],
    baseline: Any,
) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, rows in sorted(groups.items()):
        truth = [reason in e.triggers for e in rows]
        fired = [any(h.name == reason for h in verdicts[id(e)].hits) for e in rows]
        base = [bool(p) for p in baseline.predict([e.text for e in rows])]
        result[key] = {
            "positives": sum(truth),
            "detector": _figures(truth, fired),
            "baseline_tfidf": _figures(truth, base),
        }
    return result


def _transfer(
    encoder: Encoder,
    data: Mapping[str, Sequence[Example]],
    training: TrainingSpec,
) -> dict[str, object]:
    """Each trigger learned without one of its labelled data sets, measured on that
    set's held-back rows: how it does on text from a source it never saw."""
    result: dict[str, object] = {}
    for reason, spec in sorted(training.triggers.items()):
        labelled = [
            s for s in spec.sources if s != SEEDS and any(reason in e.triggers for e in data[s])
        ]
        if not labelled:
            continue
        for left_out in labelled:
            rest = [s for s in spec.sources if s != left_out]
            if not any(reason in e.triggers for s in rest for e in data[s]):
                continue
            narrower = spec.model_copy(update={"sources": rest})
            rows = training_rows(reason, narrower, data, training.routine_per_label)
            vectors = encoder.encode_many([e.text for e in rows])
            head = fit_head(reason, rows, vectors, narrower, training, "")
            held = [e for e in data[left_out] if e.held_back]
            result[f"{reason}: without {left_out}, on {left_out}"] = _head_figures(
                encoder, head, held, reason
            )
    return result


def _head_figures(
    encoder: Encoder, head: TriggerHead, rows: Sequence[Example], reason: str
) -> dict[str, float | int]:
    vectors = encoder.encode_many([e.text for e in rows])
    predicted = [
        head.probability(v.tolist(), words_of(e.text)) >= head.threshold
        for e, v in zip(rows, vectors, strict=True)
    ]
    return _figures([reason in e.triggers for e in rows], predicted)


def own_phrasings(path: Path = OWN_PHRASINGS) -> list[Example]:
    """The project's own phrasings (``bench/own_phrasings.csv``: text, language, trigger)."""
    with path.open(encoding="utf-8", newline="") as f:
        return [
            Example(
                source="own",
                text=r["text"],
                language=Language(r["language"]),
                triggers=frozenset({r["trigger"]}) if r["trigger"] else frozenset(),
                label=r["trigger"] or "routine",
                row=i,
            )
            for i, r in enumerate(csv.DictReader(f), start=1)
        ]


def _own_report(detector: Detector, reasons: Sequence[str]) -> dict[str, object]:
    """Per trigger and language on the project's own phrasings, and how often their
    routine messages escalate."""
    rows = own_phrasings()
    verdicts = {id(e): assess(detector, e) for e in rows}
    result: dict[str, object] = {}
    for language in Language:
        group = [e for e in rows if e.language is language]
        for reason in reasons:
            truth = [reason in e.triggers for e in group]
            if any(truth):
                fired = [any(h.name == reason for h in verdicts[id(e)].hits) for e in group]
                result[f"{reason}/{language.value}"] = _figures(truth, fired)
        routine = [e for e in group if not e.triggers]
        rate = sum(escalates(verdicts[id(e)]) for e in routine) / len(routine)
        result[f"routine/{language.value}"] = {"escalation_rate": round(rate, 3), "n": len(routine)}
    return result


def _routine(
    groups: Mapping[str, Sequence[Example]], verdicts: Mapping[int, Verdict]
) -> dict[str, object]:
    """How often routine traffic (no trigger in its label) escalates."""
    result: dict[str, object] = {}
    for key, rows in sorted(groups.items()):
        routine = [e for e in rows if not e.triggers and not e.source.startswith("tickets")]
        if routine:
            rate = sum(escalates(verdicts[id(e)]) for e in routine) / len(routine)
            result[key] = {"escalation_rate": round(rate, 3), "n": len(routine)}
    return result


def _tickets(
    groups: Mapping[str, Sequence[Example]],
    verdicts: Mapping[int, Verdict],
    data: Mapping[str, Sequence[Example]],
) -> dict[str, object]:
    """Escalate against high (and critical) priority, with a TF-IDF baseline on priority."""
    result: dict[str, object] = {}
    for source in ("tickets", "tickets_de5"):
        training, _ = split(data[source])
        baseline = _baseline(training, [e.needs_human for e in training])
        for key in sorted(k for k in groups if k.startswith(f"{source}/")):
            rows = groups[key]
            truth = [e.needs_human for e in rows]
            result[key] = {
                "escalate": _figures(truth, [escalates(verdicts[id(e)]) for e in rows]),
                "baseline_tfidf": _figures(
                    truth, [bool(p) for p in baseline.predict([e.text for e in rows])]
                ),
                "severity_high": _figures(
                    truth,
                    [
                        (top := strongest(verdicts[id(e)].hits)) is not None
                        and SEVERITY_AS_PRIORITY[top.severity] == "high"
                        for e in rows
                    ],
                ),
            }
    return result


def cost(detector: Detector, examples: Sequence[Example], repeat: int = 1) -> dict[str, float]:
    """CPU time per message, one by one on this thread: mean, p50, p99 (ms)."""
    pairs = [as_first_message(e) for e in examples] * repeat
    times = []
    for message, context in pairs:
        start = time.perf_counter()
        detector.assess(message, context)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {
        "messages": len(times),
        "mean_ms": round(statistics.fmean(times), 3),
        "p50_ms": round(times[len(times) // 2], 3),
        "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 3),
        "messages_per_second": round(1000 / statistics.fmean(times), 1),
    }


def report(
    detector: Detector,
    training: TrainingSpec,
    encoder: Encoder,
    root: Path | None = None,
) -> dict[str, object]:
    """Every figure of the detection evaluation, on the held-back splits.

    ``detector`` runs with ``encoder`` (a cached one, for speed); ``training`` says
    which rows each trigger's baseline trains on."""
    data = load_all(root)
    held = {source: [e for e in rows if e.held_back] for source, rows in data.items()}
    groups = _groups(held)
    everything = [e for rows in held.values() for e in rows]
    encoder.encode_many([e.text for e in everything])  # one batch, then cache hits
    verdicts = {id(e): assess(detector, e) for e in everything}
    reasons = sorted(training.triggers)
    triggers = {
        reason: _trigger_report(
            reason,
            groups,
            verdicts,
            _trigger_baseline(reason, training, data),
        )
        for reason in reasons
    }
    model = detector.risk_model
    return {
        "policy_version": detector.policy.version,
        "model_version": model.version if model else None,
        "trigger_model_version": detector.learned.model.version if detector.learned else None,
        "held_back": {s: len(rows) for s, rows in held.items()},
        "triggers": triggers,
        "own_phrasings": _own_report(detector, reasons),
        "transfer": _transfer(encoder, data, training),
        "routine": _routine(groups, verdicts),
        "tickets": _tickets(groups, verdicts, data),
    }


def evaluate(detector: Detector, policy_file: Path, cache: Path) -> dict[str, object]:
    """The whole evaluation of ``detector`` (the worker's, from ``policy_file``): the
    held-back figures with cached embeddings, then the cost per message on this thread
    with and without the learned stage."""
    from baton.detection.embedding import CachedEncoder, E5Encoder
    from baton.detection.loading import beside
    from baton.detection.risk_training import TRIGGER_SPEC
    from baton.detection.trigger_training import load_spec

    training = load_spec(beside(policy_file, TRIGGER_SPEC))
    if detector.learned is None:
        raise ConfigError(f"{policy_file}: detection.learned.model names no trigger model")
    encoder = CachedEncoder(
        E5Encoder(detector.learned.model.max_tokens, os.cpu_count() or 1), cache
    )
    cached = detector.with_learned(LearnedTriggers(detector.learned.model, encoder))
    figures = report(cached, training, encoder)
    sample = own_phrasings() + [
        e for rows in load_all().values() for e in rows if e.held_back
    ][::40]
    plain = detector.with_learned(None)
    figures["cost"] = {
        "with_learned": cost(detector, sample),
        "without_learned": cost(plain, sample, repeat=20),
    }
    return figures
