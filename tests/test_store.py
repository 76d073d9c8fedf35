"""The documentation store on SQLite and on the local PostgreSQL: idempotent writes."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from baton.store.cases import CaseStore, DeliveryRow
from domain.case import CaseFile
from domain.models import CaseRecordBatch, Notification
from domain.states import CaseState
from tests.conftest import case_on, new_case
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
    return _batch_of(file)


def _batch_of(file) -> CaseRecordBatch:
    """What the workflow would document of ``file`` now."""
    return CaseRecordBatch(
        revision=file.revision,
        view=file.view,
        events=list(file.new_events),
        messages=list(file.new_messages),
        assessments=list(file.new_assessments),
        handoffs=list(file.new_handoffs),
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
    assert [a.seq for a in any_store.assessments(case_id)] == [1, 2]


def test_cases_are_counted_by_state(any_store: CaseStore, policy) -> None:
    assert any_store.count_by_state() == {}
    files = [CaseFile.open(new_case(), policy, at(0)) for _ in range(3)]
    say(files[0], "I want to talk to a human", at(1))
    for file in files:
        any_store.write_case(_batch_of(file))
    assert any_store.count_by_state() == {"AI_HANDLING": 2, "HANDOFF": 1}


def test_handoff_packages_and_assessments_are_written_once(any_store: CaseStore, policy) -> None:
    file = open_case(policy)
    say(file, "I want to talk to a human", at(1))
    batch = _batch_of(file)
    assert batch.handoffs, "the case was offered to someone"
    any_store.write_case(batch)
    any_store.write_case(batch)
    case_id = file.view.case_id
    [handoff] = any_store.handoffs(case_id)
    assert handoff.agent == file.view.offered_to
    assert "I want to talk to a human" in handoff.package_json
    [assessment] = any_store.assessments(case_id)
    assert assessment.escalate and "explicit_human_request" in assessment.reasons_json
    row = any_store.case(case_id)
    assert row is not None and row.reasons == "explicit_human_request" and row.handoffs == 1


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


def _note(recipient: str = "anna") -> Notification:
    return Notification(
        key=f"C-1/{uuid.uuid4()}/case_offered/{recipient}",
        case_id="C-1",
        event="case_offered",
        recipient=recipient,
        recipient_kind="agent",
        channel="default",
        language="de",
        subject="Fall angeboten",
        body="Fall angeboten",
        context={"umlaut": "Zahlung doppelt abgebucht – ärgerlich"},
    )


def _delivery(note: Notification, channel: str, status: str) -> DeliveryRow:
    now = datetime.now(UTC)
    return DeliveryRow(
        key=f"{note.key}/{channel}",
        notification_key=note.key,
        case_id=note.case_id,
        event=note.event,
        recipient=note.recipient,
        recipient_kind=note.recipient_kind,
        channel=channel,
        address="anna@example.org",
        status=status,
        attempts=1,
        created_at=now,
        updated_at=now,
    )


def test_outbox_keeps_each_key_once(any_store: CaseStore) -> None:
    note = _note()
    any_store.add_notifications([note])
    any_store.add_notifications([note, note])  # a retried activity, a repeated key
    [row] = [r for r in any_store.outbox("C-1") if r.key == note.key]
    assert "ärgerlich" in row.context_json and row.status == "pending"


async def test_a_full_case_is_on_record(time_env, policy, any_store: CaseStore, executor) -> None:
    async with case_on(time_env, policy, any_store, executor) as case:
        await case.say("I want to talk to a human")
        await case.say("Hello?")
        await case.accept("anna")
        await case.say("Anna here, I will sort it out.", author="agent")
        await case.resolve("anna", root_cause="billing_error", escalation_necessary=True)
        result = await case.handle.result()
    case_id = result.case_id
    row = any_store.case(case_id)
    assert row is not None and row.state == "CLOSED" and row.assigned_agent == "anna"
    documented = (row.resolved_by, row.root_cause, row.escalation_necessary)
    assert documented == ("anna", "billing_error", True)
    assert row.closed_at is not None and row.handoffs == 1 and row.policy_version == policy.version
    events = any_store.events(case_id)
    assert [e.seq for e in events] == list(range(1, result.history_seq + 1))
    triggers = [e.trigger for e in events]
    assert [t for t in triggers if t in ("escalated", "offered", "accepted", "resolved")] == [
        "escalated",
        "offered",
        "accepted",
        "resolved",
    ]
    assert [m.author for m in any_store.messages(case_id)] == ["customer", "customer", "agent"]
    assessments = any_store.assessments(case_id)
    assert [a.seq for a in assessments] == [1, 2]  # the customer's messages
    assert assessments[0].escalate and assessments[0].policy_version == policy.version
    [handoff] = any_store.handoffs(case_id)
    assert handoff.agent == "anna" and "I want to talk to a human" in handoff.package_json
    notifications = any_store.outbox(case_id)
    assert {n.event for n in notifications} >= {"case_escalated", "case_offered"}
    deliveries = any_store.deliveries(case_id)
    # The shipped channels are not connected in tests: every delivery is on record as skipped.
    assert deliveries and {d.status for d in deliveries} == {"skipped"}
    assert {d.notification_key for d in deliveries} == {n.key for n in notifications}


def test_deliveries_written_together_keep_final_statuses(any_store: CaseStore) -> None:
    ben, cleo = _note("ben"), _note("cleo")
    any_store.add_notifications([ben, cleo, ben])
    assert {r.key for r in any_store.outbox("C-1")} >= {ben.key, cleo.key}
    any_store.record_deliveries(
        [
            _delivery(ben, "email", "skipped"),
            _delivery(ben, "slack", "sent"),
            _delivery(cleo, "email", "pending"),
        ]
    )
    # A later attempt changes only what is not final yet.
    any_store.record_deliveries(
        [_delivery(ben, "email", "pending"), _delivery(cleo, "email", "failed")]
    )
    stored = {r.key: r.status for r in any_store.deliveries("C-1")}
    assert stored[f"{ben.key}/email"] == "skipped"
    assert stored[f"{cleo.key}/email"] == "failed"
    outbox = {r.key: r.status for r in any_store.outbox("C-1")}
    assert outbox[ben.key] == "partly_sent" and outbox[cleo.key] == "failed"
