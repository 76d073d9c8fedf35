"""Every durable timer of a case: breach, cancellation and reset, with time skipping."""

import time
from collections import Counter
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from baton.store.cases import CaseStore
from domain.models import Outcome
from domain.policy import EscalationPolicy
from domain.states import CaseState, Tier
from tests.conftest import case_on
from workflows import search_attributes

SECOND = timedelta(seconds=1)


@pytest.fixture
def on(time_env: WorkflowEnvironment, policy, store, executor):
    return lambda case=None: case_on(time_env, policy, store, executor, case)


async def test_ai_handling_limit_breach_hands_off(on, time_env, policy: EscalationPolicy) -> None:
    async with on() as case:
        await case.say("How do I change my billing address?")
        await time_env.sleep(policy.timers.ai_handling_limit.low + SECOND)
        view = await case.view()
        assert view.state is CaseState.HANDOFF
        assert [r.name for r in view.reasons] == ["ai_handling_limit"]
        assert view.offered_to == "anna"


async def test_ai_handling_limit_cancelled_by_resolution(
    on, time_env, policy: EscalationPolicy, store: CaseStore
) -> None:
    async with on() as case:
        await case.say("How do I change my billing address?")
        await case.resolve("ai-bot", root_cause="how_to_question")
        assert await case.handle.result() is not None
        await time_env.sleep(policy.timers.ai_handling_limit.low * 2)
        view = await case.view()
        assert view.state is CaseState.CLOSED
        assert "escalated" not in await case.triggers()


async def test_accept_timeout_moves_to_next_agent_then_resets(
    on, time_env, policy: EscalationPolicy
) -> None:
    timeout = policy.timers.accept_timeout.high
    async with on() as case:
        await case.say("Please let me talk to a human")
        first = await case.view()
        await time_env.sleep(timeout + SECOND)
        second = await case.view()
        assert (first.offered_to, second.offered_to) == ("anna", "ben")
        # Reset: the new offer has its own full timeout.
        accept = next(d for d in second.deadlines if d.name == "accept_timeout")
        assert accept.at == second.offered_at + timeout
        await time_env.sleep(timeout + SECOND)
        assert (await case.view()).offered_to == "clara"


async def test_accept_timeout_cancelled_by_accept(on, time_env, policy: EscalationPolicy) -> None:
    async with on() as case:
        await case.say("talk to a human")
        await case.accept("anna")
        await time_env.sleep(policy.timers.accept_timeout.high * 3)
        view = await case.view()
        assert (view.state, view.assigned_agent) == (CaseState.HUMAN_HANDLING, "anna")
        assert "offer_expired" not in await case.triggers()


async def test_first_response_sla_breach_goes_up_a_tier(
    on, time_env, policy: EscalationPolicy, store: CaseStore
) -> None:
    async with on() as case:
        await case.say("talk to a human")
        await case.accept("anna")
        await time_env.sleep(policy.timers.first_response_sla.high + SECOND)
        view = await case.view()
        assert (view.state, view.tier, view.offered_to, view.sla_breaches) == (
            CaseState.HANDOFF,
            Tier.SPECIALIST,
            "alexander",
            1,
        )
        events = {(n.event, n.recipient) for n in store.outbox(view.case_id)}
        assert ("sla_breached", "lead-support") in events
        # The breach is searchable: "SlaBreaches > 0" lists it in the Web UI.
        attributes = (await case.handle.describe()).typed_search_attributes
        assert attributes.get(search_attributes.SLA_BREACHES) == 1


async def test_first_response_sla_cancelled_by_agent_reply(
    on, time_env, policy: EscalationPolicy
) -> None:
    async with on() as case:
        await case.say("talk to a human")
        await case.accept("anna")
        await case.say("Hi, Anna here, looking into it", author="agent")
        await case.say("thanks")
        await time_env.sleep(policy.timers.first_response_sla.high + SECOND)
        view = await case.view()
        assert view.state is CaseState.HUMAN_HANDLING and view.sla_breaches == 0


async def test_resolution_sla_breach_and_cancellation(
    on, time_env, policy: EscalationPolicy
) -> None:
    async with on() as case:
        await case.say("talk to a human")
        await case.accept("anna")
        await case.say("Anna here", author="agent")
        await case.say("ok")  # customer answers: no inactivity clock
        await time_env.sleep(policy.timers.resolution_sla.high + SECOND)
        view = await case.view()
        assert view.sla_breaches == 1 and view.tier is Tier.SPECIALIST
        await case.accept("alexander")
        await case.resolve("alexander", root_cause="product_defect", escalation_necessary=True)
        await time_env.sleep(policy.timers.resolution_sla.high * 2)
        view = await case.view()
        assert view.state is CaseState.CLOSED and view.sla_breaches == 1


