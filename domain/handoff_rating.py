"""What the people who receive a handoff say of it, and what that says per reason,
path and escalation level.

The agent who takes a case rates its handoff package: was it enough, did they have to
ask the customer again, what was missing. The KPI report shows the quality per group;
the learning loop names the reasons whose packages fall short.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Annotated

from pydantic import BaseModel, Field

from domain.models import CaseView

POOR_PACKAGE_RATE = 0.7
"""A reason whose packages were enough for fewer than this share of ratings falls short."""
MIN_RATINGS = 3
"""Ratings a group needs before the learning loop names it."""


class HandoffRating(BaseModel):
    """One rating of one handoff of a case, by the person who received it."""

    case_id: str
    handoff: int = Field(ge=1)
    """Which handoff of the case (its ``handoffs`` count when rated)."""
    by: str
    package_enough: bool
    asked_again: bool
    """They had to ask the customer again for something the package should have held."""
    missing: Annotated[str, Field(max_length=1000)] = ""


class HandoffQuality(BaseModel):
    """The ratings of one group of handoffs."""

    ratings: int
    package_enough_rate: float
    asked_again_rate: float
    notes: int
    """Ratings that say what was missing."""


def _groups(view: CaseView) -> dict[str, list[str]]:
    return {
        "reason": sorted({r.name for r in view.reasons}) or ["(none)"],
        "path": [view.path],
        "level": [str(int(view.level))],
    }


def handoff_quality(
    ratings: Iterable[HandoffRating], views: Sequence[CaseView]
) -> dict[str, dict[str, HandoffQuality]]:
    """Per ``reason``, ``path`` and ``level``: the quality of the rated handoffs among
    ``views`` (a case counts under every reason it fired)."""
    by_case = {v.case_id: v for v in views}
    grouped: dict[str, dict[str, list[HandoffRating]]] = defaultdict(lambda: defaultdict(list))
    for rating in ratings:
        view = by_case.get(rating.case_id)
        if view is None:
            continue
        for dimension, keys in _groups(view).items():
            for key in keys:
                grouped[dimension][key].append(rating)
    return {
        dimension: {key: _quality(rs) for key, rs in sorted(groups.items())}
        for dimension, groups in grouped.items()
    }


def _quality(ratings: Sequence[HandoffRating]) -> HandoffQuality:
    n = len(ratings)
    return HandoffQuality(
        ratings=n,
        package_enough_rate=round(sum(r.package_enough for r in ratings) / n, 4),
        asked_again_rate=round(sum(r.asked_again for r in ratings) / n, 4),
        notes=sum(1 for r in ratings if r.missing.strip()),
    )


def falling_short(quality: dict[str, dict[str, HandoffQuality]]) -> dict[str, float]:
    """The reasons whose handoff packages were enough too rarely, with that rate."""
    return {
        reason: q.package_enough_rate
        for reason, q in quality.get("reason", {}).items()
        if q.ratings >= MIN_RATINGS and q.package_enough_rate < POOR_PACKAGE_RATE
    }
