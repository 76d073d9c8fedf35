"""The desk's sign-in accounts, the one-click links already used, and handoff ratings.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AutoString = sqlmodel.sql.sqltypes.AutoString
UTCDateTime = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    """Add the desk_account, desk_link_use and handoff_rating tables."""
    op.create_table(
        "desk_account",
        sa.Column("person", AutoString(), nullable=False),
        sa.Column("password_hash", AutoString(), nullable=False),
        sa.Column("lead", sa.Boolean(), nullable=False),
        sa.Column("language", AutoString(), nullable=True),
        sa.Column("timezone", AutoString(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("person"),
    )
    op.create_table(
        "desk_link_use",
        sa.Column("nonce", AutoString(), nullable=False),
        sa.Column("case_id", AutoString(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("nonce"),
    )
    op.create_table(
        "handoff_rating",
        sa.Column("case_id", AutoString(), nullable=False),
        sa.Column("handoff", sa.Integer(), nullable=False),
        sa.Column("by", AutoString(), nullable=False),
        sa.Column("package_enough", sa.Boolean(), nullable=False),
        sa.Column("asked_again", sa.Boolean(), nullable=False),
        sa.Column("missing", sa.Text(), server_default="", nullable=False),
        sa.Column("rated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("case_id", "handoff"),
    )


def downgrade() -> None:
    """Drop them again."""
    op.drop_table("handoff_rating")
    op.drop_table("desk_link_use")
    op.drop_table("desk_account")
