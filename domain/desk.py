"""Who may do what in the agents' desk: one place for every rule, pure and unit-tested.

A person signs in as themselves; what they may see and do follows from the directory
(an agent's own offers and cases, a supervisor's teams) and their account (a support
lead reads reports and proposals). Everything not allowed here is refused.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from domain.directory import Directory
from domain.models import CaseView
from domain.policy import EscalationPolicy
from domain.states import WITH_A_TEAM, CaseState


class DeskAction(StrEnum):
    """What a person can ask the desk to do with a case."""

    VIEW = "view"
    ACCEPT = "accept"
    DECLINE = "decline"
    REPLY = "reply"
    RESOLVE = "resolve"
    FOLLOW_UP = "follow_up"
    ESCALATE = "escalate"
    RATE = "rate"
    CONSULT = "consult"
    APPROVE = "approve"
    """Approve or deny an escalation to management that waits for the person."""
    REASSIGN = "reassign"
    """Give a case to another agent."""


class DeskUser(BaseModel):
    """A signed-in person as the rules see them."""

    model_config = ConfigDict(frozen=True)

    id: str
    agent: bool = False
    """They take cases (an agent of the directory)."""
    team: str | None = None
    """An agent's team."""
    supervises: frozenset[str] = frozenset()
    """The teams whose supervisor they are."""
    lead: bool = False
    """A support lead: reports and learning proposals."""


def desk_user(person: str, directory: Directory, lead: bool = False) -> DeskUser:
    """``person`` as the directory knows them."""
    team = next((a.team for a in directory.agents if a.id == person), None)
    return DeskUser(
        id=person,
        agent=team is not None,
        team=team,
        supervises=frozenset(t.id for t in directory.teams if t.supervisor == person),
        lead=lead,
    )


def may_lead(user: DeskUser) -> bool:
    """Whether ``user`` reads the KPI report and applies learning proposals."""
    return user.lead


def may_set_presence(user: DeskUser, agent_team: str) -> bool:
    """Whether ``user`` may set the presence of an agent of ``agent_team``."""
    return agent_team in user.supervises


def open_consults(case: CaseView, policy: EscalationPolicy) -> dict[str, str]:
    """The reasons the AI asked experts about and no expert has answered yet, each with
    the team asked (the first tier of the reason's path)."""
    if case.state not in (CaseState.AI_HANDLING, CaseState.HANDOFF, CaseState.HUMAN_HANDLING):
        return {}
    answered = {e.reason for e in case.expert_input}
    paths = {r.name: r.path for r in case.reasons}
    return {
        reason: policy.path(paths.get(reason, policy.default_path)).tiers[0].team
        for reason in case.consulted
        if reason not in answered
    }


def may(
    user: DeskUser,
    action: DeskAction,
    case: CaseView,
    consulting: frozenset[str] = frozenset(),
) -> bool:
    """Whether ``user`` may do ``action`` with ``case``; ``consulting`` names the teams
    the case waits on for expert input (:func:`open_consults`)."""
    offered = user.agent and case.state is CaseState.HANDOFF and case.offered_to == user.id
    expert = user.agent and user.team in consulting
    approver = (  # the person the case asks, as the domain's own check does
        case.pending_approval is not None
        and case.pending_approval.supervisor == user.id
        and case.state in WITH_A_TEAM
    )
    if action is DeskAction.VIEW:
        return (
            offered
            or expert
            or approver
            or (case.assigned_agent == user.id and user.agent)
            or case.assigned_team in user.supervises
        )
    if action is DeskAction.APPROVE:
        return approver
    if action is DeskAction.CONSULT:  # an expert of a team asked answers in its stead
        return expert
    if action in (DeskAction.ACCEPT, DeskAction.DECLINE):
        return offered
    owner = user.agent and case.assigned_agent == user.id
    if action in (DeskAction.REPLY, DeskAction.RESOLVE):
        return owner and case.state is CaseState.HUMAN_HANDLING
    if action is DeskAction.RATE:  # the handoff they received, while the case is theirs
        return owner and case.state in (CaseState.HUMAN_HANDLING, CaseState.FOLLOW_UP)
    if action in (DeskAction.ESCALATE, DeskAction.REASSIGN):
        # A supervisor moves their team's open case: up a tier, or to another agent.
        return case.assigned_team in user.supervises and case.state in WITH_A_TEAM
    if action is DeskAction.FOLLOW_UP:  # owed by whoever resolved the case
        owed_by = case.follow_up.by if case.follow_up else None
        return case.state is CaseState.FOLLOW_UP and user.id == owed_by and user.agent
    return False
