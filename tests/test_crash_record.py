"""A worker killed (SIGKILL) in every state of a case (a message not yet assessed, a
delivery on the wire, an offer not yet accepted, a follow-up owed): a new worker
finishes the case, every notification reaches the receiver once, and the case record
holds every row once."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from baton.settings import DEFAULT_CONFIG
from baton.store.cases import CaseStore
from baton.temporal.client import BatonClient
from domain.states import CaseState
from tests.conftest import new_case
from tests.servers import SECRET, WebhookReceiver
from tests.test_worker_process import WorkerProcess

NOTIFICATIONS = """
templates = "{templates}"

[channels.hook]
kind = "webhook"
url = "{url}"
secret_env = "TEST_WEBHOOK_SECRET"
timeout = 20

[kinds]
agent = [{{ channel = "hook" }}]
team = [{{ channel = "hook" }}]
supervisor = [{{ channel = "hook" }}]
person = [{{ channel = "hook" }}]

[customer]
chat = [{{ channel = "hook" }}]
"""


def _config(tmp_path: Path, receiver: WebhookReceiver) -> dict[str, str]:
    """A policy whose activities time out after 5 s (the killed attempt is retried
    soon) and notifications that all go to the receiver."""
    policy = DEFAULT_CONFIG.read_text()
    policy = policy.replace('start_to_close = "PT30S"', 'start_to_close = "PT5S"', 1)
    for name in ("risk-model.json", "trigger-model.json"):
        model = DEFAULT_CONFIG.parent / name
        policy = policy.replace(f'model = "{name}"', f'model = "{model}"', 1)
    (tmp_path / "escalation.toml").write_text(policy)
    templates = DEFAULT_CONFIG.parent / "templates"
    notifications = NOTIFICATIONS.format(templates=templates, url=receiver.url("/hook"))
    (tmp_path / "notifications.toml").write_text(notifications)
    return {
        "BATON_CONFIG": str(tmp_path / "escalation.toml"),
        "BATON_NOTIFICATIONS": str(tmp_path / "notifications.toml"),
        "TEST_WEBHOOK_SECRET": SECRET,
    }


MESSAGE = {"message_id": "m1", "author": "customer", "text": "talk to a human"}


async def _until(check: Any, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the case never reached the moment to kill the worker in")


async def _drive_to(  # type: ignore[no-untyped-def]
    moment: str, client: BatonClient, case_id: str, receiver: WebhookReceiver, store: CaseStore
):
    """Take the case to ``moment``; the worker is killed right after."""
    if moment == "detection":  # the message is in history, its assessment not yet done
        await client.send_message(case_id, MESSAGE)
        return
    assert (await client.post_message(case_id, MESSAGE)).state is CaseState.HANDOFF

    async def on_the_wire() -> bool:
        return bool(receiver.calls)

    async def offer_received() -> bool:
        return any(c.json["data"]["event"] == "case_offered" for c in receiver.accepted)

    async def answers_recorded() -> bool:
        # Not killed between a receiver's answer and its row: in that window the next
        # attempt sends again with the same key (docs/notifications.md), a repeat the
        # receiver drops and this test would count.
        sent = {d.key for d in store.deliveries(case_id) if d.status == "sent"}
        return {c.headers["Idempotency-Key"] for c in receiver.accepted} <= sent

    if moment == "notification":  # the first delivery waits for an answer that never comes
        await _until(on_the_wire)
        assert receiver.calls[0].status == 599  # (the rest of its batch may be through)
        await _until(answers_recorded)
    elif moment == "offered":  # the agent has the offer and has not accepted yet
        await _until(offer_received)
        await _until(answers_recorded)
    elif moment == "follow_up":  # resolved, the documentation still owed
        await client.accept(case_id, "anna")
        view = await client.resolve(case_id, {"by": "anna", "resolution": "refunded"})
        assert view.state is CaseState.FOLLOW_UP


async def _finish(client: BatonClient, case_id: str) -> None:
    """Whatever the case still needs, as the humans would do it."""

    async def state() -> CaseState:
        return (await client.case(case_id)).state

    if await state() is CaseState.AI_HANDLING:  # the new worker assesses the message
        for _ in range(200):
            if await state() is not CaseState.AI_HANDLING:
                break
            await asyncio.sleep(0.05)
    if await state() is CaseState.HANDOFF:
        for _ in range(200):  # routed by the new worker
            if (await client.case(case_id)).offered_to == "anna":
                break
            await asyncio.sleep(0.05)
        await client.accept(case_id, "anna")
    if await state() is CaseState.HUMAN_HANDLING:
        await client.resolve(case_id, {"by": "anna", "resolution": "refunded"})
    await client.follow_up(
        case_id, {"by": "anna", "root_cause": "billing_error", "escalation_necessary": True}
    )


@pytest.mark.parametrize("moment", ["detection", "notification", "offered", "follow_up"])
async def test_a_worker_killed_in_any_state_loses_and_repeats_nothing(
    worker_env: dict[str, str], dev_env: Any, tmp_path: Path, moment: str
) -> None:
    receiver = WebhookReceiver().start()
    if moment == "notification":
        receiver.hang_first, receiver.hang_seconds = 1, 8.0  # the first call never answers
    env = worker_env | _config(tmp_path, receiver)
    env |= {
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "BATON_TASK_QUEUE": f"tq-{os.getpid()}-crash-{moment}",
    }
    client = BatonClient(dev_env.client, env["BATON_TASK_QUEUE"])
    case = new_case()
    first = WorkerProcess(env)
    try:
        await first.wait_running()
        await client.start_case(case)
        watched = CaseStore(f"sqlite:///{Path(env['BATON_DATA_DIR']) / 'baton.db'}")
        try:
            await _drive_to(moment, client, case.case_id, receiver, watched)
        finally:
            watched.close()
    finally:
        first.stop(signal.SIGKILL)

    second = WorkerProcess(env)
    try:
        await second.wait_running()
        await _finish(client, case.case_id)
        handle = dev_env.client.get_workflow_handle(f"case-{case.case_id}")
        result = await asyncio.wait_for(handle.result(), 120)
    finally:
        second.stop(signal.SIGTERM)
        receiver.stop()

    assert result["state"] == CaseState.CLOSED.value
    store = CaseStore(f"sqlite:///{Path(env['BATON_DATA_DIR']) / 'baton.db'}")
    try:
        deliveries = store.deliveries(case.case_id)
        assert deliveries and {d.status for d in deliveries} == {"sent"}
        received = Counter(c.headers["Idempotency-Key"] for c in receiver.accepted)
        assert received == Counter({d.key: 1 for d in deliveries})  # each exactly once
        events = store.events(case.case_id)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert events[-1].to_state == "CLOSED"
        assert len(store.messages(case.case_id)) == 1 and len(store.handoffs(case.case_id)) == 1
        assert len(store.assessments(case.case_id)) == 1
        assert store.case(case.case_id).root_cause == "billing_error"  # type: ignore[union-attr]
    finally:
        store.close()
