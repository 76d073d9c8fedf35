"""Labelled data for calibrating and measuring the detector, read from ``../shared/data``.

The data is never copied into the project (its licences allow evaluation, not
redistribution): it is read where it lies, split by a fixed rule on each text's hash, so
the risk model's training split and the held-back split never mix, run after run.

- ``tickets``: English and German support tickets labelled with priority, type, queue.
  "Escalate" is measured against high priority, severity against priority, path against
  the queue that handled the ticket.
- ``banking77``: real banking queries; its fraud and security intents must escalate.
"""

from __future__ import annotations

import csv
import hashlib
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from baton.settings import PROJECT_ROOT
from domain.detection import DetectionContext, Verdict, strongest
from domain.detector import Detector
from domain.language import Language
from domain.models import Author, CustomerTier, IncomingMessage
from domain.scores import binary_scores
from domain.states import EscalationLevel, Severity

FRAUD_INTENTS = frozenset(
    {
        "compromised_card",
        "lost_or_stolen_card",
        "lost_or_stolen_phone",
        "card_payment_not_recognised",
        "cash_withdrawal_not_recognised",
        "direct_debit_payment_not_recognised",
    }
)
"""BANKING77 intents a bank escalates at once (its README)."""

QUEUE_PATHS = {
    "Technical Support": "it_incident",
    "IT Support": "it_incident",
    "Service Outages and Maintenance": "it_incident",
    "Billing and Payments": "billing",
    "Customer Service": "customer_support",
    "Returns and Exchanges": "customer_support",
    "General Inquiry": "customer_support",
    "Product Support": "product",
    "Sales and Pre-Sales": "product",
}
"""The tickets' queues as this project's escalation paths (for measuring the path)."""

SEVERITY_AS_PRIORITY = {
    Severity.CRITICAL: "high",
    Severity.HIGH: "high",
    Severity.MEDIUM: "medium",
    Severity.LOW: "low",
}


class DataNotFound(Exception):
    """The shared data directory or one of its files is missing."""


