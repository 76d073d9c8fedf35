"""Deliveries: one row per recipient and channel of each notification (the outbox).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AutoString = sqlmodel.sql.sqltypes.AutoString
UTCDateTime = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    """Create the ``delivery`` table."""
    op.create_table(
        "delivery",
        sa.Column("key", AutoString(), nullable=False),
        sa.Column("notification_key", AutoString(), nullable=False),
        sa.Column("case_id", AutoString(), nullable=False),
        sa.Column("event", AutoString(), nullable=False),
        sa.Column("recipient", AutoString(), nullable=False),
        sa.Column("recipient_kind", AutoString(), nullable=False),
        sa.Column("channel", AutoString(), nullable=False),
        sa.Column("address", AutoString(), nullable=False),
        sa.Column("status", AutoString(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("subject", sa.Text(), server_default="", nullable=False),
        sa.Column("body", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_index(op.f("ix_delivery_case_id"), "delivery", ["case_id"], unique=False)
    op.create_index(
        op.f("ix_delivery_notification_key"), "delivery", ["notification_key"], unique=False
    )
    op.create_index(op.f("ix_delivery_status"), "delivery", ["status"], unique=False)


def downgrade() -> None:
    """Drop the ``delivery`` table."""
    op.drop_index(op.f("ix_delivery_status"), table_name="delivery")
    op.drop_index(op.f("ix_delivery_notification_key"), table_name="delivery")
    op.drop_index(op.f("ix_delivery_case_id"), table_name="delivery")
    op.drop_table("delivery")
