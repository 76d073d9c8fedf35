"""Reassigning a case by hand through the workflow (update ``reassign``), against the
time-skipping server and a real SQLite directory."""

import asyncio

import pytest
from temporalio.testing import WorkflowEnvironment

from baton.store.cases import CaseStore
from baton.store.directory import DirectoryStore
from baton.temporal.client import CaseRequestRejected
from domain.directory import Presence
from domain.states import CaseState
from tests.conftest import case_on


@pytest.fixture
def on(time_env: WorkflowEnvironment, policy, store, executor):
    return lambda case=None: case_on(time_env, policy, store, executor, case)


async def _active_cases(directory: DirectoryStore, agent: str, expected: int) -> int:
    """``agent``'s load once the case's reservation changes have been applied."""
    load = -1
    for _ in range(100):
        found = directory.loads().get(agent)
        load = found.active_cases if found else 0
        if load == expected:
            break
        await asyncio.sleep(0.05)
    return load


async def test_the_supervisor_gives_the_case_to_another_agent(on, store: CaseStore) -> None:
    directory = DirectoryStore(store.engine)
    async with on() as case:
        await case.say("I want to talk to a human")
        await case.accept("anna")
        with pytest.raises(CaseRequestRejected, match="already with anna"):
            await case.baton.reassign(case.case_id, "lead-support", "anna", "again")
        view = await case.baton.reassign(case.case_id, "lead-support", "clara", "anna is ill")
        assert (view.state, view.offered_to, view.assigned_agent) == (
            CaseState.HANDOFF,
            "clara",
            None,
        )
        assert await _active_cases(directory, "anna", 0) == 0  # her slot is free again
        view = await case.accept("clara")
        assert (view.state, view.assigned_agent) == (CaseState.HUMAN_HANDLING, "clara")
        assert "reassigned" in await case.triggers()


async def test_an_agent_who_is_away_leaves_the_case_to_routing(on, store: CaseStore) -> None:
    async with on() as case:
        DirectoryStore(store.engine).set_presence("clara", Presence.AWAY)
        await case.say("I want to talk to a human")
        await case.accept("anna")
        view = await case.baton.reassign(case.case_id, "lead-support", "clara", "anna is ill")
        assert view.offered_to not in (None, "clara")
        failed = next(e for e in view.history if e.trigger.value == "reassign_failed")
        assert failed.cause.startswith("clara cannot take it (")
