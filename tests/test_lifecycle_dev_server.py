"""A full case from start to CLOSED on the real dev server, visible to operators."""

import asyncio
from collections.abc import Awaitable, Callable

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from baton.store.cases import CaseStore
from baton.temporal.client import BatonClient
from domain.states import CaseState, Tier
from tests.conftest import new_case, running_worker
from workflows.case import CaseWorkflow


async def _eventually(check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    """Visibility is eventually consistent: poll until ``check`` holds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.2)


async def _ids(client: Client, query: str) -> set[str]:
    return {w.id async for w in client.list_workflows(query)}


async def test_full_lifecycle_with_search_attributes(
    dev_env: WorkflowEnvironment, policy, store: CaseStore, executor
) -> None:
    client = dev_env.client
    case = new_case(customer={"id": "cust-7", "name": "Ada", "tier": "vip", "language": "de"})
    wid = f"case-{case.case_id}"
    async with running_worker(client, policy, store, executor) as worker:
        baton = BatonClient(client, worker.task_queue)
        await baton.start_case(case)
        first = await baton.post_message(
            case.case_id,
            {
                "message_id": "m1",
                "author": "customer",
                "text": "Meine Zahlung wurde doppelt abgebucht",
            },
        )
        assert first.state is CaseState.AI_HANDLING and first.reasons[0].name == "vip_customer"
        await baton.post_message(
            case.case_id,
            {"message_id": "m2", "author": "ai", "text": "Ich prüfe das sofort für Sie."},
        )
        handoff = await baton.post_message(
            case.case_id,
            {
                "message_id": "m3",
                "author": "customer",
                "text": "Ich möchte einen Mitarbeiter sprechen",
            },
        )
        assert handoff.state is CaseState.HANDOFF and handoff.escalate
        # The double charge named earlier sends the request for a human to billing.
        assert [r.path for r in handoff.reasons] == ["billing"]

        await _eventually(
            lambda: _has(client, 'CaseState = "HANDOFF" AND CustomerTier = "vip"', wid)
        )
        await baton.accept(case.case_id, "emil")
        await _eventually(
            lambda: _has(
                client,
                'CaseState = "HUMAN_HANDLING" AND EscalationLevel = 2 '
                'AND AssignedTeam = "billing-frontline" AND Severity = "high" '
                'AND EscalationReasons = "explicit_human_request"',
                wid,
            )
        )
        await baton.post_message(
            case.case_id, {"message_id": "m4", "author": "agent", "text": "Anna hier, ich helfe."}
        )
        await baton.resolve(
            case.case_id,
            {"by": "emil", "resolution": "Doppelte Abbuchung erstattet"},
        )
        await baton.follow_up(
            case.case_id,
            {
                "by": "emil",
                "root_cause": "product_defect",
                "escalation_necessary": True,
                "timing": "on_time",
                "lesson": "detect double charges earlier",
            },
        )
        result = await client.get_workflow_handle_for(CaseWorkflow.run, wid).result()
        assert result.state is CaseState.CLOSED
        await _eventually(lambda: _has(client, 'CaseState = "CLOSED" AND EscalationLevel = 2', wid))

    assert [e.trigger.value for e in result.history] == [
        "opened",
        "severity_raised",
        "escalated",
        "offered",
        "accepted",
        "first_response",
        "resolved",
        "follow_up_documented",
    ]
    assert result.tier is Tier.FRONTLINE
    # The documentation store holds the whole case, each row once.
    row = store.case(case.case_id)
    assert row is not None and row.state == "CLOSED" and row.revision == result.history_seq + 4
    assert [e.seq for e in store.events(case.case_id)] == list(range(1, 9))
    assert [m.message_id for m in store.messages(case.case_id)] == ["m1", "m2", "m3", "m4"]
    outbox = store.outbox(case.case_id)
    assert len({n.key for n in outbox}) == len(outbox) == 3
    assert {n.event for n in outbox} == {
        "case_escalated",
        "handoff_customer_offered",
        "case_offered",
    }


async def _has(client: Client, query: str, workflow_id: str) -> bool:
    return workflow_id in await _ids(client, query)
