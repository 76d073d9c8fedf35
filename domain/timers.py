"""Time-based escalation: which deadlines a case has, computed from its state.

Deadlines are a pure function of the case view and the policy, so a timer is
"cancelled" or "reset" simply by the state changing: the workflow always waits for
the nearest deadline this function returns.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from domain.calendar import BusinessCalendar, NeverOpens
from domain.models import CaseView, Deadline
from domain.policy import EscalationPolicy, SeverityDurations
from domain.states import WITH_A_TEAM, CaseState


class DeadlineName(StrEnum):
    """Every durable timer a case can wait on."""

    AI_HANDLING_LIMIT = "ai_handling_limit"
    ACCEPT_TIMEOUT = "accept_timeout"
    FIRST_RESPONSE_SLA = "first_response_sla"
    RESOLUTION_SLA = "resolution_sla"
    CUSTOMER_INACTIVITY = "customer_inactivity"
    FOLLOW_UP_REMINDER = "follow_up_reminder"
    FOLLOW_UP_DEADLINE = "follow_up_deadline"
    QUEUE_RECHECK = "queue_recheck"
    ESCALATION_CHAIN = "escalation_chain"
    APPROVAL_TIMEOUT = "approval_timeout"


_LABELS = {
    DeadlineName.AI_HANDLING_LIMIT: "AI handling limit",
    DeadlineName.ACCEPT_TIMEOUT: "acceptance timeout",
    DeadlineName.FIRST_RESPONSE_SLA: "first response SLA",
    DeadlineName.RESOLUTION_SLA: "resolution SLA",
    DeadlineName.CUSTOMER_INACTIVITY: "customer inactivity",
    DeadlineName.FOLLOW_UP_REMINDER: "follow-up reminder",
    DeadlineName.FOLLOW_UP_DEADLINE: "follow-up deadline",
    DeadlineName.QUEUE_RECHECK: "queued, routing again",
    DeadlineName.ESCALATION_CHAIN: "escalation chain, next step",
    DeadlineName.APPROVAL_TIMEOUT: "approval of the escalation to management",
}


def human_duration(duration: timedelta) -> str:
    """A compact duration for people: ``30 min``, ``4 h``, ``3 d 2 h``, ``45 s``."""
    seconds = int(duration.total_seconds())
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n} {unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "min")) if n]
    if secs or not parts:
        parts.append(f"{secs} s")
    return " ".join(parts)


def _deadline(
    name: DeadlineName, since: datetime, duration: timedelta, qualifier: str = ""
) -> Deadline:
    label = f"{_LABELS[name]}, {qualifier}" if qualifier else _LABELS[name]
    return Deadline(
        name=name.value, at=since + duration, summary=f"{label}: {human_duration(duration)}"
    )


SLA_WARNING = "sla_warning"
"""Prefix of warning deadlines: ``sla_warning@<sla>@<fraction>@<clock start>``."""


def sla_calendar(view: CaseView, policy: EscalationPolicy) -> BusinessCalendar | None:
    """The calendar the case's SLA clocks count in (None: around the clock)."""
    if view.severity not in policy.timers.business_hours:
        return None
    return view.team_calendar


