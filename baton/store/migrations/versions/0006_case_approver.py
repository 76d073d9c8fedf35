"""Whose approval a case's escalation to management waits for.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add case.approver (no earlier case waits for an approval: approvals are new)."""
    with op.batch_alter_table("case") as batch:
        batch.add_column(sa.Column("approver", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch.create_index("ix_case_approver", ["approver"])


def downgrade() -> None:
    """Drop it again."""
    with op.batch_alter_table("case") as batch:
        batch.drop_index("ix_case_approver")
        batch.drop_column("approver")
