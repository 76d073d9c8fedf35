"""A worker killed (SIGKILL) in the middle of delivering a case's notifications: a new
worker finishes the case, every notification reaches the receiver once, and the case
record holds every row once."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from pathlib import Path
from typing import Any

from baton.client import BatonClient
from baton.settings import DEFAULT_CONFIG
from baton.store import CaseStore
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
    model = DEFAULT_CONFIG.parent / "risk-model.json"
    policy = policy.replace('model = "risk-model.json"', f'model = "{model}"', 1)
    (tmp_path / "escalation.toml").write_text(policy)
    templates = DEFAULT_CONFIG.parent / "templates"
    notifications = NOTIFICATIONS.format(templates=templates, url=receiver.url("/hook"))
    (tmp_path / "notifications.toml").write_text(notifications)
    return {
        "BATON_CONFIG": str(tmp_path / "escalation.toml"),
        "BATON_NOTIFICATIONS": str(tmp_path / "notifications.toml"),
        "TEST_WEBHOOK_SECRET": SECRET,
    }


async def test_a_worker_killed_mid_delivery_loses_and_repeats_nothing(
    worker_env: dict[str, str], dev_env: Any, tmp_path: Path
) -> None:
    receiver = WebhookReceiver().start()
    receiver.hang_first, receiver.hang_seconds = 1, 8.0  # the first call never answers
    env = worker_env | _config(tmp_path, receiver)
    env |= {
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "BATON_TASK_QUEUE": f"tq-{os.getpid()}-crash",
    }
    client = BatonClient(dev_env.client, env["BATON_TASK_QUEUE"])
    case = new_case()
    first = WorkerProcess(env)
    try:
        await first.wait_running()
        await client.start_case(case)
        message = {"message_id": "m1", "author": "customer", "text": "talk to a human"}
        assert (await client.post_message(case.case_id, message)).state is CaseState.HANDOFF
        for _ in range(200):  # the first delivery is on the wire, waiting for an answer
            if receiver.calls:
                break
            await asyncio.sleep(0.05)
        assert receiver.calls and receiver.accepted == []
    finally:
        first.stop(signal.SIGKILL)

    second = WorkerProcess(env)
    try:
        await second.wait_running()
        await client.accept(case.case_id, "anna")
        await client.resolve(
            case.case_id,
            {"by": "anna", "resolution": "refunded", "root_cause": "billing_error",
             "escalation_necessary": True},
        )  # fmt: skip
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
        assert store.case(case.case_id).root_cause == "billing_error"  # type: ignore[union-attr]
    finally:
        store.close()
