"""Determinism: histories of cases in every state replay without non-determinism.

Two sources: histories this test produces now, and the stored corpus in
``tests/histories/`` (recorded with release 0.1.0 and later), which guards every
change to the workflow's logic: a change that is not behind ``workflow.patched`` fails
here (docs/versioning.md). ``BATON_RECORD_HISTORIES=name,...`` records new scenarios;
recordings already in the corpus stay as they are.
"""

import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from baton.notify.config import NotificationConfig
from baton.notify.deliverer import Deliverer
from baton.notify.templates import Templates
from baton.store.cases import CaseStore
from domain.case import CaseFile
from domain.models import CaseRecordBatch, ResolveRequest
from domain.policy import EscalationPolicy
from tests.conftest import (
    CaseDriver,
    ask_management_approval,
    case_on,
    case_replayer,
    new_case,
    start_time_skipping,
)
from tests.servers import TEMPLATES
from workflows.case import CaseWorkflow

CORPUS = Path(__file__).parent / "histories"


async def _scenario(env: WorkflowEnvironment, name: str, case: CaseDriver) -> None:
    if name == "ai_handling":
        await case.say("Where is my parcel?")
        await case.say("Let me check the tracking for you.", author="ai")
    elif name == "handoff":
        await case.say("I want to talk to a human", amount=2500.0)
        await env.sleep(timedelta(minutes=6))
    elif name == "human_handling":
        await case.say("This is fraud, someone used my card")
        await case.accept("ingrid")
        await case.say("Ingrid from compliance here", author="agent")
    elif name == "follow_up":
        await case.say("talk to a human")
        await case.accept("anna")
        await case.resolve("anna")
        await env.sleep(timedelta(days=1, minutes=1))
    elif name == "closed_expired":
        await case.say("talk to a human")
        await case.accept("anna")
        await case.resolve("anna")
        await case.handle.result()
    elif name == "abandoned":
        await case.say("hi")
        await case.say("How can I help?", author="ai")
        await case.handle.result()
    elif name == "detected_signals":
        await case.say("Where is my refund for order 1234?")
        await case.say("Let me check that for you.", author="ai")
        await case.say("I asked already: where is my refund for order 1234")
        await case.say("This is TERRIBLE!!! Your portal is down and I am furious.")
    elif name == "offer_expired":  # anna lets the offer lapse: ben's turn
        await case.say("I want to talk to a human")
        await env.sleep(timedelta(minutes=6))
        await case.accept("ben")
        await case.resolve("ben", escalation_necessary=True)
    elif name == "notification_failure":  # nobody has an endpoint: every delivery fails
        await case.say("talk to a human")
        await env.sleep(timedelta(minutes=6))
        await case.accept((await case.view()).offered_to or "")
    elif name == "repeat_escalation":  # the store holds this customer's earlier case
        await case.say("talk to a human")
        assert (await case.view()).repeat_of == "C-earlier"
    elif name == "documentation_window":  # the window passes before the next change
        await case.say("Where is my parcel?")
        await case.say("Let me check the tracking for you.", author="ai")
        await env.sleep(timedelta(seconds=3))
        await case.say("I want to talk to a human")
        agent = (await case.view()).offered_to or ""
        await case.accept(agent)
        await case.resolve(agent, escalation_necessary=True, root_cause="other")
    elif name == "closed_documented":  # a documented resolution closes at once
        await case.say("Where is my parcel?")
        await case.say("Let me check the tracking for you.", author="ai")
        await case.say("I want to talk to a human")
        await case.view()  # a query between local activities
        agent = (await case.view()).offered_to or ""
        await case.accept(agent)
        await case.resolve(agent, escalation_necessary=True, root_cause="other")
        await env.sleep(timedelta(days=1, minutes=1))
    elif name == "customer_inactive":  # a kept timer wakes the case before its deadline
        await case.say("hello")
        await case.say("Hi! What can I do for you?", author="ai")
        await env.sleep(timedelta(hours=6))
        await case.say("Are you still there?", author="ai")
        await case.handle.result()
    elif name == "consult":  # level 1: an expert answers, the AI keeps the case
        await case.say("Feature request: an export to SAP")
        assert (await case.view()).consulted == ["innovation_request"]
        await case.handle.execute_update(
            CaseWorkflow.consult_answer,
            {"by": "lena", "reason": "innovation_request", "answer": "On the Q3 roadmap"},
        )
    elif name == "escalation_chain":
        await case.say("talk to a human")
        await env.sleep(timedelta(minutes=12))
        await case.handle.execute_update(
            CaseWorkflow.escalate, {"by": "lead-support", "reason": "stuck"}
        )
    elif name == "tier_raised_in_handoff":  # patch team-moves-documented: a new team, at once
        await case.say("talk to a human")
        await case.baton.escalate(case.case_id, "lead-support", "needs a specialist")
        await env.sleep(timedelta(seconds=1))
    elif name == "reassigned":  # a supervisor gives anna's case to clara
        await case.say("I want to talk to a human")
        await case.accept("anna")
        await case.baton.reassign(case.case_id, "lead-support", "clara", "anna is ill")
        await case.accept("clara")
    elif name in ("approval_granted", "approval_timed_out"):  # up to management, asked
        await case.say("I want to talk to a human")
        await ask_management_approval(case.baton, case.case_id, "anna")
        if name == "approval_granted":
            await case.baton.decide_approval(case.case_id, "head-of-service", True, "ok")
        else:
            await env.sleep(timedelta(minutes=31))
        assert (await case.view()).offered_to == "maria"


