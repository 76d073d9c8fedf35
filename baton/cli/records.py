"""``baton case export``, ``baton export cases`` and ``baton retention``: the
documentation store from the command line (no Temporal connection needed)."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from baton.settings import Settings
from baton.store.cases import CaseStore
from baton.store.exports import (
    CaseNotOnRecord,
    load_record,
    record_html,
    record_json,
    record_markdown,
    training_rows,
    write_csv,
    write_jsonl,
)
from domain.language import Language

out = Console()
err = Console(stderr=True)

export_app = typer.Typer(help="Export cases of a period for training and review.")
retention_app = typer.Typer(help="Remove personal data of old closed cases.")


class ReportFormat(StrEnum):
    """Formats of one case's record."""

    JSON = "json"
    MARKDOWN = "markdown"
    HTML = "html"


class PeriodFormat(StrEnum):
    """Formats of a period's cases."""

    JSONL = "jsonl"
    CSV = "csv"


OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="Write to this file (default: stdout).")
]


def _store() -> CaseStore:
    return CaseStore(Settings().database_url)


def case_export(
    case_id: str,
    format: Annotated[ReportFormat, typer.Option("--format", "-f")] = ReportFormat.MARKDOWN,
    language: Annotated[
        Language | None, typer.Option(help="Report language (default: the customer's).")
    ] = None,
    output: OutputOption = None,
) -> None:
    """Export one case's record: JSON, or the readable report (Markdown, HTML)."""
    store = _store()
    try:
        record = load_record(store, case_id)
    except CaseNotOnRecord as e:
        err.print(f"[red]not found:[/red] {e}")
        raise typer.Exit(3) from None
    finally:
        store.close()
    lang = language.value if language else None
    text = {
        ReportFormat.JSON: lambda: record_json(record),
        ReportFormat.MARKDOWN: lambda: record_markdown(record, lang),
        ReportFormat.HTML: lambda: record_html(record, lang),
    }[format]()
    _emit(text, output)


def _day(value: str, option: str) -> datetime:
    try:
        return datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
    except ValueError:
        err.print(f"[red]invalid input:[/red] {option} must be a date like 2026-11-01")
        raise typer.Exit(2) from None


@export_app.command("cases")
def export_cases(
    since: Annotated[str, typer.Option(help="First day (UTC), e.g. 2026-11-01.")],
    until: Annotated[str, typer.Option(help="Day after the last (UTC), exclusive.")],
    format: Annotated[PeriodFormat, typer.Option("--format", "-f")] = PeriodFormat.JSONL,
    output: OutputOption = None,
) -> None:
    """Every case opened in [since, until): labels and transcript, one per line or row."""
    start, end = _day(since, "--since"), _day(until, "--until")
    if end <= start:
        err.print("[red]invalid input:[/red] --until must be after --since")
        raise typer.Exit(2)
    store = _store()
    writer = write_jsonl if format is PeriodFormat.JSONL else write_csv
    try:
        if output is None:
            count = writer(training_rows(store, start, end), sys.stdout)
        else:
            with output.open("w", encoding="utf-8", newline="") as target:
                count = writer(training_rows(store, start, end), target)
    finally:
        store.close()
    err.print(f"{count} case(s) exported")


@retention_app.command("purge")
def purge(
    days: Annotated[
        int | None,
        typer.Option(
            min=1, help="Keep this many days after closing (default: BATON_RETENTION_DAYS)."
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Only list the cases.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Remove transcripts and every personal text of cases closed more than DAYS ago;
    the anonymised figures stay for the KPIs."""
    keep = days or Settings().baton_retention_days
    now = datetime.now(UTC)
    store = _store()
    try:
        cutoff = now - timedelta(days=keep)
        due = store.purgeable(cutoff) if dry_run else store.purge_closed_before(cutoff, now)
    finally:
        store.close()
    if as_json:
        out.print_json(data={"days": keep, "dry_run": dry_run, "cases": due})
    else:
        verb = "would purge" if dry_run else "purged"
        out.print(f"{verb} {len(due)} case(s) closed more than {keep} days ago")


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        err.print(f"written to {output}")
