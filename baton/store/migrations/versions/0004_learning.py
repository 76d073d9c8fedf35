"""The learning loop: proposals of new config versions, and the model version on every
assessment.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AutoString = sqlmodel.sql.sqltypes.AutoString
UTCDateTime = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    """Add the learning_proposal table and assessment.model_version."""
    op.create_table(
        "learning_proposal",
        sa.Column("version", AutoString(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("based_on", AutoString(), nullable=False),
        sa.Column("status", AutoString(), nullable=False),
        sa.Column("proposal_json", sa.Text(), nullable=False),
        sa.Column("applied_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("version"),
    )
    op.create_index("ix_learning_proposal_status", "learning_proposal", ["status"])
    with op.batch_alter_table("assessment") as batch:
        batch.add_column(sa.Column("model_version", AutoString(), nullable=True))


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("assessment") as batch:
        batch.drop_column("model_version")
    op.drop_index("ix_learning_proposal_status", table_name="learning_proposal")
    op.drop_table("learning_proposal")