def _directory_slas(view: CaseView, policy: EscalationPolicy) -> list[Deadline]:
    """SLA deadlines in the team's business time; the resolution clock pauses while the
    case waits on the customer; warnings at the configured fractions before each."""
    timers = policy.timers
    calendar = sla_calendar(view, policy)
    qualifier = view.severity.value + (", business hours" if calendar else "")
    clocks: list[tuple[DeadlineName, timedelta, datetime, timedelta]] = []
    if view.first_response_at is None and view.accepted_at is not None:
        duration = timers.first_response_sla.for_severity(view.severity)
        clocks.append((DeadlineName.FIRST_RESPONSE_SLA, duration, view.accepted_at, timedelta(0)))
    if view.tier_since is not None and view.awaiting_customer_since is None:
        duration = timers.resolution_sla.for_severity(view.severity)
        clocks.append(
            (DeadlineName.RESOLUTION_SLA, duration, view.tier_since, view.resolution_paused)
        )
    out = []
    for name, duration, since, paused in clocks:

        def at(
            part: timedelta, since: datetime = since, paused: timedelta = paused
        ) -> datetime | None:
            spent = part + paused
            try:
                return calendar.add(since, spent) if calendar else since + spent
            except NeverOpens:  # the team works too little for it to run out in time
                return None

        label = f"{_LABELS[name]}, {qualifier}"
        due = at(duration)
        if due is None:
            continue  # nor does any warning before it
        out.append(
            Deadline(name=name.value, at=due, summary=f"{label}: {human_duration(duration)}")
        )
        for fraction in timers.sla_warnings:
            key = f"{SLA_WARNING}@{name.value}@{fraction}@{since.isoformat()}"
            if key in view.sla_warned:
                continue
            warn_at = at(duration * fraction)
            if warn_at is not None:
                out.append(
                    Deadline(name=key, at=warn_at, summary=f"{label}: {fraction:.0%} used, warn")
                )
    return out


def case_deadlines(view: CaseView, policy: EscalationPolicy) -> list[Deadline]:
    """The active deadlines of a case, nearest first."""
    timers = policy.timers
    severity = view.severity

    def per_severity(name: DeadlineName, table: SeverityDurations, since: datetime) -> Deadline:
        return _deadline(name, since, table.for_severity(severity), severity.value)

    out: list[Deadline] = []
    if view.state is CaseState.AI_HANDLING:
        if view.awaiting_customer_since is None:
            # The AI's clock only runs while the customer is the one waiting.
            limit = per_severity(
                DeadlineName.AI_HANDLING_LIMIT, timers.ai_handling_limit, view.ai_since
            )
            out.append(limit.model_copy(update={"at": limit.at - view.ai_time_used}))
    elif view.state is CaseState.HANDOFF and view.offered_at is not None:
        out.append(
            per_severity(DeadlineName.ACCEPT_TIMEOUT, timers.accept_timeout, view.offered_at)
        )
    elif view.state is CaseState.HANDOFF and view.queue_recheck_at is not None:
        out.append(
            Deadline(
                name=DeadlineName.QUEUE_RECHECK.value,
                at=view.queue_recheck_at,
                summary=_LABELS[DeadlineName.QUEUE_RECHECK],
            )
        )
    elif view.state is CaseState.HUMAN_HANDLING:
        out += _directory_slas(view, policy)
    elif view.state is CaseState.FOLLOW_UP and view.follow_up_since is not None:
        if not view.follow_up_reminded:
            out.append(
                _deadline(
                    DeadlineName.FOLLOW_UP_REMINDER, view.follow_up_since, timers.follow_up_reminder
                )
            )
        out.append(
            _deadline(
                DeadlineName.FOLLOW_UP_DEADLINE, view.follow_up_since, timers.follow_up_deadline
            )
        )
    if view.state is CaseState.HANDOFF and view.chain_wake_at is not None:
        label = _LABELS[DeadlineName.ESCALATION_CHAIN]
        out.append(
            Deadline(name=DeadlineName.ESCALATION_CHAIN.value, at=view.chain_wake_at, summary=label)
        )
    approval = view.pending_approval
    if approval is not None and view.state in WITH_A_TEAM:
        label = _LABELS[DeadlineName.APPROVAL_TIMEOUT]
        out.append(
            Deadline(
                name=DeadlineName.APPROVAL_TIMEOUT.value,
                at=approval.due_at,
                summary=f"{label}: {human_duration(approval.due_at - approval.asked_at)}",
            )
        )
    waiting_states = (CaseState.AI_HANDLING, CaseState.HUMAN_HANDLING)
    if view.state in waiting_states and view.awaiting_customer_since is not None:
        out.append(
            _deadline(
                DeadlineName.CUSTOMER_INACTIVITY,
                view.awaiting_customer_since,
                timers.customer_inactivity,
            )
        )
    return sorted(out, key=lambda d: (d.at, d.name))
