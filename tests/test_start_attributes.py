"""A case started through Baton's client carries its first search attributes with the
start, so its first workflow task upserts none; a case started by any other client
(no attributes) gets them from its first task."""

from datetime import UTC, datetime

from temporalio.api.enums.v1 import EventType

from baton.temporal.client import BatonClient
from domain.case import CaseFile
from tests.conftest import CaseDriver, new_case, running_worker
from workflows import search_attributes as sa


def _upserts(history) -> int:
    kind = EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
    return sum(1 for e in history.events if e.event_type == kind)


def test_the_start_attributes_are_what_a_new_case_has(policy) -> None:
    case = new_case(customer={"id": "c-1", "tier": "vip", "language": "de"})
    opened = CaseFile.open(case, policy, datetime(2026, 12, 4, 9, tzinfo=UTC)).search_attributes()
    expected = {k: v for k, v in opened.items() if v not in ("", [])}
    assert sa.known(sa.at_start("vip")) == expected


async def test_a_case_started_by_baton_upserts_nothing_until_it_changes(
    time_env, policy, store, executor
) -> None:
    async with running_worker(time_env.client, policy, store, executor) as worker:
        baton = BatonClient(time_env.client, worker.task_queue)
        started = await baton.start_case(new_case(case_id="C-start-sa"))
        case = CaseDriver(time_env.client.get_workflow_handle(started.workflow_id), time_env.client)
        await case.say("Where is my parcel?")
        assert _upserts(await case.handle.fetch_history()) == 0
        await case.say("I want to talk to a human")
        described = await case.handle.describe()
        assert described.typed_search_attributes.get(sa.CASE_STATE) == "HANDOFF"
        assert _upserts(await case.handle.fetch_history()) == 1
        await case.handle.terminate()

