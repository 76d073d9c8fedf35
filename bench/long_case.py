"""Benchmark: one case with a very long conversation (default 10,000 messages).

Runs on the embedded dev server (file-backed SQLite with the WAL pragmas) with the
production worker composition, sends the messages as ``message`` signals in chunks,
and reports per chunk how fast they were taken in, plus how often the case continued
as new, the longest run's history, worker memory, the store's row counts and how long
the record takes to catch up with the conversation after one more message once the
documentation window has passed (plain messages are written with the case's next
change, so the closing message itself waits for the case's next wake). Healthy
means: the last chunk is about as fast as the first (no growth with length).

    .venv/bin/python bench/long_case.py [--messages 10000] [--chunk 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
import uuid
from pathlib import Path

from figures import save
from temporalio.api.enums.v1 import WorkflowTaskFailedCause
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from baton.detection.loading import load_detector
from baton.settings import DEFAULT_CONFIG, load_policy
from baton.store.cases import CaseStore
from baton.store.directory import DirectoryStore
from baton.temporal.client import BatonClient
from baton.temporal.heap import settle_heap
from baton.temporal.server import dev_server_args, installed_binary
from baton.temporal.slots import WorkerSlots
from domain.directory import directory_from_policy
from domain.models import CaseInput, IncomingMessage
from worker import create_worker
from workflows import search_attributes
from workflows.case import CaseWorkflow, workflow_id_for

FORCE_CLOSED = WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_FORCE_CLOSE_COMMAND


async def _runs(client: Client, workflow_id: str) -> dict[str, int]:
    """The case's runs, the longest one's history, and the workflow tasks the server
    closed under the worker: more than its limit of events (100) came in while a task
    ran, so the task's work was dropped and the run replayed (the worker then logs
    "Task not found when completing"). Only the first of several in a row is in the
    history."""
    runs, longest, force_closed = 0, 0, 0
    async for execution in client.list_workflows(f'WorkflowId = "{workflow_id}"'):
        runs += 1
        history = await client.get_workflow_handle(
            workflow_id, run_id=execution.run_id
        ).fetch_history()
        longest = max(longest, len(history.events))
        force_closed += sum(
            e.workflow_task_failed_event_attributes.cause == FORCE_CLOSED for e in history.events
        )
    return {
        "runs": runs,
        "longest_run_history_events": longest,
        "force_closed_workflow_tasks": force_closed,
    }


async def main(messages: int, chunk: int) -> dict[str, object]:
    policy = load_policy(DEFAULT_CONFIG)
    detector = load_detector(DEFAULT_CONFIG, policy)
    with tempfile.TemporaryDirectory() as tmp:
        env = await WorkflowEnvironment.start_local(
            data_converter=pydantic_data_converter,
            search_attributes=search_attributes.ALL,
            dev_server_existing_path=installed_binary("temporal"),
            dev_server_database_filename=str(Path(tmp) / "temporal.db"),
            dev_server_extra_args=dev_server_args(),
        )
        store = CaseStore(f"sqlite:///{Path(tmp) / 'baton.db'}")
        try:
            with WorkerSlots().executor() as pool:
                directory = DirectoryStore(store.engine)
                directory.seed(directory_from_policy(policy))  # as the worker does at start
                worker = create_worker(
                    env.client, f"bench-{uuid.uuid4()}", detector, store, pool, directory
                )
                async with worker:
                    settle_heap()  # as worker.py does once its worker is built
                    figures = await _drive(env.client, worker.task_queue, messages, chunk)
                    case_id = str(figures.pop("case_id"))
                    handle = env.client.get_workflow_handle(workflow_id_for(case_id))
                    # The last messages wait for the case's next change past the window.
                    await asyncio.sleep(policy.limits.documentation_window.total_seconds())
                    closing = IncomingMessage(message_id="closing", author="ai", text="Bye.")
                    await handle.signal(CaseWorkflow.message, closing)
                    t0 = time.perf_counter()
                    # The closing message wakes the case, which writes every message
                    # older than the window; the closing one waits for the next wake.
                    while len(store.messages(case_id)) < messages:
                        await asyncio.sleep(0.1)
                    figures["documentation_lag_s"] = round(time.perf_counter() - t0, 1)
                    await handle.terminate()
                figures["stored_messages"] = len(store.messages(case_id))
                figures |= await _runs(env.client, workflow_id_for(case_id))
        finally:
            store.close()
            await env.shutdown()
    figures["worker_max_rss_mib"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
    )
    return figures


async def _drive(client: Client, task_queue: str, messages: int, chunk: int) -> dict[str, object]:
    case = CaseInput.model_validate(
        {
            "case_id": f"LONG-{uuid.uuid4().hex[:8]}",
            "customer": {"id": "bench", "tier": "standard", "language": "en"},
            "channel": "chat",
            "subject": "A very long conversation",
        }
    )
    handle = await client.start_workflow(
        CaseWorkflow.run, case, id=workflow_id_for(case.case_id), task_queue=task_queue
    )
    baton = BatonClient(client, task_queue)
    rates: list[float] = []
    started = time.perf_counter()
    for first in range(0, messages, chunk):
        t0 = time.perf_counter()
        batch = range(first, min(first + chunk, messages))
        for i in batch:
            author = "customer" if i % 2 == 0 else "ai"
            text = f"message {i} about order {i % 97}: where is it?"
            await handle.signal(
                CaseWorkflow.message, IncomingMessage(message_id=f"m{i}", author=author, text=text)
            )
        while (await baton.case(case.case_id)).message_count < batch.stop:
            await asyncio.sleep(0.05)
        rates.append(len(batch) / (time.perf_counter() - t0))
    total = time.perf_counter() - started
    t0 = time.perf_counter()
    view = await handle.query(CaseWorkflow.state)
    query_ms = (time.perf_counter() - t0) * 1000
    return {
        "case_id": case.case_id,
        "messages": view.message_count,
        "seconds": round(total, 1),
        "messages_per_s": round(messages / total, 1),
        "first_chunk_msgs_per_s": round(rates[0], 1),
        "last_chunk_msgs_per_s": round(rates[-1], 1),
        "last_to_first_ratio": round(rates[-1] / rates[0], 2),
        "final_query_ms": round(query_ms, 1),
        "state": view.state.value,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=1_000)
    args = parser.parse_args()
    figures = asyncio.run(main(args.messages, args.chunk))
    save("long_case", figures)
