"""``baton report``: the key figures of a period from the documentation store, as a
table, as JSON, and as a self-contained HTML page with charts (matplotlib, inline SVG).

The figures' definitions live in :mod:`domain.kpis`; this module only reads the store
and draws. Purged cases count too: retention keeps every figure the KPIs need.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel

from baton.settings import PROJECT_ROOT
from baton.store.cases import CaseStore
from baton.store.ratings import RatingStore
from domain.handoff_rating import HandoffQuality, handoff_quality
from domain.kpis import (
    CaseFacts,
    Dimension,
    KeyFigures,
    KpiTargets,
    breakdown,
    case_facts,
    human_seconds,
    key_figures,
)
from domain.models import CaseView

KPI_CONFIG = PROJECT_ROOT / "config" / "kpis.toml"
TEMPLATES = PROJECT_ROOT / "config" / "reports"
PERIODS = (Dimension.DAY, Dimension.WEEK, Dimension.MONTH)
GROUPS = (Dimension.TEAM, Dimension.TIER, Dimension.CHANNEL, Dimension.REASON)


class KpiReport(BaseModel):
    """The key figures of the cases opened in [since, until)."""

    since: datetime
    until: datetime
    period: Dimension
    targets: KpiTargets
    overall: KeyFigures
    breakdowns: dict[Dimension, dict[str, KeyFigures]]
    """The period's figures per day, week or month, and per team, tier, channel, reason."""
    handoff_quality: dict[str, dict[str, HandoffQuality]] = {}
    """The receiving agents' ratings of the handoffs, per reason, path and level."""


def period_report(
    store: CaseStore,
    since: datetime,
    until: datetime,
    period: Dimension = Dimension.WEEK,
    targets: KpiTargets | None = None,
) -> KpiReport:
    """The report of the cases opened in [since, until), each read from the store once,
    with the receiving agents' ratings of their handoffs."""
    views = [CaseView.model_validate_json(r.view_json) for r in store.cases_opened(since, until)]
    ratings = RatingStore(store.engine).ratings([v.case_id for v in views])
    facts = [case_facts(v) for v in views]
    return build_report(facts, since, until, period, targets, handoff_quality(ratings, views))


def build_report(
    facts: Sequence[CaseFacts],
    since: datetime,
    until: datetime,
    period: Dimension = Dimension.WEEK,
    targets: KpiTargets | None = None,
    quality: dict[str, dict[str, HandoffQuality]] | None = None,
) -> KpiReport:
    """The report over ``facts`` (cases of [since, until)), trended by ``period``."""
    if period not in PERIODS:
        raise ValueError(f"period must be one of {', '.join(p.value for p in PERIODS)}")
    return KpiReport(
        since=since,
        until=until,
        period=period,
        targets=targets or KpiTargets(),
        overall=key_figures(facts),
        breakdowns={by: breakdown(facts, by) for by in (period, *GROUPS)},
        handoff_quality=quality or {},
    )


# ------------------------------------------------------------------ charts
def _svg(figure: object) -> str:
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})  # type: ignore[attr-defined]
    plt.close(figure)  # type: ignore[arg-type]
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _pyplot() -> object:
    import matplotlib

    matplotlib.use("Agg")  # no display: render to SVG only
    matplotlib.rcParams["svg.hashsalt"] = "baton"  # stable element ids: same data, same file
    import matplotlib.pyplot as plt

    return plt


def charts(report: KpiReport) -> dict[str, str]:
    """Inline SVG charts: the escalation rate against its target band, handoff and first
    response times per period, and the reasons' rates and precision."""
    plt = _pyplot()
    trend = report.breakdowns[report.period]
    labels = list(trend)
    out: dict[str, str] = {}

    fig, ax = plt.subplots(figsize=(7, 2.8))  # type: ignore[attr-defined]
    targets = report.targets
    ax.axhspan(
        targets.escalation_rate_low * 100,
        targets.escalation_rate_high * 100,
        color="#2e7d32",
        alpha=0.15,
        label="target band",
    )
    rates = [(f.escalation_rate or 0) * 100 for f in trend.values()]
    ax.plot(labels, rates, marker="o", color="#1565c0", label="escalation rate")
    ax.set_ylabel("% of cases")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", fontsize="small")
    ax.set_title(f"Escalation rate per {report.period.value}")
    out["escalation_rate"] = _svg(fig)

    fig, ax = plt.subplots(figsize=(7, 2.8))  # type: ignore[attr-defined]
    to_minutes = [(f.time_to_handoff_s or 0) / 60 for f in trend.values()]
    response = [(f.time_to_first_response_s or 0) / 60 for f in trend.values()]
    x = range(len(labels))
    ax.bar([i - 0.2 for i in x], to_minutes, width=0.4, label="time to handoff", color="#6a1b9a")
    ax.bar(
        [i + 0.2 for i in x], response, width=0.4, label="to first human response", color="#ef6c00"
    )
    ax.set_xticks(list(x), labels)
    ax.set_ylabel("median minutes")
    ax.legend(loc="upper left", fontsize="small")
    ax.set_title(f"Speed of the handoff per {report.period.value}")
    out["speed"] = _svg(fig)

    reasons = report.breakdowns[Dimension.REASON]
    names = list(reasons)
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(names) + 1.2))  # type: ignore[attr-defined]
    ax.barh(names, [f.cases for f in reasons.values()], color="#b0bec5", label="fired")
    ax.barh(names, [f.escalated for f in reasons.values()], color="#c62828", label="escalated")
    ax.set_xlabel("cases")
    ax.invert_yaxis()
    ax.legend(loc="lower right", fontsize="small")
    ax.set_title("Detection reasons: fired and escalated")
    out["reasons"] = _svg(fig)
    return out


