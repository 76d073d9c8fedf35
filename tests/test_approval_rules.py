"""Approvals: a non-urgent escalation to the management tier waits for that tier's
supervisor; unit-tested on the case rules without Temporal."""

from datetime import timedelta

import pytest

from baton.reports.kpis import figure_rows
from domain.case import CaseFile, CaseRuleViolation
from domain.examples import routed
from domain.kpis import case_facts, key_figures
from domain.models import AcceptRequest, ApprovalDecision, EscalateRequest, ResolveRequest
from domain.policy import Approvals, ApprovalTimeout, EscalationPolicy
from domain.states import CaseState, Severity, Tier, Trigger
from domain.timers import DeadlineName
from tests.test_case_rules import at, due, open_case, say


def _with(policy: EscalationPolicy, approvals: Approvals | None) -> EscalationPolicy:
    return policy.model_copy(update={"approvals": approvals})


def _at_specialist(policy: EscalationPolicy) -> CaseFile:
    """A high-severity case accepted by alexander at the specialist tier."""
    file = open_case(policy)
    say(file, "I need to speak to a human", at(1))
    file.accept(AcceptRequest(agent_id="anna"), at(2))
    file.escalate(EscalateRequest(by="lead-support", reason="needs a specialist"), at(3))
    routed(file, at(3))
    assert file.view.tier is Tier.SPECIALIST and file.view.offered_to == "alexander"
    file.accept(AcceptRequest(agent_id="alexander"), at(4))
    assert file.view.severity is Severity.HIGH
    return file


def _ask(file: CaseFile, minutes: float = 5) -> list:
    return file.escalate(
        EscalateRequest(by="lead-specialists", reason="refund above my limit"), at(minutes)
    )


def _triggers(file: CaseFile) -> list[Trigger]:
    return [e.trigger for e in file.view.history]


def test_a_non_urgent_escalation_to_management_waits_for_its_supervisor(
    policy: EscalationPolicy,
) -> None:
    file = _at_specialist(policy)
    notes = _ask(file)
    v = file.view
    assert (v.state, v.tier, v.assigned_agent) == (
        CaseState.HUMAN_HANDLING,
        Tier.SPECIALIST,
        "alexander",
    )
    pending = v.pending_approval
    assert pending is not None
    assert (pending.team, pending.supervisor, pending.asked_by) == (
        "support-management",
        "head-of-service",
        "lead-specialists",
    )
    assert pending.due_at == at(5) + timedelta(minutes=30)
    assert _triggers(file)[-1] is Trigger.APPROVAL_REQUESTED
    assert [(n.event, n.recipient, n.recipient_kind) for n in notes] == [
        ("approval_requested", "head-of-service", "supervisor")
    ]
    approval = next(d for d in v.deadlines if d.name == DeadlineName.APPROVAL_TIMEOUT)
    assert approval.at == pending.due_at
    before = v.model_copy(deep=True)
    with pytest.raises(CaseRuleViolation, match="already waits for approval"):
        _ask(file, 6)
    assert file.view == before


def test_approved_the_case_goes_up_at_once(policy: EscalationPolicy) -> None:
    file = _at_specialist(policy)
    _ask(file)
    notes = file.decide_approval(
        ApprovalDecision(by="head-of-service", approve=True, reason="large refund"), at(7)
    )
    v = file.view
    assert (v.state, v.tier, v.pending_approval) == (CaseState.HANDOFF, Tier.MANAGEMENT, None)
    assert _triggers(file)[-2:] == [Trigger.APPROVAL_GRANTED, Trigger.ESCALATED]
    assert "approved by head-of-service" in v.history[-1].cause
    decided = {(n.recipient, n.context["outcome"]) for n in notes if n.event == "approval_decided"}
    assert decided == {("lead-specialists", "granted"), ("alexander", "granted")}
    assert not any(d.name == DeadlineName.APPROVAL_TIMEOUT for d in v.deadlines)


def test_denied_the_case_stays_and_a_denial_needs_its_reason(policy: EscalationPolicy) -> None:
    file = _at_specialist(policy)
    _ask(file)
    before = file.view.model_copy(deep=True)
    with pytest.raises(CaseRuleViolation, match="needs a reason"):
        file.decide_approval(ApprovalDecision(by="head-of-service", approve=False), at(6))
    with pytest.raises(CaseRuleViolation, match="waits for head-of-service's approval"):
        file.decide_approval(ApprovalDecision(by="lead-specialists", approve=True), at(6))
    assert file.view == before
    notes = file.decide_approval(
        ApprovalDecision(by="head-of-service", approve=False, reason="offer a voucher first"),
        at(8),
    )
    v = file.view
    assert (v.state, v.tier, v.assigned_agent) == (
        CaseState.HUMAN_HANDLING,
        Tier.SPECIALIST,
        "alexander",
    )
    assert v.pending_approval is None
    assert _triggers(file)[-1] is Trigger.APPROVAL_DENIED
    assert v.history[-1].cause == "denied by head-of-service: offer a voucher first"
    assert {n.context["outcome"] for n in notes} == {"denied"}
    with pytest.raises(CaseRuleViolation, match="no escalation"):
        file.decide_approval(ApprovalDecision(by="head-of-service", approve=True), at(9))
    _ask(file, 10)  # denied once, it may be asked again
    assert file.view.pending_approval is not None


