"""Handoff quality per reason, path and level (domain.handoff_rating)."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.handoff_rating import HandoffRating, falling_short, handoff_quality
from domain.learning import product_feedback
from domain.models import CaseView


def _view(case_id: str, reasons: list[str], path: str, level: int) -> CaseView:
    now = datetime(2026, 12, 6, tzinfo=UTC)
    hits = [
        {"name": r, "severity": "high", "level": level, "path": path, "tier": "frontline"}
        for r in reasons
    ]
    return CaseView.model_validate(
        {
            "case_id": case_id,
            "customer": {"id": "c"},
            "channel": "chat",
            "subject": "s",
            "policy_version": "p",
            "opened_at": now,
            "ai_since": now,
            "path": path,
            "level": level,
            "reasons": hits,
        }
    )


def _rating(case_id: str, enough: bool, asked: bool, missing: str = "") -> HandoffRating:
    return HandoffRating(
        case_id=case_id,
        handoff=1,
        by="anna",
        package_enough=enough,
        asked_again=asked,
        missing=missing,
    )


VIEWS = [
    _view("C-1", ["fraud"], "fraud", 3),
    _view("C-2", ["fraud", "negative_sentiment"], "fraud", 3),
    _view("C-3", ["fraud"], "fraud", 2),
    _view("C-4", ["explicit_human_request"], "customer_support", 2),
]
RATINGS = [
    _rating("C-1", enough=False, asked=True, missing="card number"),
    _rating("C-2", enough=False, asked=True, missing="which charge"),
    _rating("C-3", enough=True, asked=False),
    _rating("C-4", enough=True, asked=False),
    _rating("C-unknown", enough=False, asked=True),  # a case outside the period
]


def test_quality_per_reason_path_and_level() -> None:
    quality = handoff_quality(RATINGS, VIEWS)
    fraud = quality["reason"]["fraud"]
    assert (fraud.ratings, fraud.package_enough_rate, fraud.asked_again_rate, fraud.notes) == (
        3,
        0.3333,
        0.6667,
        2,
    )
    assert quality["reason"]["negative_sentiment"].ratings == 1
    assert quality["path"]["customer_support"].package_enough_rate == 1.0
    assert quality["level"]["3"].ratings == 2 and quality["level"]["2"].ratings == 2
    assert sum(q.ratings for q in quality["path"].values()) == 4  # the unknown case left out


def test_the_learning_loop_names_reasons_whose_packages_fall_short() -> None:
    assert falling_short(handoff_quality(RATINGS, VIEWS)) == {"fraud": 0.3333}
    assert falling_short(handoff_quality(RATINGS[2:], VIEWS)) == {}  # too few, and fine


def test_the_learning_proposal_carries_the_packages_that_fall_short() -> None:
    assert product_feedback(VIEWS, RATINGS).packages_falling_short == {"fraud": 0.3333}
    assert product_feedback(VIEWS).packages_falling_short == {}
