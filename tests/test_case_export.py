"""Exports of the documentation store and retention, through the ``baton`` CLI on the
record a real case left (time-skipping server, SQLite store under BATON_DATA_DIR)."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy

from baton.store.cases import CaseStore
from tests.conftest import case_on, new_case
from tests.test_agents_cli import _baton

NAME, SUBJECT = "Ada Lovelace", "Zahlung doppelt abgebucht"
HOSTILE = "Ich möchte einen Mitarbeiter sprechen <script>alert(1)</script> **sofort**"


@pytest.fixture
async def closed_case(time_env: Any, policy: Any, executor: Any, tmp_path: Path) -> str:
    """A German case handed to anna, resolved and documented; its id."""
    store = CaseStore(f"sqlite:///{tmp_path / 'baton.db'}")
    case = new_case(
        customer={"id": "cust-7", "name": NAME, "language": "de", "email": "ada@example.com"},
        subject=SUBJECT,
    )
    try:
        async with case_on(time_env, policy, store, executor, case) as driver:
            await driver.say(HOSTILE)
            await driver.accept("anna")
            await driver.say("Anna hier, ich kümmere mich darum.", author="agent")
            await driver.resolve("anna", root_cause="billing_error", escalation_necessary=True)
            await driver.handle.result()
    finally:
        store.close()
    return case.case_id


def test_one_case_as_json_markdown_and_html(closed_case: str, tmp_path: Path) -> None:
    exported = _baton(tmp_path, "case", "export", closed_case, "--format", "json")
    assert exported.returncode == 0, exported.stderr
    record = json.loads(exported.stdout)
    assert record["case"]["state"] == "CLOSED" and record["case"]["root_cause"] == "billing_error"
    assert record["messages"][0]["text"] == HOSTILE
    assert record["assessments"][0]["reasons"][0]["name"] == "explicit_human_request"
    assert record["handoffs"][0]["agent"] == "anna"
    assert {e["trigger"] for e in record["events"]} >= {"escalated", "offered", "accepted"}
    assert all(n["deliveries"] for n in record["notifications"])

    markdown = _baton(tmp_path, "case", "export", closed_case).stdout
    assert markdown.startswith(f"# Dokumentation des Falls {closed_case}")
    assert "Ursache: billing_error" in markdown and "Eskalation nötig: ja" in markdown
    english = _baton(tmp_path, "case", "export", closed_case, "--language", "en").stdout
    assert english.startswith(f"# Case record {closed_case}")

    page = tmp_path / "case.html"
    html = _baton(tmp_path, "case", "export", closed_case, "-f", "html", "-o", str(page))
    assert html.returncode == 0, html.stderr
    text = page.read_text()
    assert "<script>" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "**sofort**" in text  # shown as typed, not turned into markup
    assert "<table>" in text and "<h1>Dokumentation des Falls" in text


def test_a_period_as_jsonl_and_csv(closed_case: str, tmp_path: Path) -> None:
    store = CaseStore(f"sqlite:///{tmp_path / 'baton.db'}")
    opened = store.case(closed_case).opened_at  # type: ignore[union-attr]
    store.close()
    day = opened.date()
    period = ["--since", day.isoformat(), "--until", (day + timedelta(days=1)).isoformat()]
    lines = _baton(tmp_path, "export", "cases", *period).stdout.splitlines()
    [row] = [json.loads(line) for line in lines]
    assert (row["case_id"], row["escalated"], row["escalation_necessary"]) == (
        closed_case,
        True,
        True,
    )
    assert "explicit_human_request" in row["reasons"] and row["language"] == "de"
    assert [m["author"] for m in row["transcript"]] == ["customer", "agent"]

    target = tmp_path / "cases.csv"
    result = _baton(tmp_path, "export", "cases", *period, "-f", "csv", "-o", str(target))
    assert result.returncode == 0 and "1 case(s) exported" in result.stderr
    [flat] = list(csv.DictReader(io.StringIO(target.read_text())))
    assert flat["root_cause"] == "billing_error" and flat["escalated"] == "True"
    assert flat["transcript"].splitlines()[0] == f"customer: {HOSTILE}"

    before = ["--since", (day - timedelta(days=9)).isoformat(), "--until", day.isoformat()]
    assert _baton(tmp_path, "export", "cases", *before).stdout == ""


def test_bad_requests_name_the_problem(tmp_path: Path) -> None:
    missing = _baton(tmp_path, "case", "export", "C-NOPE")
    assert missing.returncode == 3 and "no case 'C-NOPE'" in missing.stderr
    bad = _baton(tmp_path, "export", "cases", "--since", "yesterday", "--until", "2026-01-01")
    assert bad.returncode == 2 and "--since must be a date" in bad.stderr
    backwards = _baton(
        tmp_path, "export", "cases", "--since", "2026-02-01", "--until", "2026-01-01"
    )
    assert backwards.returncode == 2 and "--until must be after --since" in backwards.stderr


def test_retention_removes_personal_data_and_keeps_the_figures(
    closed_case: str, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'baton.db'}"
    engine = sqlalchemy.create_engine(db)
    with engine.begin() as conn:  # closed 40 days ago
        conn.execute(
            sqlalchemy.text('UPDATE "case" SET closed_at = :at'),
            {"at": "2026-01-01 00:00:00.000000"},
        )
    fresh = _baton(tmp_path, "retention", "purge", "--days", "36500", "--json")
    assert json.loads(fresh.stdout)["cases"] == []  # not old enough for a century's keeping
    dry = _baton(tmp_path, "retention", "purge", "--days", "30", "--dry-run", "--json")
    assert json.loads(dry.stdout)["cases"] == [closed_case]
    assert _personal_traces(engine), "the dry run changed nothing"

    done = _baton(tmp_path, "retention", "purge", "--days", "30")
    assert done.returncode == 0 and "purged 1 case(s)" in done.stdout
    assert _personal_traces(engine) == []
    again = _baton(tmp_path, "retention", "purge", "--days", "30")
    assert "purged 0 case(s)" in again.stdout

    record = json.loads(_baton(tmp_path, "case", "export", closed_case, "-f", "json").stdout)
    case = record["case"]
    assert case["purged_at"] and case["state"] == "CLOSED"
    assert (case["root_cause"], case["handoffs"]) == ("billing_error", 1)
    assert "explicit_human_request" in case["reasons"].split(",")
    assert record["messages"] == [] and record["handoffs"][0]["package"] is None
    assert [e["trigger"] for e in record["events"]][:2] == ["opened", "escalated"]
    markdown = _baton(tmp_path, "case", "export", closed_case).stdout
    assert "Personenbezogene Daten" in markdown and "gelöscht" in markdown
    engine.dispose()


def _personal_traces(engine: sqlalchemy.Engine) -> list[str]:
    """Every table.column that still holds the customer's name, subject, e-mail or words."""
    found = []
    markers = (NAME, SUBJECT, "ada@example.com", "Mitarbeiter sprechen", "kümmere")
    with engine.connect() as conn:
        for table in sqlalchemy.inspect(engine).get_table_names():
            for row in conn.execute(sqlalchemy.text(f'SELECT * FROM "{table}"')).mappings():
                for column, value in row.items():
                    if isinstance(value, str) and any(m in value for m in markers):
                        found.append(f"{table}.{column}")
    return sorted(set(found))
