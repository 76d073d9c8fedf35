"""``baton report``: the key figures of a period, as a table, JSON or an HTML page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from baton.cli.records import _day, _store
from baton.reports.kpis import (
    GROUPS,
    KPI_CONFIG,
    PERIODS,
    SHORT_LABELS,
    KpiReport,
    figure_rows,
    flags,
    period_report,
    write_html,
)
from domain.kpis import Dimension, KpiTargets

out = Console()
err = Console(stderr=True)


def report(
    since: Annotated[
        str | None, typer.Option(help="First day (UTC), e.g. 2026-11-01 (default: 30 days ago).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Day after the last (UTC), exclusive (default: tomorrow).")
    ] = None,
    period: Annotated[
        Dimension, typer.Option(help="Trend granularity: day, week or month.")
    ] = Dimension.WEEK,
    by: Annotated[
        list[Dimension] | None,
        typer.Option(help="Also break down by team, tier, channel or reason (repeatable)."),
    ] = None,
    html: Annotated[
        Path | None, typer.Option(help="Also write the HTML report with charts to this file.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Escalation KPIs of the cases opened in [since, until), from the documentation store."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = _day(since, "--since") if since else today - timedelta(days=30)
    end = _day(until, "--until") if until else today + timedelta(days=1)
    groups = by or []
    wrong = [g.value for g in groups if g not in GROUPS]
    if end <= start or period not in PERIODS or wrong:
        problem = (
            "--until must be after --since"
            if end <= start
            else "--period must be day, week or month"
            if period not in PERIODS
            else f"--by must be team, tier, channel or reason, not {', '.join(wrong)}"
        )
        err.print(f"[red]invalid input:[/red] {problem}")
        raise typer.Exit(2)
    try:
        targets = KpiTargets.load(KPI_CONFIG)
    except ValueError as e:
        err.print(f"[red]invalid config:[/red] {e}")
        raise typer.Exit(2) from None
    store = _store()
    try:
        result = period_report(store, start, end, period, targets)
    finally:
        store.close()
    if html is not None:
        write_html(result, html)
        err.print(f"HTML report written to {html}")
    if as_json:
        out.print_json(result.model_dump_json())
        return
    _print_tables(result, [period, *groups])


def _print_tables(result: KpiReport, dimensions: list[Dimension]) -> None:
    overall = Table(title=f"Cases opened {result.since.date()} – {result.until.date()} (exclusive)")
    overall.add_column("figure")
    overall.add_column("value", justify="right")
    for label, value in figure_rows(result.overall):
        overall.add_row(label, value)
    out.print(overall)
    for dimension in dimensions:
        rows = result.breakdowns[dimension]
        table = Table(title=f"By {dimension.value}")
        table.add_column(dimension.value)
        for label in SHORT_LABELS:
            table.add_column(SHORT_LABELS[label], justify="right")
        for key, figures in rows.items():
            values = dict(figure_rows(figures))
            table.add_row(key, *(values[label] for label in SHORT_LABELS))
        out.print(table)
    for flag in flags(result):
        out.print(f"[red]![/red] {flag}")
