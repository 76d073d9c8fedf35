"""Reassigning a case by hand: a supervisor gives it to another agent of its tier;
unit-tested on the case rules, with the example directory's routing."""

import pytest
from pydantic import ValidationError

from domain.case import CaseFile, CaseRuleViolation
from domain.examples import routed
from domain.models import AcceptRequest, DirectoryOp, ReassignRequest
from domain.policy import EscalationPolicy
from domain.routing import RoutingDecision
from domain.states import CaseState, Trigger
from tests.test_case_rules import at, open_case, say


def _with_anna(policy: EscalationPolicy) -> CaseFile:
    file = open_case(policy)
    say(file, "I need to speak to a human", at(1))
    file.accept(AcceptRequest(agent_id="anna"), at(2))
    return file


def _reassign(file: CaseFile, to: str, minutes: float = 3) -> None:
    file.reassign(
        ReassignRequest(by="lead-support", agent_id=to, reason="anna is ill"), at(minutes)
    )


def test_the_case_is_offered_to_the_supervisors_choice(policy: EscalationPolicy) -> None:
    file = _with_anna(policy)
    file.take_directory_ops()
    _reassign(file, "clara")
    v = file.view
    assert (v.state, v.assigned_agent, v.reassign_to) == (CaseState.HANDOFF, None, "clara")
    assert v.history[-1].trigger is Trigger.REASSIGNED
    assert v.history[-1].cause == "reassigned by lead-support to clara: anna is ill"
    assert file.directory_ops == [DirectoryOp(kind="release")]  # anna's slot freed first
    request = file.routing_request(at(3))
    assert request.only == "clara"
    decision = RoutingDecision(
        agent_id="clara",
        team_id="support-frontline",
        candidates=["clara"],
        passed_over={},
        supervisor="x",
    )
    file.routed(decision, file.view.offer_no, at(3))
    assert (file.view.offered_to, file.view.reassign_to) == ("clara", None)
    file.accept(AcceptRequest(agent_id="clara"), at(4))
    assert (file.view.state, file.view.assigned_agent) == (CaseState.HUMAN_HANDLING, "clara")


def test_an_agent_who_cannot_take_it_leaves_it_to_routing(policy: EscalationPolicy) -> None:
    file = _with_anna(policy)
    _reassign(file, "clara")
    file.routing_request(at(3))
    nobody = RoutingDecision(
        agent_id=None, team_id="support-frontline", candidates=[], passed_over={"clara": "away"}
    )
    file.routed(nobody, file.view.offer_no, at(3))
    v = file.view
    assert v.history[-1].trigger is Trigger.REASSIGN_FAILED
    assert v.history[-1].cause == "clara cannot take it (away)"
    assert (v.route_needed, v.reassign_to) == (True, None)  # the next routing is the usual one
    assert file.routing_request(at(3)).only is None


def test_through_the_example_directory_the_choice_gets_the_offer(
    policy: EscalationPolicy,
) -> None:
    file = _with_anna(policy)
    _reassign(file, "clara")  # left to itself, routing would pick ben (ties go by id)
    routed(file, at(3))
    assert file.view.offered_to == "clara"


def test_a_pointless_or_unexplained_reassignment_is_refused(policy: EscalationPolicy) -> None:
    file = _with_anna(policy)
    before = file.view.model_copy(deep=True)
    with pytest.raises(CaseRuleViolation, match="already with anna"):
        _reassign(file, "anna")
    assert file.view == before
    with pytest.raises(ValidationError, match="reason"):
        ReassignRequest(by="lead-support", agent_id="ben", reason=" ")


def test_only_a_case_with_a_team_is_reassigned(policy: EscalationPolicy) -> None:
    file = open_case(policy)
    with pytest.raises(CaseRuleViolation, match="only a case with a team"):
        _reassign(file, "ben")