@pytest.mark.parametrize(
    ("on_timeout", "tier"),
    [(ApprovalTimeout.ESCALATE, Tier.MANAGEMENT), (ApprovalTimeout.STAY, Tier.SPECIALIST)],
)
def test_nobody_answers_the_configured_timeout_decides(
    policy: EscalationPolicy, on_timeout: ApprovalTimeout, tier: Tier
) -> None:
    approvals = Approvals(timeout=timedelta(minutes=20), on_timeout=on_timeout)
    file = _at_specialist(_with(policy, approvals))
    _ask(file)
    assert due(file, DeadlineName.APPROVAL_TIMEOUT, at(24)) == []  # not yet due
    notes = due(file, DeadlineName.APPROVAL_TIMEOUT, at(25))
    assert file.view.tier is tier and file.view.pending_approval is None
    assert Trigger.APPROVAL_TIMED_OUT in _triggers(file)
    assert "did not answer within 20 min" in next(
        e.cause for e in file.view.history if e.trigger is Trigger.APPROVAL_TIMED_OUT
    )
    assert {n.context["outcome"] for n in notes if n.event == "approval_decided"} == {"timed_out"}


def test_critical_cases_and_the_supervisors_own_escalation_skip_it(
    policy: EscalationPolicy,
) -> None:
    file = open_case(policy)
    say(file, "Someone used my card without my permission, this is fraud", at(1))
    assert file.view.severity is Severity.CRITICAL and file.view.tier is Tier.SPECIALIST
    file.accept(AcceptRequest(agent_id=file.view.offered_to or ""), at(2))
    file.escalate(EscalateRequest(by="compliance-officer", reason="legal must see it"), at(3))
    routed(file, at(3))
    assert file.view.tier is Tier.MANAGEMENT
    assert Trigger.APPROVAL_REQUESTED not in _triggers(file)

    own = _at_specialist(policy)
    own.escalate(EscalateRequest(by="head-of-service", reason="I take it"), at(5))
    assert own.view.tier is Tier.MANAGEMENT and own.view.pending_approval is None


def test_without_approvals_configured_cases_go_up_at_once(policy: EscalationPolicy) -> None:
    file = _at_specialist(_with(policy, None))
    _ask(file)
    assert file.view.tier is Tier.MANAGEMENT
    assert Trigger.APPROVAL_REQUESTED not in _triggers(file)


def test_a_breached_sla_asks_once_and_restarts_the_clock(policy: EscalationPolicy) -> None:
    file = _at_specialist(policy)
    sla = DeadlineName.FIRST_RESPONSE_SLA
    breach = next(d for d in file.view.deadlines if d.name == sla)
    notes = due(file, sla, breach.at)
    v = file.view
    assert v.tier is Tier.SPECIALIST and v.pending_approval is not None
    assert v.pending_approval.asked_by == "timer"
    assert {"approval_requested", "sla_breached"} <= {n.event for n in notes}
    again = next(d for d in v.deadlines if d.name == sla)
    assert again.at > breach.at  # a fresh clock at the same tier: no instant re-breach
    due(file, sla, again.at)
    assert _triggers(file).count(Trigger.APPROVAL_REQUESTED) == 1


def test_resolving_or_moving_the_case_withdraws_the_request(policy: EscalationPolicy) -> None:
    file = _at_specialist(policy)
    _ask(file)
    file.resolve(ResolveRequest(by="alexander", resolution="refunded"), at(9))
    assert file.view.pending_approval is None
    assert _triggers(file)[-2:] == [Trigger.APPROVAL_WITHDRAWN, Trigger.RESOLVED]
    assert not any(d.name == DeadlineName.APPROVAL_TIMEOUT for d in file.view.deadlines)


def test_the_kpis_count_how_approvals_ended(policy: EscalationPolicy) -> None:
    granted, denied, timed_out, withdrawn = (_at_specialist(policy) for _ in range(4))
    for file in (granted, denied, timed_out, withdrawn):
        _ask(file)
    granted.decide_approval(ApprovalDecision(by="head-of-service", approve=True), at(6))
    denied.decide_approval(
        ApprovalDecision(by="head-of-service", approve=False, reason="no"), at(6)
    )
    due(timed_out, DeadlineName.APPROVAL_TIMEOUT, at(40))
    withdrawn.resolve(ResolveRequest(by="alexander", resolution="refunded"), at(9))
    figures = key_figures([case_facts(f.view) for f in (granted, denied, timed_out, withdrawn)])
    assert (
        figures.approvals_asked,
        figures.approvals_granted,
        figures.approvals_denied,
        figures.approvals_timed_out,
    ) == (4, 1, 1, 1)
    rows = dict(figure_rows(figures))
    assert rows["approvals: asked · granted · denied · timed out"] == "4 · 1 · 1 · 1"
