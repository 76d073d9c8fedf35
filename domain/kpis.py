"""Key figures of escalation, computed from documented cases (pure: no store, no I/O).

Each case is first reduced to its :class:`CaseFacts`; :func:`key_figures` turns any set
of facts into :class:`KeyFigures`, and :func:`breakdown` does so per period, team,
tier, channel or reason. The definitions (see ``docs/kpis.md``) live here and only here:

- escalation rate: cases handed to a human ÷ all cases (target band in ``config/kpis.toml``);
- time to handoff: case opened → handed off; time to first human response: handed off →
  the human's first message; resolution time: opened → resolved, per final level (medians);
- transfers and handoffs per escalated case; SLA breaches (sum);
- approvals of escalations to management: asked, granted, denied, timed out (sums);
- repeat escalations: cases linked to an earlier case of the same customer and topic;
- first-contact resolution: resolved cases with at most one handoff, no transfer and no
  later repeat case ÷ resolved cases;
- escalation precision: escalations the resolver judged necessary ÷ escalations judged;
- missed escalations: escalations judged too late, and cases the AI closed whose customer
  came back and had to be escalated.
"""

from __future__ import annotations

import math
import statistics
import tomllib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.models import ApprovalTally, CaseView, EscalationTiming, Outcome

NO_TEAM = "(AI)"
"""The team of a case no human took."""
NO_REASON = "(none)"
"""The reason group of cases where no detection reason fired."""


class KpiTargets(BaseModel):
    """What good looks like (``config/kpis.toml``): reports flag figures outside it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    escalation_rate_low: float = Field(0.10, ge=0, le=1)
    escalation_rate_high: float = Field(0.15, ge=0, le=1)
    escalation_precision_min: float = Field(0.8, ge=0, le=1)
    first_contact_resolution_min: float = Field(0.7, ge=0, le=1)

    @model_validator(mode="after")
    def _band_in_order(self) -> Self:
        if self.escalation_rate_low > self.escalation_rate_high:
            raise ValueError("escalation_rate_low must not exceed escalation_rate_high")
        return self

    @classmethod
    def load(cls, path: Path) -> KpiTargets:
        """The targets in ``path`` (a ``[targets]`` table); ValueError names what is wrong."""
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ValueError(f"{path}: {e}") from None
        return cls.model_validate(data.get("targets", {}))


class CaseFacts(BaseModel):
    """What the key figures need of one case."""

    case_id: str
    opened_at: datetime
    team: str
    tier: str
    channel: str
    reasons: list[str]
    escalated: bool
    resolved: bool
    ai_resolved: bool
    final_level: int
    time_to_handoff: float | None = None
    time_to_first_response: float | None = None
    resolution_time: float | None = None
    sla_breaches: int = 0
    transfers: int = 0
    handoffs: int = 0
    repeat_of: str | None = None
    necessary: bool | None = None
    too_late: bool = False
    approvals: ApprovalTally = ApprovalTally()


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


def case_facts(view: CaseView) -> CaseFacts:
    """Reduce a documented case to the facts the key figures count."""
    resolution = view.resolution
    resolved = resolution is not None and resolution.outcome is not Outcome.ABANDONED
    resolved_at = resolution.at if resolved and resolution else None
    follow_up = view.follow_up
    return CaseFacts(
        case_id=view.case_id,
        opened_at=view.opened_at,
        team=view.assigned_team or NO_TEAM,
        tier=view.tier.value if view.tier else "ai",
        channel=view.channel.value,
        reasons=sorted({r.name for r in view.reasons}),
        escalated=view.handoff_at is not None,
        resolved=resolved,
        ai_resolved=view.outcome is Outcome.RESOLVED_BY_AI,
        final_level=int(view.level),
        time_to_handoff=_seconds(view.opened_at, view.handoff_at),
        time_to_first_response=_seconds(view.handoff_at, view.first_response_at),
        resolution_time=_seconds(view.opened_at, resolved_at),
        sla_breaches=view.sla_breaches,
        transfers=view.transfers,
        handoffs=view.handoffs,
        repeat_of=view.repeat_of,
        necessary=follow_up.escalation_necessary if follow_up and view.handoff_at else None,
        too_late=bool(follow_up and follow_up.timing is EscalationTiming.TOO_LATE),
        approvals=view.approvals,
    )


class KeyFigures(BaseModel):
    """The key figures of one set of cases (None: nothing to measure it on)."""

    cases: int
    escalated: int
    escalation_rate: float | None
    time_to_handoff_s: float | None
    """Median seconds from opening to the handoff."""
    time_to_first_response_s: float | None
    """Median seconds from the handoff to the human's first message."""
    resolution_time_s_by_level: dict[str, float]
    """Median seconds from opening to resolution, by the level the case ended at."""
    sla_breaches: int
    transfers_per_case: float | None
    handoffs_per_case: float | None
    """Per escalated case."""
    repeat_escalations: int
    first_contact_resolution: float | None
    escalation_precision: float | None
    judged: int
    """Escalations whose necessity the resolver judged (precision's denominator)."""
    missed_escalations: int
    approvals_asked: int = 0
    """Escalations to management that waited for the tier supervisor's approval."""
    approvals_granted: int = 0
    approvals_denied: int = 0
    approvals_timed_out: int = 0
    """... that nobody answered in time (``approvals.on_timeout`` decided)."""


