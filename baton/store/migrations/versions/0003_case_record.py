"""The whole case record: assessments, handoff packages, report columns, retention,
the reason behind each escalation.

Existing cases get their report columns filled from the stored view.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import json
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AutoString = sqlmodel.sql.sqltypes.AutoString
UTCDateTime = sqlmodel.sql.sqltypes.UTCDateTime

CASE_COLUMNS = [
    sa.Column("policy_version", AutoString(), nullable=True),
    sa.Column("reasons", AutoString(), nullable=True),
    sa.Column("risk", sa.Float(), nullable=True),
    sa.Column("handoffs", sa.Integer(), server_default="0", nullable=False),
    sa.Column("transfers", sa.Integer(), server_default="0", nullable=False),
    sa.Column("sla_breaches", sa.Integer(), server_default="0", nullable=False),
    sa.Column("handoff_at", UTCDateTime(), nullable=True),
    sa.Column("accepted_at", UTCDateTime(), nullable=True),
    sa.Column("resolved_at", UTCDateTime(), nullable=True),
    sa.Column("resolved_by", AutoString(), nullable=True),
    sa.Column("closed_at", UTCDateTime(), nullable=True),
    sa.Column("root_cause", AutoString(), nullable=True),
    sa.Column("escalation_necessary", sa.Boolean(), nullable=True),
    sa.Column("escalation_timing", AutoString(), nullable=True),
    sa.Column("purged_at", UTCDateTime(), nullable=True),
]


def upgrade() -> None:
    """Add the assessment and handoff tables and the case's report columns."""
    op.create_table(
        "assessment",
        sa.Column("case_id", AutoString(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("message_id", AutoString(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("severity", AutoString(), nullable=False),
        sa.Column("escalate", sa.Boolean(), nullable=False),
        sa.Column("risk", sa.Float(), nullable=False),
        sa.Column("sentiment", sa.Float(), nullable=True),
        sa.Column("reasons_json", sa.Text(), nullable=False),
        sa.Column("policy_version", AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "seq"),
    )
    op.create_table(
        "handoff",
        sa.Column("case_id", AutoString(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("agent", AutoString(), nullable=False),
        sa.Column("tier", AutoString(), nullable=False),
        sa.Column("package_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "seq"),
    )
    for column in CASE_COLUMNS:
        op.add_column("case", column)
    op.add_column("case_event", sa.Column("reason", AutoString(), nullable=True))
    op.create_index(op.f("ix_case_closed_at"), "case", ["closed_at"], unique=False)
    _fill_report_columns()


def _fill_report_columns() -> None:
    """Existing cases: the report columns from the stored view (plain JSON, so this
    migration does not depend on today's models)."""
    connection = op.get_bind()
    case = sa.table(
        "case",
        sa.column("case_id"),
        sa.column("view_json"),
        *[sa.column(c.name, c.type) for c in CASE_COLUMNS],
    )
    rows = connection.execute(sa.select(case.c.case_id, case.c.view_json)).all()
    for case_id, view_json in rows:
        values = _columns(json.loads(view_json or "{}"))
        if values:
            connection.execute(case.update().where(case.c.case_id == case_id).values(**values))


def _columns(view: dict) -> dict:  # type: ignore[type-arg]
    if not view:
        return {}
    resolution = view.get("resolution") or {}
    follow_up = view.get("follow_up") or {}
    closing = [e["at"] for e in view.get("history", []) if e.get("to_state") == "CLOSED"]
    return {
        "policy_version": view.get("policy_version"),
        "reasons": ",".join(sorted({r["name"] for r in view.get("reasons", [])})) or None,
        "risk": view.get("risk"),
        "handoffs": view.get("handoffs", 0),
        "transfers": view.get("transfers", 0),
        "sla_breaches": view.get("sla_breaches", 0),
        "handoff_at": _when(view.get("handoff_at")),
        "accepted_at": _when(view.get("accepted_at")),
        "resolved_at": _when(resolution.get("at")),
        "resolved_by": resolution.get("by"),
        "closed_at": _when(closing[-1] if closing else None),
        "root_cause": follow_up.get("root_cause"),
        "escalation_necessary": follow_up.get("escalation_necessary"),
        "escalation_timing": follow_up.get("timing"),
    }


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def downgrade() -> None:
    """Drop what :func:`upgrade` added."""
    with op.batch_alter_table("case_event") as batch:
        batch.drop_column("reason")
    with op.batch_alter_table("case") as batch:
        batch.drop_index(op.f("ix_case_closed_at"))
        for column in reversed(CASE_COLUMNS):
            batch.drop_column(column.name)
    op.drop_table("handoff")
    op.drop_table("assessment")
