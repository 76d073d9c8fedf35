"""Schema migrations (Alembic) on SQLite and the local PostgreSQL: the migrations build
exactly the schema the code uses, and upgrading keeps every record."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from baton.store.cases import CaseStore, DeliveryRow, make_engine
from baton.store.schema import BASELINE, alembic_config, current_revision, head, migrate


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'baton.db'}"
    return str(request.getfixturevalue("postgres_url"))


def test_the_migrations_build_the_schema_the_code_uses(url: str) -> None:
    engine = make_engine(url)
    migrate(engine)
    with engine.connect() as connection:
        drift = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    engine.dispose()
    assert drift == [], "a model changed without a migration: make migration MESSAGE=..."


OLD_VIEW = {
    "policy_version": "2026.10",
    "reasons": [{"name": "fraud"}, {"name": "explicit_human_request"}],
    "handoffs": 2,
    "resolution": {"by": "anna", "at": "2026-11-01T13:00:00Z"},
    "follow_up": {"root_cause": "billing_error", "escalation_necessary": True},
    "history": [
        {"to_state": "HANDOFF", "at": "2026-11-01T12:10:00Z"},
        {"to_state": "CLOSED", "at": "2026-11-01T14:00:00Z"},
    ],
}


def _old_case(connection: sqlalchemy.Connection) -> None:
    """A case and a notification written by the baseline schema's code."""
    now = datetime(2026, 11, 1, 12, tzinfo=UTC)
    connection.execute(
        sqlalchemy.text(
            'INSERT INTO "case" (case_id, revision, state, level, severity, path, customer_id,'
            " customer_tier, language, channel, opened_at, updated_at, view_json) VALUES"
            " ('C-OLD', 7, 'CLOSED', 2, 'high', 'billing', 'cust-1', 'standard', 'de', 'chat',"
            " :now, :now, :view)"
        ),
        {"now": now, "view": json.dumps(OLD_VIEW)},
    )
    connection.execute(
        sqlalchemy.text(
            "INSERT INTO outbox (key, case_id, event, recipient, recipient_kind, channel,"
            " language, subject, body, context_json, status, created_at) VALUES"
            " ('C-OLD/3/case_offered/anna', 'C-OLD', 'case_offered', 'anna', 'agent',"
            " 'default', 'de', 's', 'b', '{}', 'pending', :now)"
        ),
        {"now": now},
    )


@pytest.mark.parametrize("before_migrations", [False, True])
def test_upgrading_keeps_every_record(url: str, before_migrations: bool) -> None:
    engine = make_engine(url)
    migrate(engine, BASELINE)
    with engine.begin() as connection:
        _old_case(connection)
        if before_migrations:  # a store made by create_all, before Alembic
            connection.execute(sqlalchemy.text("DROP TABLE alembic_version"))
    assert current_revision(engine) == (None if before_migrations else BASELINE)
    engine.dispose()
    store = CaseStore(url)  # what a new version of Baton does at start
    try:
        assert current_revision(store.engine) == head() != BASELINE
        old = store.case("C-OLD")
        assert old is not None and (old.state, old.revision, old.path) == ("CLOSED", 7, "billing")
        # Report columns filled from the stored view by the migration.
        assert (old.policy_version, old.reasons, old.handoffs) == (
            "2026.10",
            "explicit_human_request,fraud",
            2,
        )
        assert (old.resolved_by, old.root_cause, old.escalation_necessary) == (
            "anna",
            "billing_error",
            True,
        )
        assert old.closed_at is not None and old.closed_at.hour == 14
        assert [r.key for r in store.outbox("C-OLD")] == ["C-OLD/3/case_offered/anna"]
        now = datetime.now(UTC)
        store.record_delivery(
            DeliveryRow(
                key="C-OLD/3/case_offered/anna#email",
                notification_key="C-OLD/3/case_offered/anna",
                case_id="C-OLD",
                event="case_offered",
                recipient="anna",
                recipient_kind="agent",
                channel="email",
                status="sent",
                created_at=now,
                updated_at=now,
            )
        )
        assert store.outbox("C-OLD")[0].status == "sent"
    finally:
        store.close()


def test_downgrade_and_upgrade_again(url: str) -> None:
    engine = make_engine(url)
    migrate(engine)
    with engine.begin() as connection:
        _old_case(connection)
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), BASELINE)
    assert "delivery" not in sqlalchemy.inspect(engine).get_table_names()
    migrate(engine)
    assert current_revision(engine) == head()
    with engine.connect() as connection:
        count = connection.execute(sqlalchemy.text('SELECT count(*) FROM "case"')).scalar()
    engine.dispose()
    assert count == 1
