"""Who may do what in the desk (domain.desk), rule by rule."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from domain.desk import (
    DeskAction,
    DeskUser,
    desk_user,
    may,
    may_lead,
    may_set_presence,
    open_consults,
)
from domain.directory import Directory
from domain.models import CaseView, ExpertInput, ReasonHit
from domain.states import CaseState

ANNA = DeskUser(id="anna", agent=True, team="support-frontline")
BEN = DeskUser(id="ben", agent=True, team="billing-frontline")
LEAD_SUPPORT = DeskUser(id="lead-support", supervises=frozenset({"support-frontline"}))
LEAD = DeskUser(id="lena", lead=True)


def _case(
    state: CaseState,
    offered: str | None = None,
    assigned: str | None = None,
    follow_up_by: str | None = None,
    approver: str | None = None,
) -> CaseView:
    now = datetime(2026, 12, 6, tzinfo=UTC)
    return CaseView.model_validate(
        {
            "case_id": "C-1",
            "customer": {"id": "c-1"},
            "channel": "chat",
            "subject": "s",
            "policy_version": "p",
            "opened_at": now,
            "ai_since": now,
            "path": "customer_support",
            "state": state,
            "offered_to": offered,
            "assigned_agent": assigned,
            "assigned_team": "support-frontline",
            "follow_up": {"by": follow_up_by} if follow_up_by else None,
            "pending_approval": {
                "team": "support-management",
                "supervisor": approver,
                "asked_by": "lead-support",
                "cause": "refund above the limit",
                "asked_at": now,
                "due_at": now,
            }
            if approver
            else None,
        }
    )


OFFERED_TO_ANNA = _case(CaseState.HANDOFF, offered="anna")
ANNAS = _case(CaseState.HUMAN_HANDLING, assigned="anna")
RESOLVED_BY_ANNA = _case(CaseState.FOLLOW_UP, assigned="anna", follow_up_by="anna")
WAITS_FOR_HEAD = _case(CaseState.HUMAN_HANDLING, assigned="anna", approver="head-of-service")
HEAD = DeskUser(id="head-of-service", supervises=frozenset({"support-management"}))


@pytest.mark.parametrize(
    ("user", "action", "case", "allowed"),
    [
        # An agent sees and answers the offer made to them, and nobody else's.
        (ANNA, DeskAction.VIEW, OFFERED_TO_ANNA, True),
        (ANNA, DeskAction.ACCEPT, OFFERED_TO_ANNA, True),
        (ANNA, DeskAction.DECLINE, OFFERED_TO_ANNA, True),
        (BEN, DeskAction.VIEW, OFFERED_TO_ANNA, False),
        (BEN, DeskAction.ACCEPT, OFFERED_TO_ANNA, False),
        (BEN, DeskAction.DECLINE, OFFERED_TO_ANNA, False),
        # Their own case once accepted; it cannot be accepted twice.
        (ANNA, DeskAction.VIEW, ANNAS, True),
        (ANNA, DeskAction.ACCEPT, ANNAS, False),
        (BEN, DeskAction.VIEW, ANNAS, False),
        # An offer left over in a case that moved on is no offer.
        (ANNA, DeskAction.ACCEPT, _case(CaseState.CLOSED, offered="anna"), False),
        # A supervisor sees their teams' cases but takes no offer in an agent's place.
        (LEAD_SUPPORT, DeskAction.VIEW, OFFERED_TO_ANNA, True),
        (LEAD_SUPPORT, DeskAction.ACCEPT, OFFERED_TO_ANNA, False),
        (DeskUser(id="lead-x", supervises=frozenset({"other"})), DeskAction.VIEW, ANNAS, False),
        # Only the owner replies to the customer and resolves, while the case is theirs.
        (ANNA, DeskAction.REPLY, ANNAS, True),
        (ANNA, DeskAction.RESOLVE, ANNAS, True),
        (BEN, DeskAction.REPLY, ANNAS, False),
        (BEN, DeskAction.RESOLVE, ANNAS, False),
        (LEAD_SUPPORT, DeskAction.REPLY, ANNAS, False),
        (ANNA, DeskAction.REPLY, OFFERED_TO_ANNA, False),
        (ANNA, DeskAction.RESOLVE, RESOLVED_BY_ANNA, False),
        # The follow-up is owed by the resolver, in FOLLOW_UP only.
        (ANNA, DeskAction.FOLLOW_UP, RESOLVED_BY_ANNA, True),
        (BEN, DeskAction.FOLLOW_UP, RESOLVED_BY_ANNA, False),
        (ANNA, DeskAction.FOLLOW_UP, ANNAS, False),
        # The handoff is rated by whoever received it, while the case is theirs.
        (ANNA, DeskAction.RATE, ANNAS, True),
        (ANNA, DeskAction.RATE, RESOLVED_BY_ANNA, True),
        (BEN, DeskAction.RATE, ANNAS, False),
        (ANNA, DeskAction.RATE, OFFERED_TO_ANNA, False),
        (LEAD_SUPPORT, DeskAction.RATE, ANNAS, False),
        # A supervisor sends their team's open case up; an agent cannot.
        (LEAD_SUPPORT, DeskAction.ESCALATE, OFFERED_TO_ANNA, True),
        (LEAD_SUPPORT, DeskAction.ESCALATE, ANNAS, True),
        (LEAD_SUPPORT, DeskAction.ESCALATE, RESOLVED_BY_ANNA, False),
        (DeskUser(id="lead-x", supervises=frozenset({"x"})), DeskAction.ESCALATE, ANNAS, False),
        (ANNA, DeskAction.ESCALATE, ANNAS, False),
        # ... or gives it to another agent; an agent cannot, nor another team's supervisor.
        (LEAD_SUPPORT, DeskAction.REASSIGN, ANNAS, True),
        (LEAD_SUPPORT, DeskAction.REASSIGN, OFFERED_TO_ANNA, True),
        (LEAD_SUPPORT, DeskAction.REASSIGN, RESOLVED_BY_ANNA, False),
        (ANNA, DeskAction.REASSIGN, ANNAS, False),
        (DeskUser(id="lead-x", supervises=frozenset({"x"})), DeskAction.REASSIGN, ANNAS, False),
        # An escalation to management waits for the one supervisor it asks: they see the
        # case and decide; the team's own supervisor, the agent and other heads do not.
        (HEAD, DeskAction.VIEW, WAITS_FOR_HEAD, True),
        (HEAD, DeskAction.APPROVE, WAITS_FOR_HEAD, True),
        (HEAD, DeskAction.VIEW, ANNAS, False),
        (HEAD, DeskAction.APPROVE, ANNAS, False),
        (LEAD_SUPPORT, DeskAction.APPROVE, WAITS_FOR_HEAD, False),
        (ANNA, DeskAction.APPROVE, WAITS_FOR_HEAD, False),
        (DeskUser(id="cfo-office"), DeskAction.APPROVE, WAITS_FOR_HEAD, False),
        # ... and only while the case is with a team (a resolved case asks nobody).
        (HEAD, DeskAction.APPROVE, _case(CaseState.FOLLOW_UP, approver="head-of-service"), False),
        # A lead's account is for reports, not for cases.
        (LEAD, DeskAction.VIEW, ANNAS, False),
        # A person of the same name who is no agent gets nothing offered to the agent.
        (DeskUser(id="anna"), DeskAction.ACCEPT, OFFERED_TO_ANNA, False),
    ],
)
def test_rule(user: DeskUser, action: DeskAction, case: CaseView, allowed: bool) -> None:
    assert may(user, action, case) is allowed


def test_the_directory_says_who_is_an_agent_and_whom_they_supervise() -> None:
    directory = Directory.model_validate(
        {
            "teams": [
                {
                    "id": "support-frontline",
                    "path": "customer_support",
                    "tier": "frontline",
                    "languages": ["en"],
                    "channels": ["chat"],
                    "calendar": {"around_the_clock": True},
                    "contact": "x@example.com",
                    "supervisor": "lead-support",
                }
            ],
            "agents": [
                {
                    "id": "anna",
                    "name": "Anna",
                    "team": "support-frontline",
                    "languages": ["en"],
                    "max_cases": 2,
                }
            ],
        }
    )
    assert desk_user("anna", directory) == ANNA.model_copy(update={"team": "support-frontline"})
    assert desk_user("lead-support", directory) == LEAD_SUPPORT
    assert desk_user("stranger", directory) == DeskUser(id="stranger")


def test_a_supervisor_sets_the_presence_of_their_teams_agents_only() -> None:
    assert may_set_presence(LEAD_SUPPORT, "support-frontline")
    assert not may_set_presence(LEAD_SUPPORT, "billing-frontline")
    assert not may_set_presence(ANNA, "support-frontline")


def test_only_a_lead_reads_reports_and_applies_proposals() -> None:
    assert may_lead(LEAD)
    assert not any(may_lead(u) for u in (ANNA, LEAD_SUPPORT))


def test_an_expert_of_the_team_asked_sees_and_answers_the_consult(policy: Any) -> None:
    case = _case(CaseState.AI_HANDLING).model_copy(
        update={
            "consulted": ["innovation_request"],
            "reasons": [
                ReasonHit(
                    name="innovation_request",
                    severity="low",
                    level=1,
                    path=policy.reasons["innovation_request"].path,
                )
            ],
        }
    )
    teams = open_consults(case, policy)
    (team,) = teams.values()
    assert list(teams) == ["innovation_request"]
    expert = DeskUser(id="erik", agent=True, team=team)
    consulting = frozenset(teams.values())
    assert may(expert, DeskAction.VIEW, case, consulting)
    assert may(expert, DeskAction.CONSULT, case, consulting)
    assert not may(expert, DeskAction.CONSULT, case)  # nothing asked of anyone
    outsider = DeskUser(id="otto", agent=True, team="not-" + team)
    assert not may(outsider, DeskAction.VIEW, case, consulting)
    assert not may(outsider, DeskAction.CONSULT, case, consulting)
    answered = case.model_copy(
        update={
            "expert_input": [
                ExpertInput(by="erik", reason="innovation_request", answer="a", at=case.opened_at)
            ]
        }
    )
    assert open_consults(answered, policy) == {}
    assert open_consults(case.model_copy(update={"state": CaseState.CLOSED}), policy) == {}
