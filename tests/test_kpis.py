"""Key figures (domain.kpis) and ``baton report`` on a hand-computed month of cases
(tests/kpi_month.py), stored in a real SQLite or PostgreSQL documentation store."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from baton.store.cases import CaseStore
from domain.kpis import Dimension, KpiTargets, breakdown, case_facts, key_figures
from domain.models import CaseRecordBatch
from domain.policy import EscalationPolicy
from tests.kpi_month import month
from tests.test_agents_cli import BATON


def test_key_figures_match_the_hand_computed_month(policy: EscalationPolicy) -> None:
    figures = key_figures([case_facts(v) for v in month(policy)])
    assert (figures.cases, figures.escalated, figures.escalation_rate) == (10, 4, 0.4)
    # Handoffs at +2, +2, +1, +2 min; first replies after 10, 5, 4 and 2 min.
    assert (figures.time_to_handoff_s, figures.time_to_first_response_s) == (120.0, 270.0)
    # Level 0: six AI cases at 5 min; level 2: 62, 32, 20 min; level 3: the fraud, 121 min.
    assert figures.resolution_time_s_by_level == {"0": 300.0, "2": 1920.0, "3": 7260.0}
    assert (figures.transfers_per_case, figures.handoffs_per_case) == (0.0, 1.0)
    assert (figures.repeat_escalations, figures.sla_breaches) == (1, 0)
    # C-01 came back (C-10 repeats it): not a first-contact resolution, and a missed
    # escalation beside C-09's "too late".
    assert figures.first_contact_resolution == 0.9
    assert (figures.escalation_precision, figures.judged) == (0.75, 4)
    assert figures.missed_escalations == 2


def test_breakdowns_by_week_and_reason(policy: EscalationPolicy) -> None:
    facts = [case_facts(v) for v in month(policy)]
    weeks = breakdown(facts, Dimension.WEEK)
    assert list(weeks) == ["2026-W45", "2026-W46"]
    assert [(w.cases, w.escalated) for w in weeks.values()] == [(5, 0), (5, 4)]
    # C-01 sits in week 45 and C-10 in week 46: the repeat still marks C-01 as missed.
    assert weeks["2026-W45"].missed_escalations == 1
    reasons = breakdown(facts, Dimension.REASON)
    assert (reasons["(none)"].cases, reasons["(none)"].escalated) == (6, 0)
    assert reasons["explicit_human_request"].escalation_precision == round(2 / 3, 4)
    assert reasons["fraud"].missed_escalations == 1
    teams = breakdown(facts, Dimension.TEAM)
    assert teams["(AI)"].cases == 6 and sum(t.cases for t in teams.values()) == 10


def test_an_empty_period_has_no_rates() -> None:
    figures = key_figures([])
    assert figures.cases == 0
    assert figures.escalation_rate is None and figures.escalation_precision is None


def test_bad_targets_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "kpis.toml"
    bad.write_text("[targets]\nescalation_rate_low = 0.3\nescalation_rate_high = 0.1\n")
    with pytest.raises(ValueError, match="escalation_rate_low must not exceed"):
        KpiTargets.load(bad)
    bad.write_text("[targets]\nescalation_rate = 2\n")
    with pytest.raises(ValueError, match="escalation_rate"):
        KpiTargets.load(bad)
    bad.write_text("[targets\n")
    with pytest.raises(ValueError, match=r"kpis\.toml"):
        KpiTargets.load(bad)


def _report(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "BATON_"))}
    env |= {"BATON_DATABASE_URL": database_url, "COLUMNS": "200"}
    return subprocess.run(
        [BATON, "report", *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def month_store(request: pytest.FixtureRequest, tmp_path: Path, policy: EscalationPolicy) -> str:
    """The month's cases documented in a real store; its URL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'baton.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    store = CaseStore(url)
    try:
        for view in month(policy):
            store.write_case(CaseRecordBatch(revision=1, view=view, events=[], messages=[]))
    finally:
        store.close()
    return url


def test_report_prints_and_draws_the_month(month_store: str, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    span = ("--since", "2026-11-02", "--until", "2026-11-16")
    result = _report(month_store, *span, "--json", "--html", str(page))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    overall = data["overall"]
    assert (overall["cases"], overall["escalation_rate"], overall["missed_escalations"]) == (
        10,
        0.4,
        2,
    )
    assert data["breakdowns"]["week"]["2026-W46"]["escalated"] == 4
    assert data["breakdowns"]["reason"]["fraud"]["resolution_time_s_by_level"] == {"3": 7260.0}

    html = page.read_text(encoding="utf-8")
    assert len(re.findall(r"<svg", html)) == 3  # rate against its band, speed, reasons
    # Self-contained: nothing to load from anywhere, no script.
    assert "<script" not in html and "<link" not in html
    assert not re.search(r"(src|href)=\"(https?:|//)", html)
    overall_table = html[html.index('id="overall"') : html.index("</table>")]
    for label, value in [
        ("escalation rate", "40.0 %"),
        ("time to handoff (median)", "2 min"),
        ("time to first human response (median)", "4 min 30 s"),
        ("first-contact resolution", "90.0 %"),
        ("escalation precision", "75.0 %"),
    ]:
        assert f"<th>{label}</th><td>{value}</td>" in overall_table
    assert "escalation rate 40.0 % is outside the target band 10.0 %–15.0 %" in html

    table = _report(month_store, *span, "--period", "week", "--by", "reason")
    assert table.returncode == 0, table.stderr
    assert "By reason" in table.stdout and "explicit_human_request" in table.stdout
    assert "outside the target band" in table.stdout


def test_report_rejects_bad_input(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'baton.db'}"
    reversed_span = _report(url, "--since", "2026-11-16", "--until", "2026-11-02")
    assert reversed_span.returncode == 2 and "--until must be after --since" in reversed_span.stderr
    assert _report(url, "--since", "November").returncode == 2
    wrong_period = _report(url, "--period", "team")
    assert (
        wrong_period.returncode == 2
        and "--period must be day, week or month" in wrong_period.stderr
    )
    wrong_group = _report(url, "--by", "week")
    assert wrong_group.returncode == 2 and "--by must be team" in wrong_group.stderr
    assert not (tmp_path / "report.html").exists()