# ------------------------------------------------------------------ output
def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:g}"


def figure_rows(figures: KeyFigures) -> list[tuple[str, str]]:
    """The figures as (label, formatted value) in reading order."""
    by_level = ", ".join(
        f"L{level}: {human_seconds(s)}" for level, s in figures.resolution_time_s_by_level.items()
    )
    return [
        ("cases", str(figures.cases)),
        ("escalated", str(figures.escalated)),
        ("escalation rate", _percent(figures.escalation_rate)),
        ("time to handoff (median)", human_seconds(figures.time_to_handoff_s)),
        ("time to first human response (median)", human_seconds(figures.time_to_first_response_s)),
        ("resolution time by level (median)", by_level or "–"),
        ("SLA breaches", str(figures.sla_breaches)),
        ("transfers per escalated case", _number(figures.transfers_per_case)),
        ("handoffs per escalated case", _number(figures.handoffs_per_case)),
        ("repeat escalations", str(figures.repeat_escalations)),
        ("first-contact resolution", _percent(figures.first_contact_resolution)),
        ("escalation precision", _percent(figures.escalation_precision)),
        ("missed escalations", str(figures.missed_escalations)),
        (
            "approvals: asked · granted · denied · timed out",
            f"{figures.approvals_asked} · {figures.approvals_granted} · "
            f"{figures.approvals_denied} · {figures.approvals_timed_out}",
        ),
    ]


SHORT_LABELS = {
    "cases": "cases",
    "escalated": "esc.",
    "escalation rate": "rate",
    "time to handoff (median)": "to handoff",
    "time to first human response (median)": "1st reply",
    "SLA breaches": "SLA br.",
    "transfers per escalated case": "transf.",
    "repeat escalations": "repeats",
    "first-contact resolution": "FCR",
    "escalation precision": "precision",
    "missed escalations": "missed",
}
"""The breakdown tables' columns, with short headers (they must fit a terminal)."""


def flags(report: KpiReport) -> list[str]:
    """Figures outside their targets, in words."""
    t, o = report.targets, report.overall
    out = []
    if o.escalation_rate is not None and not (
        t.escalation_rate_low <= o.escalation_rate <= t.escalation_rate_high
    ):
        out.append(
            f"escalation rate {_percent(o.escalation_rate)} is outside the target band "
            f"{_percent(t.escalation_rate_low)}–{_percent(t.escalation_rate_high)}"
        )
    if o.escalation_precision is not None and o.escalation_precision < t.escalation_precision_min:
        out.append(
            f"escalation precision {_percent(o.escalation_precision)} is below "
            f"{_percent(t.escalation_precision_min)}"
        )
    fcr = o.first_contact_resolution
    if fcr is not None and fcr < t.first_contact_resolution_min:
        out.append(
            f"first-contact resolution {_percent(fcr)} is below "
            f"{_percent(t.first_contact_resolution_min)}"
        )
    return out


def report_html(report: KpiReport) -> str:
    """The self-contained HTML report (no script, no external file)."""
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"])
    )
    template = environment.get_template("kpis.html.j2")
    return template.render(
        report=report,
        overall=figure_rows(report.overall),
        flags=flags(report),
        charts=charts(report),
        tables={
            by.value: {key: dict(figure_rows(f)) for key, f in report.breakdowns[by].items()}
            for by in report.breakdowns
        },
        columns=[label for label, _ in figure_rows(report.overall)],
    )


def write_html(report: KpiReport, path: Path) -> None:
    """Write :func:`report_html` to ``path``."""
    path.write_text(report_html(report), encoding="utf-8")