def shared_data() -> Path:
    """``$BATON_SHARED_DATA`` or ``../shared/data`` beside the project."""
    return Path(os.environ.get("BATON_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))


@dataclass(frozen=True)
class Example:
    """One labelled text of a data set."""

    source: str
    text: str
    language: Language
    needs_human: bool
    priority: str | None = None
    queue: str | None = None
    intent: str | None = None

    @property
    def held_back(self) -> bool:
        """In the evaluation split: the risk model never trains on it."""
        digest = hashlib.sha256(self.text.encode("utf-8")).digest()
        share = 2 if self.source == "tickets" else 5  # tickets are few: half are held back
        return digest[0] % share == 0


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise DataNotFound(f"{path}: not found (the shared data lives in ../shared/data)")
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def tickets(root: Path | None = None) -> list[Example]:
    """The multilingual support tickets (subject and body as the customer's message)."""
    rows = _read_csv((root or shared_data()) / "tickets" / "dev.csv")
    return [
        Example(
            source="tickets",
            text=f"{r['subject']}\n{r['body']}".replace("\\n", "\n").strip(),
            language=Language(r["language"]),
            needs_human=r["priority"] == "high",
            priority=r["priority"],
            queue=r["queue"],
        )
        for r in rows
    ]


def banking77(root: Path | None = None) -> list[Example]:
    """The BANKING77 queries; fraud and security intents need a human."""
    rows = _read_csv((root or shared_data()) / "banking77" / "train.csv")
    return [
        Example(
            source="banking77",
            text=r["text"].strip(),
            language=Language.EN,
            needs_human=r["category"] in FRAUD_INTENTS,
            intent=r["category"],
        )
        for r in rows
    ]


def split(examples: Iterable[Example]) -> tuple[list[Example], list[Example]]:
    """``(training, held_back)`` by the fixed hash rule."""
    train: list[Example] = []
    held: list[Example] = []
    for e in examples:
        (held if e.held_back else train).append(e)
    return train, held


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


def predicted_priority(verdict: Verdict) -> str:
    """The verdict's severity in the tickets' priority scale."""
    top = strongest(verdict.hits)
    return SEVERITY_AS_PRIORITY[top.severity] if top else "low"


def predicted_path(verdict: Verdict, default_path: str) -> str:
    """The path of the strongest reason, or the default path."""
    top = strongest(verdict.hits)
    return top.path if top else default_path


def macro_scores(truth: Sequence[str], predicted: Sequence[str]) -> dict[str, float]:
    """Macro-averaged precision, recall and F1 over the classes in ``truth``, and accuracy."""
    classes = sorted(set(truth))
    per_class = [
        binary_scores([t == c for t in truth], [p == c for p in predicted]) for c in classes
    ]
    n = len(truth)
    return {
        "precision": round(sum(s.precision for s in per_class) / len(classes), 3),
        "recall": round(sum(s.recall for s in per_class) / len(classes), 3),
        "f1": round(sum(s.f1 for s in per_class) / len(classes), 3),
        "accuracy": round(sum(t == p for t, p in zip(truth, predicted, strict=True)) / n, 3),
        "n": n,
    }


def _baseline_predictions(training: Sequence[Example], held_back: Sequence[Example]) -> list[bool]:
    """The plain baseline: logistic regression on TF-IDF of the same text."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(
        TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1),
        LogisticRegression(class_weight="balanced", max_iter=2000),
    )
    model.fit([e.text for e in training], [e.needs_human for e in training])
    return [bool(p) for p in model.predict([e.text for e in held_back])]


def _tickets_report(detector: Detector, rows: Sequence[Example]) -> dict[str, object]:
    training, held_back = split(rows)
    verdicts = [assess(detector, e) for e in held_back]
    baseline = _baseline_predictions(training, held_back)
    default_path = detector.policy.default_path
    report: dict[str, object] = {}
    for language in ("en", "de", "all"):
        idx = [i for i, e in enumerate(held_back) if language in ("all", e.language.value)]
        truth = [held_back[i].needs_human for i in idx]
        report[language] = {
            "escalate": binary_scores(truth, [escalates(verdicts[i]) for i in idx]).as_dict(),
            "baseline_tfidf": binary_scores(truth, [baseline[i] for i in idx]).as_dict(),
            "severity_vs_priority": macro_scores(
                [held_back[i].priority or "" for i in idx],
                [predicted_priority(verdicts[i]) for i in idx],
            ),
            "path_vs_queue": macro_scores(
                [QUEUE_PATHS.get(held_back[i].queue or "", default_path) for i in idx],
                [predicted_path(verdicts[i], default_path) for i in idx],
            ),
        }
    report["split"] = {"training": len(training), "held_back": len(held_back)}
    return report


def _banking_report(detector: Detector, rows: Sequence[Example]) -> dict[str, object]:
    _, held_back = split(rows)
    verdicts = [assess(detector, e) for e in held_back]
    truth = [e.needs_human for e in held_back]
    fraud = [any(h.name == "fraud" for h in v.hits) for v in verdicts]
    escalated = [escalates(v) for v in verdicts]
    routine = [esc for esc, t in zip(escalated, truth, strict=True) if not t]
    return {
        "fraud_reason": binary_scores(truth, fraud).as_dict(),
        "escalate": binary_scores(truth, escalated).as_dict(),
        "escalation_rate_all": round(sum(escalated) / len(escalated), 3),
        "escalation_rate_routine": round(sum(routine) / len(routine), 3),
        "held_back": len(held_back),
    }


def _cost_per_message(detector: Detector, rows: Sequence[Example]) -> dict[str, float]:
    pairs = [as_first_message(e) for e in rows]
    start = time.process_time()
    for message, context in pairs:
        detector.assess(message, context)
    seconds = time.process_time() - start
    return {
        "messages": len(pairs),
        "cpu_us_per_message": round(seconds / len(pairs) * 1e6, 1),
        "messages_per_cpu_second": round(len(pairs) / seconds) if seconds else 0,
    }


def report(detector: Detector, root: Path | None = None) -> dict[str, object]:
    """Every figure of the detection evaluation, on the held-back splits."""
    ticket_rows, bank_rows = tickets(root), banking77(root)
    model = detector.risk_model
    return {
        "policy_version": detector.policy.version,
        "model_version": model.version if model else None,
        "tickets": _tickets_report(detector, ticket_rows),
        "banking77": _banking_report(detector, bank_rows),
        "cost": _cost_per_message(detector, [*ticket_rows, *bank_rows]),
    }
