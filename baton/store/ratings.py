"""Handoff ratings in the documentation store: one per handoff of a case.

``missing`` is what the agent says the package lacked; it can mention the customer's
matter, so retention clears it with the case's other texts
(:meth:`~baton.store.cases.CaseStore.purge_personal_data`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import Column, Engine, Text
from sqlmodel import Field, Session, SQLModel, col, select

from baton.store.schema import migrate
from domain.handoff_rating import HandoffRating


class HandoffRatingRow(SQLModel, table=True):
    """A handoff's rating by the person who received it (a new rating replaces it)."""

    __tablename__ = "handoff_rating"
    case_id: str = Field(primary_key=True)
    handoff: int = Field(primary_key=True)
    by: str
    package_enough: bool
    asked_again: bool
    missing: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    rated_at: datetime


class RatingStore:
    """Handoff ratings."""

    def __init__(self, engine: Engine) -> None:
        """Use the store at ``engine`` (migrated to the newest schema)."""
        self.engine = engine
        migrate(engine)

    def rate(self, rating: HandoffRating) -> None:
        """Store ``rating`` (replacing an earlier one of the same handoff)."""
        row = HandoffRatingRow(**rating.model_dump(), rated_at=datetime.now(UTC))
        with Session(self.engine) as session:
            session.merge(row)  # by (case_id, handoff): a later rating replaces the earlier
            session.commit()

    def ratings(self, case_ids: Sequence[str]) -> list[HandoffRating]:
        """The ratings of the handoffs of ``case_ids``."""
        if not case_ids:
            return []
        with Session(self.engine) as session:
            rows = session.exec(
                select(HandoffRatingRow).where(col(HandoffRatingRow.case_id).in_(case_ids))
            ).all()
        return [HandoffRating.model_validate(r.model_dump()) for r in rows]
