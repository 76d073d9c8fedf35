"""Approvals through the workflow, with time skipping: a non-urgent escalation to the
management tier waits for that tier's supervisor (update ``decide_approval``), and
the configured timeout decides when nobody answers."""

import asyncio
from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from baton.store.cases import CaseStore
from baton.temporal.client import CaseRequestRejected
from domain.policy import EscalationPolicy
from domain.states import CaseState, Tier
from tests.conftest import CaseDriver, ask_management_approval, case_on


@pytest.fixture
def on(time_env: WorkflowEnvironment, policy, store, executor):
    return lambda case=None: case_on(time_env, policy, store, executor, case)


async def _at_specialist_asking(case: CaseDriver) -> None:
    """Handed over, taken by anna, up to alexander (specialists), then asked to go up."""
    await case.say("I want to talk to a human")
    view = await ask_management_approval(case.baton, case.case_id, "anna")
    assert (view.tier, view.assigned_agent) == (Tier.SPECIALIST, "alexander")
    assert view.pending_approval is not None
    assert view.pending_approval.supervisor == "head-of-service"


async def _approver_on_record(store: CaseStore, case_id: str, expected: str | None) -> str | None:
    """The stored record's approver, waiting up to 5 s for it to become ``expected``."""
    approver = None
    for _ in range(100):
        row = store.case(case_id)
        approver = row.approver if row else None
        if row is not None and approver == expected:
            break
        await asyncio.sleep(0.05)
    return approver


async def test_the_supervisor_approves_and_the_case_goes_to_management(
    on, store: CaseStore
) -> None:
    async with on() as case:
        await _at_specialist_asking(case)
        # Asked: written at once, so the approver's desk lists it.
        assert (
            await _approver_on_record(store, case.case_id, "head-of-service") == "head-of-service"
        )
        before = await case.view()
        with pytest.raises(CaseRequestRejected, match="needs a reason"):
            await case.baton.decide_approval(case.case_id, "head-of-service", False)
        with pytest.raises(CaseRequestRejected, match="waits for head-of-service's approval"):
            await case.baton.decide_approval(case.case_id, "lead-specialists", True)
        assert (await case.view()).history == before.history  # refused: nothing changed

        view = await case.baton.decide_approval(case.case_id, "head-of-service", True, "ok")
        assert (view.state, view.tier, view.offered_to) == (
            CaseState.HANDOFF,
            Tier.MANAGEMENT,
            "maria",
        )
        assert view.pending_approval is None
        triggers = await case.triggers()
        assert triggers[-4:] == ["approval_requested", "approval_granted", "escalated", "offered"]
        await case.accept("maria")
        await case.resolve("maria", escalation_necessary=True, root_cause="policy_exception")
    assert await _approver_on_record(store, case.case_id, None) is None
    documented = [e.trigger for e in store.events(case.case_id)]
    assert {"approval_requested", "approval_granted"} <= set(documented)


async def test_a_denied_escalation_stays_with_the_specialist(on) -> None:
    async with on() as case:
        await _at_specialist_asking(case)
        view = await case.baton.decide_approval(
            case.case_id, "head-of-service", False, "offer a voucher first"
        )
        assert (view.state, view.tier, view.assigned_agent) == (
            CaseState.HUMAN_HANDLING,
            Tier.SPECIALIST,
            "alexander",
        )
        assert view.history[-1].cause == "denied by head-of-service: offer a voucher first"
        assert not any(d.name == "approval_timeout" for d in view.deadlines)


async def test_nobody_answers_and_the_timeout_sends_it_up(
    on, time_env: WorkflowEnvironment, policy: EscalationPolicy
) -> None:
    assert policy.approvals is not None
    async with on() as case:
        await _at_specialist_asking(case)
        await time_env.sleep(policy.approvals.timeout + timedelta(seconds=1))
        view = await case.view()
        assert (view.tier, view.offered_to, view.pending_approval) == (
            Tier.MANAGEMENT,
            "maria",
            None,
        )
        assert "approval_timed_out" in await case.triggers()
