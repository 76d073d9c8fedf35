"""Benchmark: decision latency under a steady load.

Cases start at a steady rate (default 5 per second); each one's first customer message
asks for a person, which hands the case off at once. Measured per case: from calling
``post_message`` to the agent's ``case_offered`` notification arriving at a local
webhook receiver (signed, over HTTP on loopback), through the embedded server and the
production worker. Reports p50, p99 and the worst, and from the cases' histories the
p50 of the three stages a decision passes (the opening task, the task that takes the
message, the delivery activity).

    .venv/bin/python bench/latency.py [--rate 5] [--seconds 30] [--workflow-tasks N]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from aiohttp import web
from figures import save
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from baton.detection.loading import load_detector
from baton.notify.config import NotificationConfig
from baton.notify.deliverer import Deliverer
from baton.notify.templates import Templates
from baton.settings import DEFAULT_CONFIG, DEFAULT_NOTIFICATIONS, load_policy
from baton.store.cases import CaseStore
from baton.store.directory import DirectoryStore
from baton.temporal.client import BatonClient
from baton.temporal.heap import settle_heap
from baton.temporal.history import event_kind
from baton.temporal.server import dev_server_args, installed_binary
from baton.temporal.slots import WorkerSlots
from domain.directory import directory_from_policy
from domain.models import CaseInput
from worker import create_worker
from workflows import search_attributes
from workflows.case import workflow_id_for

SECRET_ENV = "BENCH_WEBHOOK_SECRET"


class Receiver:
    """An HTTP receiver on loopback noting when each case's offer arrived."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.events: asyncio.Event = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _hook(self, request: web.Request) -> web.Response:
        data = (await request.json())["data"]
        if data["event"] == "case_offered":
            self.arrived.setdefault(data["case_id"], time.perf_counter())
        return web.Response(status=204)


def _deliverer(store: CaseStore, port: int) -> Deliverer:
    os.environ[SECRET_ENV] = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    hook = [{"channel": "hook"}]
    config = NotificationConfig.model_validate(
        {
            "channels": {
                "hook": {
                    "kind": "webhook",
                    "url": f"http://127.0.0.1:{port}/hook",
                    "secret_env": SECRET_ENV,
                    "timeout": 5,
                }
            },
            # Everyone on the receiver: the offer goes out beside the team's and the
            # customer's messages, as in production.
            "kinds": {k: hook for k in ("agent", "supervisor", "team", "on_call", "person")},
            "customer": {"chat": hook},
        }
    )
    templates = Templates(DEFAULT_NOTIFICATIONS.parent / "templates")
    return Deliverer(config, templates, store, lambda: {})


async def main(rate: float, seconds: float, slots: WorkerSlots) -> dict[str, object]:
    policy = load_policy(DEFAULT_CONFIG)
    detector = load_detector(DEFAULT_CONFIG, policy)
    receiver = Receiver()
    await receiver.start()
    with tempfile.TemporaryDirectory() as tmp:
        env = await WorkflowEnvironment.start_local(
            data_converter=pydantic_data_converter,
            search_attributes=search_attributes.ALL,
            dev_server_existing_path=installed_binary("temporal"),
            dev_server_database_filename=str(Path(tmp) / "temporal.db"),
            dev_server_extra_args=dev_server_args(),
        )
        store = CaseStore(f"sqlite:///{Path(tmp) / 'baton.db'}")
        directory = DirectoryStore(store.engine)
        directory.seed(directory_from_policy(policy))
        deliverer = _deliverer(store, receiver.port)
        try:
            with slots.executor() as pool:
                queue = f"bench-{uuid.uuid4()}"
                worker = create_worker(
                    env.client, queue, detector, store, pool, directory, deliverer, slots=slots
                )
                async with worker:
                    settle_heap()  # as worker.py does once its worker is built
                    baton = BatonClient(env.client, queue)
                    figures = await _load(baton, receiver, rate, seconds)
                    figures |= await _stages(baton, list(receiver.arrived))
                    figures["workflow_task_slots"] = slots.workflow_tasks
        finally:
            await deliverer.close()
            store.close()
            await env.shutdown()
            await receiver.stop()
    return figures


async def _load(
    baton: BatonClient, receiver: Receiver, rate: float, seconds: float
) -> dict[str, object]:
    sent: dict[str, float] = {}

    async def one(i: int) -> None:
        case = CaseInput.model_validate(
            {
                "case_id": f"LAT-{uuid.uuid4().hex[:10]}",
                "customer": {"id": f"lat-{i}", "name": "Ada", "language": "en"},
                "channel": "chat",
                "subject": "Refund",
            }
        )
        await baton.start_case(case)
        sent[case.case_id] = time.perf_counter()
        await baton.post_message(
            case.case_id,
            {"message_id": "m1", "author": "customer", "text": "I want to talk to a human"},
        )

    tasks = []
    count = int(rate * seconds)
    start = time.perf_counter()
    for i in range(count):  # a steady rate, whatever the answers take
        await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    deadline = time.perf_counter() + 60
    while len(receiver.arrived.keys() & sent.keys()) < len(sent) and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    latencies = sorted(
        (receiver.arrived[c] - t) * 1000 for c, t in sent.items() if c in receiver.arrived
    )
    # Inclusive: with few cases the exclusive method puts the p99 above the worst.
    quantiles = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "rate_per_s": rate,
        "cases": len(sent),
        "offers_received": len(latencies),
        "decision_p50_ms": round(quantiles[49], 1),
        "decision_p99_ms": round(quantiles[98], 1),
        "decision_max_ms": round(latencies[-1], 1),
    }


async def _stages(baton: BatonClient, case_ids: list[str]) -> dict[str, object]:
    """Where a decision's time goes, p50 over the cases' histories (server event times):
    the opening workflow task (the update waits for it unless it lands in it), the task
    that takes the message (detection, reservation, record), and the delivery activity
    that sends the offer."""
    stages = ("opening_task", "message_task", "delivery_activity")
    spans: dict[str, list[float]] = {stage: [] for stage in stages}
    for case_id in case_ids:
        history = await baton.client.get_workflow_handle(workflow_id_for(case_id)).fetch_history()
        tasks: list[list[float]] = []  # each workflow task's start and completion
        first: dict[str, float] = {}  # each kind of event's first time
        taking = -1  # the task the update was accepted in
        for event in history.events:
            kind = event_kind(event)
            ms = float(event.event_time.ToMilliseconds())
            first.setdefault(kind, ms)
            if kind == "workflow_task_started":
                tasks.append([ms])
            elif kind == "workflow_task_completed":
                tasks[-1].append(ms)
            elif kind == "workflow_execution_update_accepted" and taking < 0:
                taking = len(tasks) - 1
        spans["message_task"].append(tasks[taking][1] - tasks[taking][0])
        if taking > 0:
            spans["opening_task"].append(tasks[0][1] - tasks[0][0])
        delivery = first["activity_task_completed"] - first["activity_task_scheduled"]
        spans["delivery_activity"].append(delivery)
    return {f"{name}_p50_ms": round(statistics.median(v), 1) for name, v in spans.items() if v}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--workflow-tasks", type=int, default=WorkerSlots.workflow_tasks)
    args = parser.parse_args()
    slots = WorkerSlots(workflow_tasks=args.workflow_tasks)
    figures = asyncio.run(main(args.rate, args.seconds, slots))
    save("latency", figures, "decision_p50_ms", "decision_p99_ms")
