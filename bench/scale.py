"""Benchmark: many open cases waiting on timers with one worker.

Starts ``--cases`` cases (default 10,000) on the embedded server (file-backed SQLite),
each answered once by the AI so it waits on the customer-inactivity timer, shortened to
``--minutes`` (default 25) in a copy of the policy. Reports the time to start them,
the worker's memory while they wait (this process: worker and client), the server's
database size, and how late each timer fired (the case closes as abandoned in workflow
time when its timer fires): all within a minute of the deadline is the target. The
timers should come due after the worker has taken every case in (about 17 minutes for
10,000 on two cores): before, the cases' intake and their timers compete for the worker.

    .venv/bin/python bench/scale.py [--cases 10000] [--minutes 25] [--concurrency 50]
                                    [--workflow-tasks N] [--cached-cases N] [--sticky-wait S]

It also counts the workflow tasks that timed out on the server across every case's
history: each one is a task the worker did not finish or take in time and a replay.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from figures import save
from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from baton.detection.loading import load_detector
from baton.settings import DEFAULT_CONFIG
from baton.store.cases import CaseStore
from baton.temporal.heap import settle_heap
from baton.temporal.server import dev_server_args, installed_binary
from baton.temporal.slots import WorkerSlots
from domain.models import CaseInput, IncomingMessage
from worker import create_worker
from workflows import search_attributes
from workflows.case import CaseWorkflow, workflow_id_for

TIMED_OUT = EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT


def _rss_mib() -> tuple[float, float]:
    """(current, peak) resident memory of this process."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return tuple(int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM"))  # type: ignore[return-value]


def _policy(folder: Path, minutes: int) -> Path:
    config = folder / "config"
    shutil.copytree(DEFAULT_CONFIG.parent, config)
    policy = config / "escalation.toml"
    text = policy.read_text(encoding="utf-8")
    policy.write_text(
        text.replace('customer_inactivity = "P1D"', f'customer_inactivity = "PT{minutes}M"', 1),
        encoding="utf-8",
    )
    return policy


async def _start(client: Client, queue: str, n: int, concurrency: int) -> list[str]:
    gate = asyncio.Semaphore(concurrency)
    ids: list[str] = []

    async def one(i: int) -> None:
        case = CaseInput.model_validate(
            {
                "case_id": f"SCALE-{uuid.uuid4().hex[:10]}",
                "customer": {"id": f"scale-{i}", "language": "en"},
                "channel": "chat",
                "subject": "Question",
            }
        )
        async with gate:
            handle = await client.start_workflow(
                CaseWorkflow.run, case, id=workflow_id_for(case.case_id), task_queue=queue
            )
            await handle.signal(
                CaseWorkflow.message,
                IncomingMessage(message_id="m1", author="ai", text="How can I help you today?"),
            )
        ids.append(case.case_id)

    await asyncio.gather(*(one(i) for i in range(n)))
    return ids


async def _workflow_task_timeouts(client: Client, ids: list[str]) -> dict[str, int]:
    """Workflow tasks timed out across the cases' histories, by kind: start-to-close (the
    worker took too long) and schedule-to-start (a task waited on the worker's sticky
    queue past its timeout and went back to the shared queue, to be replayed)."""
    gate = asyncio.Semaphore(20)
    kinds: Counter[str] = Counter()

    async def one(case_id: str) -> None:
        async with gate:
            history = await client.get_workflow_handle(workflow_id_for(case_id)).fetch_history()
        for e in history.events:
            if e.event_type == TIMED_OUT:
                kind = e.workflow_task_timed_out_event_attributes.timeout_type
                kinds[TimeoutType.Name(kind).removeprefix("TIMEOUT_TYPE_").lower()] += 1

    await asyncio.gather(*(one(i) for i in ids))
    return {
        "workflow_task_timeouts": sum(kinds.values()),
        "workflow_task_timeouts_start_to_close": kinds["start_to_close"],
        "workflow_task_timeouts_schedule_to_start": kinds["schedule_to_start"],
    }


