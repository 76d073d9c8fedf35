"""Routing: which agent a case is offered to, and why the others were not.

Pure: it reads the directory, each agent's current load and the clock, and returns
a decision that explains itself. The routing activity supplies the load from the
store and records the offer there, so capacity is never exceeded.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from pydantic import BaseModel

from domain.calendar import BusinessCalendar
from domain.directory import Agent, Directory, Presence, Team
from domain.language import Language
from domain.models import Channel, CustomerHistoryRequest, DirectoryOp, EarlierCase
from domain.policy import Routing, RoutingStrategy
from domain.states import Tier

UNKNOWN_REOPEN_RATE = 0.5
"""An agent without a record on the path ranks behind anyone with a good one."""


class AgentLoad(BaseModel):
    """An agent's current cases and when their last case ended."""

    active_cases: int = 0
    idle_since: datetime | None = None


class RoutingRequest(BaseModel):
    """What a case needs from an agent."""

    case_id: str
    path: str
    tier: Tier
    language: Language
    channel: Channel
    skills: list[str] = []
    vip: bool = False
    exclude: list[str] = []
    """Agents already offered this case at this tier (declined or timed out)."""
    only: str | None = None
    """A supervisor's choice: this agent or nobody (the usual rules still apply)."""
    at: datetime


class ReserveRequest(BaseModel):
    """Input of the ``reserve_agent`` activity: route this offer with these rules."""

    request: RoutingRequest
    offer: int
    routing: Routing
    history: CustomerHistoryRequest | None = None
    """At the first handoff: look up the customer's earlier cases in the same call."""


class ClaimRequest(BaseModel):
    """Input of the ``claim_agent`` activity: hold a slot of ``agent_id`` for ``offer``."""

    case_id: str
    offer: int
    agent_id: str


class AssignmentChanges(BaseModel):
    """Input of the ``update_assignments`` activity: accepts and releases, in order."""

    case_id: str
    ops: list[DirectoryOp]


class RoutingDecision(BaseModel):
    """The chosen agent (or none), the team, and why each other agent was passed over."""

    agent_id: str | None
    team_id: str | None
    candidates: list[str]
    """Every agent who could take the case, best first."""
    passed_over: dict[str, str]
    """agent -> why not (off shift, at capacity, missing skill ...)."""
    agent_name: str = ""
    agent_title: str = ""
    supervisor: str | None = None
    """The supervisor of the chosen (or first serving) team: told when nobody is free."""
    calendar: BusinessCalendar | None = None
    """The chosen team's working hours: its SLA clocks count them."""
    retry_at: datetime | None = None
    """Nobody free: when the next serving team's shift starts (None: one is working now)."""
    queue_position: int | None = None
    """Nobody free: the case's place in the line for its path and tier (1 = next)."""


class Reservation(BaseModel):
    """Output of the ``reserve_agent`` activity: the decision, and the customer's
    earlier cases when the request asked for them."""

    decision: RoutingDecision
    earlier_cases: list[EarlierCase] | None = None


def serving_teams(directory: Directory, request: RoutingRequest) -> list[Team]:
    """Teams of the path and tier that speak the language and serve the channel. VIP
    teams serve VIP cases only (their capacity is kept for them), at their tier on every
    path: a VIP customer has one desk whatever the topic, for the skills it has."""
    return [
        t
        for t in directory.teams
        if (t.path == request.path or (t.vip and request.vip))
        and t.tier == request.tier
        and request.language in t.languages
        and request.channel in t.channels
        and (request.vip or not t.vip)
    ]


def _why_not(agent: Agent, team: Team, load: AgentLoad, request: RoutingRequest) -> str | None:
    if agent.id in request.exclude:
        return "already offered this case"
    if agent.presence is not Presence.AVAILABLE:
        return f"presence {agent.presence.value}"
    if request.language not in agent.languages:
        return f"does not speak {request.language.value}"
    missing = sorted(set(request.skills) - set(agent.skills))
    if missing:
        return f"lacks skill {', '.join(missing)}"
    if not team.calendar.is_open(request.at):
        return "team off shift"
    if load.active_cases >= agent.max_cases:
        return f"at capacity ({load.active_cases}/{agent.max_cases})"
    return None


def _rank(
    agent: Agent, load: AgentLoad, request: RoutingRequest, strategy: RoutingStrategy
) -> tuple[object, ...]:
    proficiency = -sum(agent.skills.get(s, 0) for s in request.skills)
    utilisation = load.active_cases / agent.max_cases
    if strategy is RoutingStrategy.LONGEST_IDLE:
        idle = load.idle_since.timestamp() if load.idle_since else float("-inf")
        return (idle, utilisation, proficiency, agent.id)
    if strategy is RoutingStrategy.BEST_PERFORMANCE:
        record = agent.performance.get(request.path)
        reopen = (
            record.reopen_rate if record and record.reopen_rate is not None else UNKNOWN_REOPEN_RATE
        )
        minutes = (
            record.mean_resolution_minutes
            if record and record.mean_resolution_minutes is not None
            else float("inf")
        )
        return (reopen, minutes, utilisation, proficiency, agent.id)
    return (utilisation, load.active_cases, proficiency, agent.id)


def route(
    directory: Directory,
    loads: Mapping[str, AgentLoad],
    request: RoutingRequest,
    strategy: RoutingStrategy,
    vip_team_first: bool = True,
) -> RoutingDecision:
    """Choose the agent for ``request``; ties are broken by agent id, so it is repeatable."""
    teams = serving_teams(directory, request)
    passed_over: dict[str, str] = {}
    for group in _team_groups(teams, request.vip and vip_team_first):
        ranked: list[tuple[tuple[object, ...], Agent, Team]] = []
        for team in group:
            for agent in directory.members(team.id):
                if request.only is not None and agent.id != request.only:
                    continue
                load = loads.get(agent.id, AgentLoad())
                why = _why_not(agent, team, load, request)
                if why is None:
                    ranked.append((_rank(agent, load, request, strategy), agent, team))
                else:
                    passed_over[agent.id] = why
        if ranked:
            ranked.sort(key=lambda r: r[0])
            _, best, team = ranked[0]
            return RoutingDecision(
                agent_id=best.id,
                team_id=team.id,
                candidates=[a.id for _, a, _ in ranked],
                passed_over=passed_over,
                agent_name=best.name,
                agent_title=best.title,
                supervisor=team.supervisor,
                calendar=team.calendar,
            )
    return RoutingDecision(
        agent_id=None,
        team_id=teams[0].id if teams else None,
        candidates=[],
        passed_over=passed_over,
        supervisor=teams[0].supervisor if teams else None,
        retry_at=_next_shift(teams, request.at),
    )


def _next_shift(teams: list[Team], at: datetime) -> datetime | None:
    if not teams or any(t.calendar.is_open(at) for t in teams):
        return None
    openings = []
    for team in teams:
        try:
            openings.append(team.calendar.next_open(at))
        except ValueError:
            continue  # a calendar that never opens again: no shift to wait for
    return min(openings, default=None)


def _team_groups(teams: list[Team], vip_first: bool) -> list[list[Team]]:
    # VIP teams first; the others only if no VIP team member can take the case.
    if not vip_first:
        return [teams]
    vip = [t for t in teams if t.vip]
    rest = [t for t in teams if not t.vip]
    return [g for g in (vip, rest) if g]
