"""The learning loop's rules (pure): what a documented case teaches, how each detection
reason did, which thresholds to propose, and how a proposal changes the policy.

- A documented case is labelled "needed a human" when the resolver judged its
  escalation necessary, or when the escalation was missed (judged too late, or the AI
  closed it and the customer came back on the same path); "did not" when the AI solved
  it for good or the resolver judged the escalation unnecessary. Escalations nobody
  judged, and cases the customer abandoned, teach nothing and are left out.
- A threshold is proposed by scanning candidate values on the training split for the
  best F1 of "this signal alone fires" against the label; it moves only when that beats
  the current value by a margin and enough labelled cases back it.
- A proposal is applied as an overlay: the thresholds it names and its risk model on top
  of the policy file, under a new version that every later assessment records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from domain.handoff_rating import HandoffRating, falling_short, handoff_quality
from domain.kpis import NO_REASON
from domain.models import CaseView, EscalationTiming, Outcome
from domain.policy import EscalationPolicy
from domain.risk import RiskModel
from domain.scores import binary_scores

INNOVATION_REASON = "innovation_request"
"""The reason whose cases the product report lists."""


def needed_a_human(view: CaseView, came_back: bool) -> bool | None:
    """The label a documented case teaches (None: it teaches nothing)."""
    follow_up = view.follow_up
    if follow_up and follow_up.timing is EscalationTiming.TOO_LATE:
        return True
    if view.outcome is Outcome.RESOLVED_BY_AI:
        return came_back  # the customer had to come back: the AI should not have kept it
    if view.handoff_at is not None and follow_up is not None:
        return follow_up.escalation_necessary
    return None


def was_missed(view: CaseView, came_back: bool) -> bool:
    """An escalation that came too late or never came (the customer came back)."""
    too_late = view.follow_up is not None and view.follow_up.timing is EscalationTiming.TOO_LATE
    return too_late or (view.outcome is Outcome.RESOLVED_BY_AI and came_back)


class ReasonStats(BaseModel):
    """How one detection reason did over the documented cases of a period."""

    reason: str
    fired: int = 0
    """Cases where it fired."""
    escalated: int = 0
    necessary: int = 0
    """Escalations where it fired that the resolver judged necessary."""
    unnecessary: int = 0
    missed: int = 0
    """Cases where it fired but the escalation came too late or never came."""

    @property
    def precision(self) -> float | None:
        """Necessary ÷ judged escalations where it fired."""
        judged = self.necessary + self.unnecessary
        return round(self.necessary / judged, 3) if judged else None


def reason_stats(cases: Iterable[tuple[CaseView, bool]]) -> list[ReasonStats]:
    """Per reason (``(none)`` for cases where nothing fired), from (case, came back)."""
    stats: dict[str, ReasonStats] = {}
    for view, came_back in cases:
        judged = view.follow_up.escalation_necessary if view.follow_up else None
        for name in sorted({r.name for r in view.reasons}) or [NO_REASON]:
            s = stats.setdefault(name, ReasonStats(reason=name))
            s.fired += 1
            if view.handoff_at is not None:
                s.escalated += 1
                s.necessary += judged is True
                s.unnecessary += judged is False
            s.missed += was_missed(view, came_back)
    return [stats[k] for k in sorted(stats)]


# ----------------------------------------------------------------- thresholds
@dataclass(frozen=True)
class Tunable:
    """A threshold the learning loop may move, and the feature it cuts."""

    key: str
    """Dotted path in the policy, e.g. ``detection.risk.threshold``."""
    feature: str
    """The feature it is compared with (``risk`` is the model's probability)."""
    candidates: tuple[float, ...]
    to_cut: Callable[[float], float]
    """Threshold value -> cut on the feature (fires when feature >= cut)."""
    from_cut: Callable[[float], float]


def _same(x: float) -> float:
    return x


def _negated(x: float) -> float:
    return -x


TUNABLES = (
    Tunable(
        "detection.risk.threshold",
        "risk",
        tuple(round(0.05 * i, 2) for i in range(2, 19)),
        _same,
        _same,
    ),
    # Fires when the compound sentiment is at or below the (negative) threshold, i.e.
    # when the feature sentiment_negativity = -compound reaches -threshold.
    Tunable(
        "detection.sentiment.negative",
        "sentiment_negativity",
        tuple(round(-0.05 * i, 2) for i in range(4, 20)),
        _negated,
        _negated,
    ),
    Tunable(
        "detection.intensity.threshold",
        "intensity",
        tuple(round(0.05 * i, 2) for i in range(4, 20)),
        _same,
        _same,
    ),
)


HEAD_THRESHOLDS = "detection.learned.thresholds"
"""Where the policy keeps its overrides of the learned heads' thresholds."""


def head_tunables(reasons: Iterable[str]) -> tuple[Tunable, ...]:
    """One tunable per learned head: the score (its feature) at which it fires."""
    candidates = tuple(round(0.05 * i, 2) for i in range(1, 20))
    return tuple(
        Tunable(f"{HEAD_THRESHOLDS}.{r}", r, candidates, _same, _same) for r in sorted(reasons)
    )


class LabelledCase(BaseModel):
    """One documented case as the learning loop sees it: features, label, split."""

    case_id: str
    features: dict[str, float]
    """The strongest value of each feature over the customer's messages, and ``risk``."""
    needs_human: bool
    held_back: bool


class ThresholdChange(BaseModel):
    """A proposed value for one threshold, with the evidence behind it."""

    key: str
    current: float
    proposed: float
    f1_current: float
    f1_proposed: float
    cases: int
    why: str


MIN_CASES_PER_CLASS = 5
"""Labelled training cases of each class a threshold move needs."""
MIN_F1_GAIN = 0.02
"""A move must beat the current value's F1 by this much (no churn on noise)."""


def propose_threshold(
    tunable: Tunable, current: float, training: Sequence[LabelledCase]
) -> ThresholdChange:
    """The candidate with the best F1 on ``training`` (ties: nearest the current value)."""
    labels = [c.needs_human for c in training]
    positives = sum(labels)

    def f1(value: float) -> float:
        cut = tunable.to_cut(value)
        predicted = [c.features.get(tunable.feature, 0.0) >= cut for c in training]
        return binary_scores(labels, predicted).f1

    base = round(f1(current), 3)
    change = ThresholdChange(
        key=tunable.key,
        current=current,
        proposed=current,
        f1_current=base,
        f1_proposed=base,
        cases=len(training),
        why="kept",
    )
    if min(positives, len(labels) - positives) < MIN_CASES_PER_CLASS:
        return change.model_copy(
            update={"why": f"kept: fewer than {MIN_CASES_PER_CLASS} labelled cases per class"}
        )
    best = max(tunable.candidates, key=lambda v: (round(f1(v), 3), -abs(v - current)))
    gain = round(f1(best), 3) - base
    if gain < MIN_F1_GAIN:
        return change.model_copy(update={"why": f"kept: no candidate gains {MIN_F1_GAIN} F1"})
    return change.model_copy(
        update={
            "proposed": best,
            "f1_proposed": round(f1(best), 3),
            "why": f"F1 on {len(training)} training cases {base:.3f} -> {f1(best):.3f}",
        }
    )


# ----------------------------------------------------------------- proposals
class HeldBackScores(BaseModel):
    """Precision and recall of "escalate" on the held-back cases, before and after."""

    cases: int
    precision_before: float
    recall_before: float
    precision_after: float
    recall_after: float


class ProductFeedback(BaseModel):
    """For the product team: innovation requests and recurring root causes."""

    innovation_requests: list[str] = []
    """Subjects of the cases where a customer asked for something new."""
    root_causes: dict[str, int] = {}
    """Root causes documented on two or more cases, most frequent first."""
    packages_falling_short: dict[str, float] = {}
    """Reasons whose handoff packages the receiving agents rated enough too rarely
    (the share rated enough): what the package should say for them is missing."""


class LearningProposal(BaseModel):
    """A new config version proposed by one learning run, with its evidence."""

    version: str = Field(min_length=1, max_length=100)
    based_on: str
    """The policy version it was learned against."""
    since: str
    until: str
    cases: int
    labelled: int
    reasons: list[ReasonStats]
    thresholds: list[ThresholdChange]
    model: RiskModel | None = None
    """The risk model it detects with: retrained, or the one it was learned against."""
    retrained: bool = False
    held_back: HeldBackScores | None = None
    feedback: ProductFeedback = ProductFeedback()

    def overrides(self) -> dict[str, float]:
        """Every threshold it sets (moved or kept): dotted key -> value. Complete, so it
        applies the same over the config file whichever version was active before."""
        return {t.key: t.proposed for t in self.thresholds}

    def moved(self) -> list[ThresholdChange]:
        """The thresholds it changes."""
        return [t for t in self.thresholds if t.proposed != t.current]


def threshold_value(policy: EscalationPolicy, key: str) -> float:
    """The current value of a dotted threshold key of ``policy``."""
    node: Any = policy
    for part in key.split("."):
        node = getattr(node, part)
    return float(node)


def with_overrides(
    policy: EscalationPolicy, version: str, overrides: dict[str, float]
) -> EscalationPolicy:
    """``policy`` with the dotted ``overrides`` applied, validated, as ``version``."""
    data = policy.model_dump(mode="json")
    for key, value in overrides.items():
        *path, leaf = key.split(".")
        node = data
        for part in path:
            node = node[part]
        if leaf not in node and ".".join(path) != HEAD_THRESHOLDS:
            raise ValueError(f"{key} is not a threshold of the policy")
        node[leaf] = value
    data["version"] = f"{policy.version}@{version}"
    return EscalationPolicy.model_validate(data)


def product_feedback(
    views: Iterable[CaseView], ratings: Iterable[HandoffRating] = ()
) -> ProductFeedback:
    """Innovation requests, the root causes that recur, and the reasons whose handoff
    packages fall short in the receiving agents' ``ratings``."""
    views = list(views)
    innovation = [v.subject for v in views if any(r.name == INNOVATION_REASON for r in v.reasons)]
    counts: dict[str, int] = {}
    for v in views:
        cause = v.follow_up.root_cause if v.follow_up else None
        if cause:
            counts[cause] = counts.get(cause, 0) + 1
    recurring = sorted(((n, c) for c, n in counts.items() if n >= 2), reverse=True)
    return ProductFeedback(
        innovation_requests=sorted(innovation),
        root_causes={c: n for n, c in recurring},
        packages_falling_short=falling_short(handoff_quality(ratings, views)),
    )


# ----------------------------------------------------------------- the workflow's payloads
class LearningPeriod(BaseModel):
    """Activity ``propose_learning``: the cases opened in [since, until)."""

    since: datetime
    until: datetime

    def label(self) -> str:
        """``2026-10-24 – 2026-11-23``."""
        return f"{self.since:%Y-%m-%d} – {self.until:%Y-%m-%d}"


class LearningOutcome(BaseModel):
    """What a learning run did (no personal data: it shows in the Web UI)."""

    version: str | None = None
    """The stored proposal (None: nothing to learn, see ``note``)."""
    applied: bool = False
    cases: int = 0
    labelled: int = 0
    moved: list[ThresholdChange] = []
    retrained: bool = False
    held_back: HeldBackScores | None = None
    note: str = ""


def summary(proposal: LearningProposal) -> LearningOutcome:
    """The outcome of a run that stored ``proposal``."""
    return LearningOutcome(
        version=proposal.version,
        cases=proposal.cases,
        labelled=proposal.labelled,
        moved=proposal.moved(),
        retrained=proposal.retrained,
        held_back=proposal.held_back,
    )
