"""The documentation store on SQLite and on the local PostgreSQL: idempotent writes."""

import uuid
from collections.abc import Iterator

import pytest

from baton.store import CaseStore
from domain.models import CaseRecordBatch, Notification
from domain.states import CaseState
from tests.conftest import case_on
from tests.test_case_rules import at, open_case, say


@pytest.fixture
def postgres_store(postgres_url: str) -> Iterator[CaseStore]:
    """A store in a throwaway schema of the local PostgreSQL (required in CI)."""
    store = CaseStore(postgres_url)
    yield store
    store.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, store: CaseStore) -> CaseStore:
    if request.param == "sqlite":
        return store
    return request.getfixturevalue("postgres_store")


def _batch(policy, revision_messages: int = 2) -> CaseRecordBatch:
    file = open_case(policy)
    for i in range(revision_messages):
        say(file, f"message {i}", at(i + 1))
    return CaseRecordBatch(
        revision=file.revision,
        view=file.view,
        events=list(file.new_events),
        messages=list(file.new_messages),
    )


def test_case_record_is_written_once(any_store: CaseStore, policy) -> None:
    batch = _batch(policy)
    any_store.write_case(batch)
    any_store.write_case(batch)  # a retried activity
    case_id = batch.view.case_id
    row = any_store.case(case_id)
    assert row is not None and row.revision == batch.revision and row.state == "AI_HANDLING"
    assert [e.seq for e in any_store.events(case_id)] == [1]
    assert [m.text for m in any_store.messages(case_id)] == ["message 0", "message 1"]


def test_older_revision_never_overwrites_newer(any_store: CaseStore, policy) -> None:
    file = open_case(policy)
    say(file, "talk to a human", at(1))
    newer = CaseRecordBatch(revision=file.revision, view=file.view, events=[], messages=[])
    older_view = file.view.model_copy(update={"state": CaseState.AI_HANDLING})
    older = CaseRecordBatch(revision=1, view=older_view, events=[], messages=[])
    any_store.write_case(newer)
    any_store.write_case(older)
    row = any_store.case(file.view.case_id)
    assert row is not None and row.state == "HANDOFF" and row.revision == newer.revision


def test_outbox_keeps_each_key_once(any_store: CaseStore) -> None:
    note = Notification(
        key=f"C-1/{uuid.uuid4()}/case_offered/anna",
        case_id="C-1",
        event="case_offered",
        recipient="anna",
        recipient_kind="agent",
        channel="default",
        language="de",
        subject="Fall angeboten",
        body="Fall angeboten",
        context={"umlaut": "Zahlung doppelt abgebucht – ärgerlich"},
    )
    assert any_store.add_notification(note) is True
    assert any_store.add_notification(note) is False
    [row] = [r for r in any_store.outbox("C-1") if r.key == note.key]
    assert "ärgerlich" in row.context_json and row.status == "pending"


async def test_workflow_documents_into_postgresql(
    time_env, policy, postgres_store: CaseStore, executor
) -> None:
    async with case_on(time_env, policy, postgres_store, executor) as case:
        await case.say("I want to talk to a human")
        await case.accept("anna")
        await case.resolve("anna", root_cause="billing", escalation_necessary=True)
        result = await case.handle.result()
    row = postgres_store.case(result.case_id)
    assert row is not None and row.state == "CLOSED" and row.assigned_agent == "anna"
    assert len(postgres_store.events(result.case_id)) == result.history_seq
    assert len(postgres_store.outbox(result.case_id)) == 3
    assert [m.text for m in postgres_store.messages(result.case_id)] == [
        "I want to talk to a human"
    ]