async def test_customer_inactivity_closes_as_abandoned(
    on, time_env, policy: EscalationPolicy
) -> None:
    async with on() as case:
        await case.say("hello")
        await case.say("Hi! What can I do for you?", author="ai")
        result = await case.handle.result()  # time skips to the inactivity deadline
        assert (result.state, result.outcome) == (CaseState.CLOSED, Outcome.ABANDONED)
        assert result.history[-1].at - result.history[0].at >= policy.timers.customer_inactivity


async def test_customer_inactivity_resets_when_the_customer_answers(
    on, time_env, policy: EscalationPolicy
) -> None:
    inactivity = policy.timers.customer_inactivity
    async with on() as case:
        await case.say("hello")
        await case.say("Which order?", author="ai")
        await time_env.sleep(inactivity - timedelta(hours=1))
        await case.say("Order 42")
        await case.say("Found it, shall I refund?", author="ai")
        await time_env.sleep(inactivity - timedelta(hours=1))
        assert (await case.view()).state is CaseState.AI_HANDLING
        await time_env.sleep(timedelta(hours=1) + SECOND)
        assert (await case.view()).state is CaseState.CLOSED


async def test_a_later_deadline_keeps_the_running_timer(
    on, time_env, policy: EscalationPolicy
) -> None:
    """A reply that pushes the inactivity deadline later does not
    cancel the running timer; its early wake changes nothing, the deadline still holds."""
    inactivity = policy.timers.customer_inactivity
    async with on() as case:
        await case.say("hello")
        await case.say("Hi! What can I do for you?", author="ai")
        await time_env.sleep(timedelta(hours=6))
        await case.say("Are you still there?", author="ai")
        await time_env.sleep(inactivity - timedelta(hours=5))  # past the first deadline
        assert (await case.view()).state is CaseState.AI_HANDLING
        result = await case.handle.result()
        history = await case.handle.fetch_history()
    assert (result.state, result.outcome) == (CaseState.CLOSED, Outcome.ABANDONED)
    # In workflow time: from the last reply to the close.
    assert result.history[-1].at - result.recent_messages[-1].at >= inactivity
    kinds = Counter(EventType.Name(e.event_type) for e in history.events)
    converter = time_env.client.data_converter.payload_converter
    started = [
        converter.from_payload(e.user_metadata.summary, str)
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
    ]
    deadline_timers = [s for s in started if not s.startswith("documentation")]
    # The AI limit's timer (paused by the reply) wakes the case early, then the first
    # inactivity timer does; the second closes the case. None is cancelled.
    assert deadline_timers == [
        "AI handling limit, low: 2 h",
        "customer inactivity: 1 d",
        "customer inactivity: 1 d",
    ]
    assert kinds["EVENT_TYPE_TIMER_STARTED"] == kinds["EVENT_TYPE_TIMER_FIRED"]
    assert kinds["EVENT_TYPE_TIMER_CANCELED"] == 0


async def test_three_days_of_follow_up_pass_in_a_moment(
    on, time_env, policy: EscalationPolicy, store: CaseStore
) -> None:
    async with on() as case:
        await case.say("talk to a human")
        await case.accept("anna")
        await case.resolve("anna")
        started = time.monotonic()
        result = await case.handle.result()
        wall = time.monotonic() - started
        assert result.state is CaseState.CLOSED
        assert result.follow_up is not None
        assert result.follow_up.missing == ["root_cause", "escalation_necessary"]
        waited = result.history[-1].at - result.history[-3].at
        assert waited >= policy.timers.follow_up_deadline  # three days of workflow time
        events = [n.event for n in store.outbox(result.case_id)]
        assert events.count("follow_up_reminder") == 1
        print(f"3-day follow-up wait took {wall:.3f} s of wall time")
        assert wall < 30  # generous: without time skipping it would take three days


async def test_timers_and_activities_tell_the_story_in_history(on, time_env) -> None:
    async with on() as case:
        # Open first: on a busy machine the start and the message can share the first
        # workflow task, and a case handed over at once never arms the AI's limit.
        await case.view()
        await case.say("talk to a human")
        history = await case.handle.fetch_history()
    converter = time_env.client.data_converter.payload_converter
    summaries = [
        converter.from_payload(e.user_metadata.summary, str)
        for e in history.events
        if e.HasField("user_metadata") and e.user_metadata.HasField("summary")
    ]
    assert "acceptance timeout, high: 5 min" in summaries
    assert "assess message m1" in summaries
    # One activity per change delivers all its notifications, each named.
    assert any(
        s.startswith("notify") and "frontline agent anna: case offered" in s for s in summaries
    )
    assert any(s.startswith("AI handling limit, low") for s in summaries)
