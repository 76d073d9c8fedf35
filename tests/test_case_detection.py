"""The case workflow feeds the detector its own conversation: earlier turns, their
sentiment, the turn count; the verdict's risk and sentiment land in the case."""

from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.models import Author
from domain.policy import EscalationPolicy
from domain.states import CaseState, EscalationLevel
from tests.conftest import case_on


@pytest.fixture
def on(time_env: WorkflowEnvironment, policy, store, executor):
    return lambda case=None: case_on(time_env, policy, store, executor, case)


async def test_a_repeated_question_escalates_from_the_cases_own_history(
    on, time_env: WorkflowEnvironment, policy: EscalationPolicy
) -> None:
    async with on() as case:
        first = await case.say("Where is my refund for order 1234?")
        assert first.reasons == [] and first.state is CaseState.AI_HANDLING
        await case.say("Let me check that for you.", author="ai")
        again = await case.say("I asked already: where is my refund for order 1234")
        [repeat] = [r for r in again.reasons if r.name == "repetition"]
        assert repeat.threshold == policy.detection.repetition.similarity / 100
        assert "1 back" in repeat.evidence
        # Level 2, not immediate: the AI handling limit at the raised severity hands it off.
        view = await case.view()
        assert view.pending_escalation is not None
        await time_env.sleep(policy.timers.ai_handling_limit.medium + timedelta(seconds=1))
        view = await case.view()
        assert view.state is CaseState.HANDOFF and view.level is EscalationLevel.TAKEOVER


async def test_sentiment_and_risk_are_kept_on_the_case(on) -> None:
    async with on() as case:
        calm = await case.say("Hello, how do I update my address?")
        angry = await case.say(
            "This is TERRIBLE!!! Your service is down and nobody helps, I am furious."
        )
        assert 0.0 <= calm.risk < angry.risk <= 1.0
        view = await case.view()
        assert view.risk == angry.risk
        customer = [m for m in view.recent_messages if m.author is Author.CUSTOMER]
        assert customer[0].sentiment is not None and customer[1].sentiment is not None
        assert customer[1].sentiment < 0 <= customer[0].sentiment
        names = {r.name for r in angry.reasons}
        assert {"emotional_intensity", "service_outage"} <= names
        assert view.state is CaseState.HANDOFF  # service outage is an immediate reason