def _median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 1) if present else None


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def key_figures(facts: Sequence[CaseFacts], came_back: frozenset[str] = frozenset()) -> KeyFigures:
    """The key figures of ``facts``; ``came_back`` names cases a later case repeats
    (by default found among ``facts`` themselves)."""
    came_back = came_back or frozenset(f.repeat_of for f in facts if f.repeat_of)
    escalated = [f for f in facts if f.escalated]
    resolved = [f for f in facts if f.resolved]
    judged = [f for f in escalated if f.necessary is not None]
    by_level: dict[int, list[float | None]] = defaultdict(list)
    for f in resolved:
        by_level[f.final_level].append(f.resolution_time)
    first_contact = [
        f for f in resolved if f.handoffs <= 1 and f.transfers == 0 and f.case_id not in came_back
    ]
    missed = [f for f in facts if f.too_late or (f.ai_resolved and f.case_id in came_back)]
    return KeyFigures(
        cases=len(facts),
        escalated=len(escalated),
        escalation_rate=_share(len(escalated), len(facts)),
        time_to_handoff_s=_median(f.time_to_handoff for f in escalated),
        time_to_first_response_s=_median(f.time_to_first_response for f in escalated),
        resolution_time_s_by_level={
            str(level): median
            for level in sorted(by_level)
            if (median := _median(by_level[level])) is not None
        },
        sla_breaches=sum(f.sla_breaches for f in facts),
        transfers_per_case=_ratio(sum(f.transfers for f in escalated), len(escalated)),
        handoffs_per_case=_ratio(sum(f.handoffs for f in escalated), len(escalated)),
        repeat_escalations=sum(1 for f in facts if f.repeat_of and f.escalated),
        first_contact_resolution=_share(len(first_contact), len(resolved)),
        escalation_precision=_share(sum(1 for f in judged if f.necessary), len(judged)),
        judged=len(judged),
        missed_escalations=len(missed),
        approvals_asked=sum(f.approvals.asked for f in facts),
        approvals_granted=sum(f.approvals.granted for f in facts),
        approvals_denied=sum(f.approvals.denied for f in facts),
        approvals_timed_out=sum(f.approvals.timed_out for f in facts),
    )


def _ratio(total: int, count: int) -> float | None:
    return round(total / count, 2) if count else None


class Dimension(StrEnum):
    """What a breakdown groups the cases by."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    TEAM = "team"
    TIER = "tier"
    CHANNEL = "channel"
    REASON = "reason"


def _period(f: CaseFacts, dimension: Dimension) -> str:
    day = f.opened_at.date()
    if dimension is Dimension.DAY:
        return day.isoformat()
    if dimension is Dimension.WEEK:
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{day.year}-{day.month:02d}"


_GROUPS: dict[Dimension, Callable[[CaseFacts], list[str]]] = {
    Dimension.DAY: lambda f: [_period(f, Dimension.DAY)],
    Dimension.WEEK: lambda f: [_period(f, Dimension.WEEK)],
    Dimension.MONTH: lambda f: [_period(f, Dimension.MONTH)],
    Dimension.TEAM: lambda f: [f.team],
    Dimension.TIER: lambda f: [f.tier],
    Dimension.CHANNEL: lambda f: [f.channel],
    # A case counts under every reason it fired: the rate per reason says how often
    # that reason's firing ended with a human.
    Dimension.REASON: lambda f: f.reasons or [NO_REASON],
}


def breakdown(facts: Sequence[CaseFacts], by: Dimension) -> dict[str, KeyFigures]:
    """The key figures per group of ``by``, groups in sorted order."""
    groups: dict[str, list[CaseFacts]] = defaultdict(list)
    for f in facts:
        for key in _GROUPS[by](f):
            groups[key].append(f)
    came_back = frozenset(f.repeat_of for f in facts if f.repeat_of)
    return {key: key_figures(groups[key], came_back) for key in sorted(groups)}


def human_seconds(seconds: float | None) -> str:
    """``5400`` → ``1 h 30 min``; None → ``–``."""
    if seconds is None or math.isnan(seconds):
        return "–"
    delta = timedelta(seconds=round(seconds))
    days, rest = delta.days, delta.seconds
    hours, minutes, secs = rest // 3600, rest % 3600 // 60, rest % 60
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min" if not secs else f"{minutes} min {secs} s"
    return f"{secs} s"