async def main(cases: int, minutes: int, concurrency: int, slots: WorkerSlots) -> dict[str, object]:
    figures: dict[str, object] = {
        "open_cases": cases,
        "timer_minutes": minutes,
        "workflow_task_slots": slots.workflow_tasks,
        "cached_cases": slots.cached_cases,
        "sticky_wait_s": slots.sticky_wait.total_seconds(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        detector = load_detector(_policy(folder, minutes))
        env = await WorkflowEnvironment.start_local(
            data_converter=pydantic_data_converter,
            search_attributes=search_attributes.ALL,
            dev_server_existing_path=installed_binary("temporal"),
            dev_server_database_filename=str(folder / "temporal.db"),
            dev_server_extra_args=dev_server_args(),
        )
        store = CaseStore(f"sqlite:///{folder / 'baton.db'}")
        try:
            with slots.executor() as pool:
                queue = f"scale-{uuid.uuid4()}"
                async with create_worker(env.client, queue, detector, store, pool, slots=slots):
                    settle_heap()  # as worker.py does once its worker is built
                    t0 = time.perf_counter()
                    ids = await _start(env.client, queue, cases, concurrency)
                    figures["start_s"] = round(time.perf_counter() - t0, 1)
                    figures["starts_per_s"] = round(cases / (time.perf_counter() - t0), 1)
                    figures |= await _wait_for_timers(store, ids, minutes, folder)
                figures |= await _workflow_task_timeouts(env.client, ids)
        finally:
            store.close()
            await env.shutdown()
    return figures


def _rate(moments: list[datetime]) -> float | None:
    """Events per second from the first of ``moments`` to the last."""
    if len(moments) < 2:
        return None
    span = (max(moments) - min(moments)).total_seconds()
    return round(len(moments) / span, 1) if span > 0 else None


async def _wait_for_timers(
    store: CaseStore, ids: list[str], minutes: int, folder: Path
) -> dict[str, object]:
    out: dict[str, object] = {}
    waiting = True
    t0 = time.monotonic()
    # The worker may take the cases in more slowly than the clients start them: the
    # last timer is due ``minutes`` after the last case was taken in.
    deadline = t0 + minutes * 60 + 600
    while time.monotonic() < deadline:
        await asyncio.sleep(5)
        # Counted in SQL: loading 10,000 rows every 5 s took the worker's interpreter
        # from the cases it measures (a twentieth of it in a storm of 3,000).
        by_state = await asyncio.to_thread(store.count_by_state)
        on_record, closed = sum(by_state.values()), by_state.get("CLOSED", 0)
        if waiting and on_record == len(ids):
            rss, peak = _rss_mib()  # every case documented: the plateau
            db = sum(f.stat().st_size for f in folder.glob("temporal.db*"))
            out |= {
                "taken_in_s": round(time.monotonic() - t0, 1),
                "open_at_plateau": on_record - closed,
                "open_cases_worker_rss_mib": round(rss, 1),
                "worker_peak_rss_mib": round(peak, 1),
                "server_db_mib": round(db / 2**20, 1),
            }
            waiting = False
            deadline = time.monotonic() + minutes * 60 + 600
        if closed == len(ids):
            break
    lateness, dues, closes = [], [], []
    for case_id in ids:
        row = store.case(case_id)
        messages = store.messages(case_id)
        if row is None or row.closed_at is None or not messages:
            continue
        due = messages[0].at + timedelta(minutes=minutes)
        lateness.append((row.closed_at - due).total_seconds())
        dues.append(due)
        closes.append(row.closed_at)
    lateness.sort()
    out |= {
        "timers_fired": len(lateness),
        "fired_within_60s": sum(s <= 60 for s in lateness),
        "lateness_p50_s": round(statistics.median(lateness), 1) if lateness else None,
        "lateness_max_s": round(lateness[-1], 1) if lateness else None,
        # The storm: timers came due at this rate, and the worker closed their cases at
        # that one; while the first is higher, the lateness grows.
        "timers_due_per_s": _rate(dues),
        "cases_closed_per_s": _rate(closes),
    }
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--minutes", type=int, default=25)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--workflow-tasks", type=int, default=WorkerSlots.workflow_tasks)
    parser.add_argument("--cached-cases", type=int, default=WorkerSlots.cached_cases)
    parser.add_argument(
        "--sticky-wait", type=float, default=WorkerSlots.sticky_wait.total_seconds()
    )
    args = parser.parse_args()
    slots = WorkerSlots(
        workflow_tasks=args.workflow_tasks,
        cached_cases=args.cached_cases,
        sticky_wait=timedelta(seconds=args.sticky_wait),
    )
    figures = asyncio.run(main(args.cases, args.minutes, args.concurrency, slots))
    save("scale", figures, "open_cases", "open_cases_worker_rss_mib")
