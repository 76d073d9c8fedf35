"""The directory: teams and agents that cases are routed to.

Loaded from ``config/directory.toml`` into the documentation store (``baton.store.directory``)
and editable at run time through ``baton agents``; this module is its validated shape.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.calendar import BusinessCalendar
from domain.language import Language
from domain.models import Channel
from domain.policy import EscalationPolicy, Name
from domain.states import Tier


class Presence(StrEnum):
    """Whether an agent can take a case now."""

    AVAILABLE = "available"
    BUSY = "busy"
    AWAY = "away"
    OFFLINE = "offline"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Team(_Strict):
    """A team serving one tier of one escalation path."""

    id: Name
    name: str = ""
    path: Name
    tier: Tier
    skills: list[Name] = []
    languages: list[Language] = Field(min_length=1)
    channels: list[Channel] = Field(min_length=1)
    calendar: BusinessCalendar
    contact: Annotated[str, Field(min_length=1, max_length=300)]
    """Where team notifications go (an address or a channel)."""
    supervisor: Name
    vip: bool = False
    """A VIP team: serves VIP cases only, at its tier on every path (``path`` is where it
    reports), and they go here first (``routing.vip_team_first``)."""


class Performance(_Strict):
    """An agent's record on one path, written by the follow-up phase."""

    cases: int = Field(default=0, ge=0)
    mean_resolution_minutes: float | None = Field(default=None, ge=0)
    reopen_rate: float | None = Field(default=None, ge=0, le=1)


Proficiency = Annotated[int, Field(ge=1, le=5)]


class Agent(_Strict):
    """A person cases can be offered to."""

    id: Name
    name: Annotated[str, Field(min_length=1, max_length=200)]
    team: Name
    title: str = ""
    """How the customer hears of them: "Spezialist für Enterprise-Lösungen"."""
    skills: dict[Name, Proficiency] = {}
    languages: list[Language] = Field(min_length=1)
    max_cases: int = Field(ge=1, le=100)
    presence: Presence = Presence.AVAILABLE
    performance: dict[Name, Performance] = {}
    """path -> record on cases of that path."""
    slack_user: Annotated[str, Field(pattern=r"^[UW][A-Z0-9]{2,20}$")] | None = None
    """Their Slack member id: the offer's buttons in Slack act only when they click."""


class Directory(_Strict):
    """Every team and agent, with references checked."""

    teams: list[Team] = Field(min_length=1)
    agents: list[Agent] = []

    @model_validator(mode="after")
    def _references_resolve(self) -> Self:
        teams = [t.id for t in self.teams]
        agents = [a.id for a in self.agents]
        for kind, ids in (("team", teams), ("agent", agents)):
            duplicates = sorted({i for i in ids if ids.count(i) > 1})
            if duplicates:
                raise ValueError(f"{kind} ids must be unique: {', '.join(duplicates)}")
        for agent in self.agents:
            if agent.team not in teams:
                raise ValueError(f"agent {agent.id!r}: team {agent.team!r} is not among teams")
        return self

    def team(self, team_id: str) -> Team | None:
        """The team called ``team_id``."""
        return next((t for t in self.teams if t.id == team_id), None)

    def members(self, team_id: str) -> list[Agent]:
        """The agents of ``team_id``, in directory order."""
        return [a for a in self.agents if a.team == team_id]


def directory_from_policy(policy: EscalationPolicy) -> Directory:
    """A directory equivalent to the policy's agent lists: every tier staffed around
    the clock in every language and channel by agents with every skill the reasons ask
    for (the routing before the directory existed, and a predictable directory for tests)."""
    always = BusinessCalendar(around_the_clock=True)
    every_skill = {skill: 3 for rule in policy.reasons.values() for skill in rule.skills}
    teams: dict[str, Team] = {}
    agents: dict[str, Agent] = {}
    for path_name, path in policy.paths.items():
        for staff in path.tiers:
            team_id = staff.team if staff.team not in teams else f"{staff.team}-{path_name}"
            teams[team_id] = Team(
                id=team_id,
                path=path_name,
                tier=staff.tier,
                languages=list(Language),
                channels=list(Channel),
                calendar=always,
                contact=staff.team,
                supervisor=staff.supervisor,
            )
            for agent_id in staff.agents:
                agents.setdefault(
                    agent_id,
                    Agent(
                        id=agent_id,
                        name=agent_id,
                        team=team_id,
                        languages=list(Language),
                        skills=every_skill,
                        max_cases=100,
                    ),
                )
    return Directory(teams=list(teams.values()), agents=list(agents.values()))
