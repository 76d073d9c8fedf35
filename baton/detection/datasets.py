"""The labelled data Baton learns and is measured on, read from ``../shared/data``.

Never copied into the project (the licences allow evaluation, not redistribution):
each file is read where it lies and split by a fixed rule on each text's digest, so
the training split and the held-back split never mix, run after run. Each example
carries the triggers its label means (a data set's README says which labels need a
human); a trigger no shared data set labels learns from the project's own seeds.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from baton.settings import PROJECT_ROOT
from domain.language import Language

HELD_BACK_SHARE = 5
"""One text in this many is held back from every training (by its digest)."""

BANKING_FRAUD = frozenset(
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
CLINC_FRAUD = frozenset({"report_fraud", "report_lost_card", "freeze_account"})
"""CLINC150 intents that must escalate at once (its README)."""

INTENT_TRIGGERS: Mapping[str, Mapping[str, str]] = {
    "bitext": {"contact_human_agent": "explicit_human_request", "delete_account": "cancellation"},
    "clinc150": dict.fromkeys(CLINC_FRAUD, "fraud"),
    "banking77": {**dict.fromkeys(BANKING_FRAUD, "fraud"), "terminate_account": "cancellation"},
}
"""Which intents of which data set mean which trigger; every other intent is routine."""
OUTAGE_QUEUE = "Service Outages and Maintenance"
"""The tickets' queue for outages: its tickets are the outage trigger's examples."""
URGENT_PRIORITIES = frozenset({"critical", "high"})
"""Ticket priorities counted as "escalate" (an urgency proxy, not a handoff label)."""


SEEDS = "seeds"
SEEDS_FILE = PROJECT_ROOT / "config" / "seeds" / "triggers.csv"
"""Examples written for this project, in both languages (its own licence): the only
labelled examples of the triggers no shared data set labels, and German ones for those
labelled in English only."""


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
    triggers: frozenset[str] = frozenset()
    """The triggers this example's label means (empty: routine for the AI)."""
    label: str = ""
    """The data set's own label (intent, polarity, queue)."""
    priority: str | None = None
    queue: str | None = None
    row: int = 0
    """Its row in the file (1 = the first data row), to look it up there."""
    needs_human_label: bool | None = field(default=None, compare=False)
    """Set where the data set says so directly; otherwise "any trigger"."""

    @property
    def needs_human(self) -> bool:
        """Does the label say a human must take over?"""
        if self.needs_human_label is not None:
            return self.needs_human_label
        return bool(self.triggers)

    @property
    def held_back(self) -> bool:
        """In the evaluation split: no model ever trains on it (seeds always train)."""
        if self.source == SEEDS:
            return False
        digest = hashlib.sha256(" ".join(self.text.lower().split()).encode("utf-8")).digest()
        return digest[0] % HELD_BACK_SHARE == 0

    @property
    def reference(self) -> str:
        """Where to find it: data set and row."""
        return f"{self.source}#{self.row}"


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise DataNotFound(f"{path}: not found (the shared data lives in ../shared/data)")
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _intents(source: str, path: str, column: str, root: Path | None) -> list[Example]:
    triggers = INTENT_TRIGGERS[source]
    return [
        Example(
            source=source,
            text=r["text"].strip(),
            language=Language.EN,
            triggers=frozenset({triggers[r[column]]}) if r[column] in triggers else frozenset(),
            label=r[column],
            row=i,
        )
        for i, r in enumerate(_read_csv((root or shared_data()) / path), start=1)
        if r["text"].strip()
    ]


def bitext(root: Path | None = None) -> list[Example]:
    """Bitext customer-support intents (English)."""
    return _intents("bitext", "bitext/dev.csv", "intent", root)


def clinc150(root: Path | None = None) -> list[Example]:
    """CLINC150 assistant queries (English)."""
    return _intents("clinc150", "clinc150/train.csv", "intent", root)


def banking77(root: Path | None = None) -> list[Example]:
    """BANKING77 banking queries (English)."""
    return _intents("banking77", "banking77/train.csv", "category", root)


def germeval17(root: Path | None = None) -> list[Example]:
    """GermEval 2017 posts about Deutsche Bahn (German); negative ones are the
    negative-sentiment trigger's examples (not all of them need a human)."""
    rows = _read_csv((root or shared_data()) / "germeval17" / "dev.csv")
    return [
        Example(
            source="germeval17",
            text=r["text"].strip(),
            language=Language.DE,
            triggers=frozenset({"negative_sentiment"})
            if r["polarity"] == "negative"
            else frozenset(),
            label=r["polarity"],
            row=i,
            needs_human_label=False,
        )
        for i, r in enumerate(rows, start=1)
        if r["text"].strip()
    ]


def _ticket(source: str, row: int, r: Mapping[str, str]) -> Example:
    text = f"{r['subject']}\n{r['body']}".replace("\\n", "\n").strip()
    return Example(
        source=source,
        text=text,
        language=Language(r["language"]),
        triggers=frozenset({"service_outage"}) if r["queue"] == OUTAGE_QUEUE else frozenset(),
        label=r["queue"],
        priority=r["priority"],
        queue=r["queue"],
        row=row,
        needs_human_label=r["priority"] in URGENT_PRIORITIES,
    )


def tickets(root: Path | None = None) -> list[Example]:
    """Support tickets in English and German (priority, queue), subject and body."""
    rows = _read_csv((root or shared_data()) / "tickets" / "train.csv")
    return [_ticket("tickets", i, r) for i, r in enumerate(rows, start=1)]


def german_tickets(root: Path | None = None) -> list[Example]:
    """German tickets with five priority levels and fine-grained queues."""
    rows = _read_csv((root or shared_data()) / "tickets" / "german-5-levels.csv")
    return [_ticket("tickets_de5", i, r) for i, r in enumerate(rows, start=1)]


def seeds(_root: Path | None = None) -> list[Example]:
    """The project's own seed examples (``config/seeds/triggers.csv``: text, language,
    trigger; an empty trigger is a routine message)."""
    return [
        Example(
            source=SEEDS,
            text=r["text"].strip(),
            language=Language(r["language"]),
            triggers=frozenset({r["trigger"]}) if r["trigger"] else frozenset(),
            label=r["trigger"] or "routine",
            row=i,
        )
        for i, r in enumerate(_read_csv(SEEDS_FILE), start=1)
    ]


LOADERS: Mapping[str, Callable[[Path | None], list[Example]]] = {
    SEEDS: seeds,
    "bitext": bitext,
    "clinc150": clinc150,
    "banking77": banking77,
    "germeval17": germeval17,
    "tickets": tickets,
    "tickets_de5": german_tickets,
}
"""Every data set by name."""


def load_all(root: Path | None = None) -> dict[str, list[Example]]:
    """Every data set, by name."""
    return {name: load(root) for name, load in LOADERS.items()}


def split(examples: Iterable[Example]) -> tuple[list[Example], list[Example]]:
    """``(training, held_back)`` by the fixed digest rule."""
    train: list[Example] = []
    held: list[Example] = []
    for e in examples:
        (held if e.held_back else train).append(e)
    return train, held