SCENARIOS = [
    "ai_handling",
    "handoff",
    "human_handling",
    "follow_up",
    "closed_expired",
    "abandoned",
    "escalation_chain",
    "detected_signals",
    "offer_expired",
    "notification_failure",
    "repeat_escalation",
    "documentation_window",
    "closed_documented",
    "customer_inactive",
    "consult",
    "approval_granted",
    "approval_timed_out",
    "reassigned",
    "tier_raised_in_handoff",
]


async def test_fresh_histories_replay(policy, executor, tmp_path: Path) -> None:
    histories: list[WorkflowHistory] = []
    for name in SCENARIOS:
        env = await start_time_skipping()  # one server each, see the time_env fixture
        # A store each too: a scenario's cases stop with its server, holding their agents.
        store = CaseStore(f"sqlite:///{tmp_path / f'{name}.db'}")
        try:
            if name == "repeat_escalation":
                _seed_earlier_case(store, policy)
            deliverer = _nowhere(store) if name == "notification_failure" else None
            async with case_on(env, policy, store, executor, deliverer=deliverer) as case:
                await _scenario(env, name, case)
                history = await case.handle.fetch_history()
        finally:
            await env.shutdown()
            store.close()
        histories.append(history)
        if _recording(name):
            CORPUS.mkdir(exist_ok=True)
            record = {"workflow_id": history.workflow_id, "history": history.to_json_dict()}
            (CORPUS / f"{name}.json").write_text(json.dumps(record))
    await _replay(histories)


def _seed_earlier_case(store: CaseStore, policy: EscalationPolicy) -> None:
    """Customer cust-42's case of a day ago on the default path, closed by the AI."""
    earlier = new_case(case_id="C-earlier")
    file = CaseFile.open(earlier, policy, datetime.now(UTC) - timedelta(days=1))
    file.resolve(
        ResolveRequest(by="ai-bot", resolution="answered", root_cause="other"),
        datetime.now(UTC) - timedelta(days=1),
    )
    store.write_case(CaseRecordBatch(revision=1, view=file.view, events=[], messages=[]))


def _nowhere(store: CaseStore) -> Deliverer:
    """A deliverer with no channels: every notification fails for good."""
    return Deliverer(NotificationConfig(), Templates(TEMPLATES), store)


def _recording(name: str) -> bool:
    # Only the scenarios named: the recordings already kept guard against unpatched
    # changes, so they are never overwritten by the code they are meant to check.
    wanted = os.environ.get("BATON_RECORD_HISTORIES", "")
    return name in wanted.split(",") and not (CORPUS / f"{name}.json").exists()


async def test_stored_corpus_replays() -> None:
    files = sorted(CORPUS.glob("*.json"))
    missing = set(SCENARIOS) - {f.stem for f in files}
    assert not missing, f"record them: BATON_RECORD_HISTORIES={','.join(sorted(missing))}"
    records = [json.loads(f.read_text()) for f in files]
    histories = [WorkflowHistory.from_json(r["workflow_id"], r["history"]) for r in records]
    await _replay(histories)


async def _replay(histories: list[WorkflowHistory]) -> None:
    replayer = case_replayer()

    async def each() -> AsyncIterator[WorkflowHistory]:
        for history in histories:
            yield history

    results = await replayer.replay_workflows(each(), raise_on_replay_failure=False)
    assert results.replay_failures == {}
