"""Exports of the documentation store: one case as JSON, Markdown or HTML (the
"Dokumentation des Falls"), and all cases of a period as JSON Lines or CSV for training.

The readable reports are Jinja templates in ``config/reports/<language>/case.md.j2``;
HTML is that Markdown rendered by markdown-it-py with raw HTML disabled, so text from
a conversation can never inject markup into the report.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from html import escape
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markdown_it import MarkdownIt

from baton.settings import PROJECT_ROOT
from baton.store.cases import CaseRow, CaseStore

REPORTS = PROJECT_ROOT / "config" / "reports"

TRAINING_COLUMNS = [
    "case_id",
    "opened_at",
    "closed_at",
    "language",
    "channel",
    "customer_tier",
    "state",
    "outcome",
    "path",
    "level",
    "severity",
    "tier",
    "assigned_team",
    "reasons",
    "risk",
    "escalated",
    "handoffs",
    "transfers",
    "sla_breaches",
    "escalation_necessary",
    "escalation_timing",
    "root_cause",
    "policy_version",
    "purged",
    "transcript",
]
"""One row per case: the labels (escalated, necessary, timing, root cause) beside the
customer's words, which is what retraining detection needs."""


class CaseNotOnRecord(LookupError):
    """No case with this id in the documentation store."""


def load_record(store: CaseStore, case_id: str) -> dict[str, Any]:
    """Everything the store holds about ``case_id``, as plain JSON-ready data."""
    row = store.case(case_id)
    if row is None:
        raise CaseNotOnRecord(f"no case {case_id!r} in the documentation store")
    case = row.model_dump(mode="json", exclude={"view_json"})
    deliveries: dict[str, list[dict[str, Any]]] = {}
    for d in store.deliveries(case_id):
        deliveries.setdefault(d.notification_key, []).append(d.model_dump(mode="json"))
    return {
        "case": case,
        "view": json.loads(row.view_json),
        "events": [e.model_dump(mode="json") for e in store.events(case_id)],
        "messages": [m.model_dump(mode="json") for m in store.messages(case_id)],
        "assessments": [
            a.model_dump(mode="json", exclude={"reasons_json"})
            | {"reasons": json.loads(a.reasons_json)}
            for a in store.assessments(case_id)
        ],
        "handoffs": [
            h.model_dump(mode="json", exclude={"package_json"})
            | {"package": json.loads(h.package_json) or None}
            for h in store.handoffs(case_id)
        ],
        "notifications": [
            n.model_dump(mode="json", exclude={"context_json"})
            | {"deliveries": deliveries.get(n.key, [])}
            for n in store.outbox(case_id)
        ],
    }


def record_json(record: dict[str, Any]) -> str:
    """The record as indented JSON."""
    return json.dumps(record, ensure_ascii=False, indent=2)


def record_markdown(record: dict[str, Any], language: str | None = None) -> str:
    """The readable report in ``language`` (default: the customer's)."""
    language = language or record["case"]["language"]
    env = Environment(
        loader=FileSystemLoader(REPORTS),
        undefined=StrictUndefined,
        autoescape=False,  # Markdown; HTML output escapes through markdown-it
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["md"] = _markdown_text
    template = env.get_template(f"{language}/case.md.j2")
    return template.render(**record).strip() + "\n"


def record_html(record: dict[str, Any], language: str | None = None) -> str:
    """The readable report as a self-contained HTML page."""
    body = (
        MarkdownIt("commonmark", {"html": False})
        .enable("table")
        .render(record_markdown(record, language))
    )
    title = escape(f"{record['case']['case_id']}")
    return (
        f'<!doctype html>\n<html lang="{escape(language or record["case"]["language"])}">'
        f'<head><meta charset="utf-8"><title>{title}</title><style>{_CSS}</style></head>'
        f"<body>\n{body}</body></html>\n"
    )


def _markdown_text(value: Any) -> str:
    """Text from a conversation inside Markdown: no formatting, no line breaks."""
    text = " ".join(str(value).split())
    for char in "\\`*_{}[]<>()#+-.!|":
        text = text.replace(char, "\\" + char)
    return text


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;"
    "line-height:1.5;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
    "padding:.25rem .5rem;text-align:left;vertical-align:top}h1{font-size:1.6rem}"
)


# ------------------------------------------------------------ period exports
def training_rows(store: CaseStore, since: datetime, until: datetime) -> Iterator[dict[str, Any]]:
    """One row per case opened in [since, until), oldest first."""
    for row in store.cases_opened(since, until):
        yield _training_row(row, store)


def _training_row(row: CaseRow, store: CaseStore) -> dict[str, Any]:
    values = row.model_dump(mode="json")
    out = {c: values.get(c) for c in TRAINING_COLUMNS if c in values}
    out["reasons"] = row.reasons.split(",") if row.reasons else []
    out["escalated"] = row.handoff_at is not None
    out["purged"] = row.purged_at is not None
    out["transcript"] = [
        {"author": m.author, "text": m.text, "at": m.at.isoformat()}
        for m in store.messages(row.case_id)
    ]
    return out


def write_jsonl(rows: Iterable[dict[str, Any]], target: io.TextIOBase | Any) -> int:
    """Write ``rows`` as JSON Lines; returns how many."""
    n = 0
    for row in rows:
        target.write(json.dumps(row, ensure_ascii=False) + "\n")
        n += 1
    return n


def write_csv(rows: Iterable[dict[str, Any]], target: io.TextIOBase | Any) -> int:
    """Write ``rows`` as CSV (reasons comma-joined, transcript one line per message)."""
    writer = csv.DictWriter(target, fieldnames=TRAINING_COLUMNS)
    writer.writeheader()
    n = 0
    for row in rows:
        flat = row | {
            "reasons": ",".join(row["reasons"]),
            "transcript": "\n".join(f"{m['author']}: {m['text']}" for m in row["transcript"]),
        }
        writer.writerow(flat)
        n += 1
    return n
