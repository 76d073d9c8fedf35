"""Benchmark: one worker process against two on the same task queue, the documented way
to outgrow one machine. The store is the local PostgreSQL (a throwaway schema), the
server the embedded dev server; each worker is a ``python worker.py`` process. The same
standard cases as ``bench/throughput.py`` run with one worker, then with two, in one run.
On one 2-core machine the pair shares the cores, so the figure shows what a second
worker costs and that cases spread, not what a second machine would add.

    .venv/bin/python bench/pair.py [--cases 40] [--concurrency 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import sqlalchemy
from figures import save
from temporalio.api.enums.v1 import EventType
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from throughput import _in_parallel, _standard_case

from baton.settings import DEFAULT_CONFIG, PROJECT_ROOT, load_policy
from baton.temporal.client import BatonClient
from baton.temporal.server import dev_server_args, installed_binary
from domain.directory import directory_from_policy
from domain.policy import EscalationPolicy
from workflows import search_attributes
from workflows.case import workflow_id_for

POSTGRES = os.environ.get(
    "BATON_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
QUEUE = "baton-pair-bench"


def _toml(value: Any) -> str:
    """A JSON-shaped value as TOML (the directory's fields are strings, numbers,
    booleans, lists and tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)


def directory_file(policy: EscalationPolicy) -> str:
    """The throughput benchmark's directory (every tier of every path staffed around
    the clock) as ``config/directory.toml`` would hold it, for the worker processes."""
    directory = directory_from_policy(policy)
    blocks = []
    for kind, rows in (("teams", directory.teams), ("agents", directory.agents)):
        for row in rows:
            fields = row.model_dump(mode="json", exclude_defaults=True)
            if kind == "agents":
                fields["max_cases"] = 100  # room for every case at once: no queue
            lines = "".join(f"{k} = {_toml(v)}\n" for k, v in fields.items())
            blocks.append(f"[[{kind}]]\n{lines}")
    return "\n".join(blocks)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(address: str, database_url: str, directory: Path, data: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "BATON_"))}
    env |= {
        "TEMPORAL_ADDRESS": address,
        "BATON_DATABASE_URL": database_url,
        "BATON_TASK_QUEUE": QUEUE,
        "BATON_DIRECTORY": str(directory),
        "BATON_DATA_DIR": str(data),
        "BATON_METRICS_ADDRESS": f"127.0.0.1:{_free_port()}",
    }
    log = data.with_suffix(".log")  # a file, so a chatty worker never blocks on a pipe
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "worker.py"],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=out,
            text=True,
        )
    deadline = time.monotonic() + 120
    while "worker running" not in log.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"worker did not start: {log.read_text()[-2000:]}")
        time.sleep(0.2)
    return proc


def _stop(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGINT)
    for proc in procs:
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()


async def _round(
    env: WorkflowEnvironment, workers: int, cases: int, concurrency: int, url: str, tmp: Path
) -> dict[str, object]:
    directory = tmp / "directory.toml"
    directory.write_text(directory_file(load_policy(DEFAULT_CONFIG)))
    address = env.client.service_client.config.target_host
    procs = [_worker(address, url, directory, tmp / f"data-{n}") for n in range(workers)]
    try:
        baton = BatonClient(env.client, QUEUE)
        ids: list[str] = []

        async def one(i: int) -> None:
            ids.append(await _standard_case(baton, env.client, i))

        await _in_parallel(concurrency, concurrency, one)  # warm up
        warm = len(ids)
        per_s = await _in_parallel(cases, concurrency, one)
        pids: Counter[str] = Counter()
        for case_id in ids[warm:]:
            handle = env.client.get_workflow_handle(workflow_id_for(case_id))
            history = await handle.fetch_history()
            started = EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
            who = {  # speculative tasks (for updates) record no identity
                e.workflow_task_started_event_attributes.identity
                for e in history.events
                if e.event_type == started and e.workflow_task_started_event_attributes.identity
            }
            pids.update(who)
        # A case a worker ran a task of; a case can count for both.
        return {"cases_per_s": round(per_s, 2), "cases_per_worker": sorted(pids.values())}
    finally:
        _stop(procs)


async def main(cases: int, concurrency: int) -> dict[str, object]:
    schema = f"baton_bench_{uuid.uuid4().hex[:10]}"
    admin = sqlalchemy.create_engine(POSTGRES)
    figures: dict[str, object] = {"cases": cases, "concurrency": concurrency, "store": "postgresql"}
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        env = await WorkflowEnvironment.start_local(
            data_converter=pydantic_data_converter,
            search_attributes=search_attributes.ALL,
            dev_server_existing_path=installed_binary("temporal"),
            dev_server_database_filename=str(tmp / "temporal.db"),
            dev_server_extra_args=dev_server_args(),
        )
        try:
            for workers in (1, 2):
                name = f"{schema}_{workers}"
                with admin.begin() as conn:
                    conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{name}"'))
                url = f"{POSTGRES}?options=-csearch_path%3D{name}"
                t0 = time.perf_counter()
                result = await _round(env, workers, cases, concurrency, url, tmp)
                figures[f"workers_{workers}_cases_per_s"] = result["cases_per_s"]
                figures[f"workers_{workers}_cases_per_worker"] = result["cases_per_worker"]
                figures[f"workers_{workers}_seconds"] = round(time.perf_counter() - t0, 1)
                with admin.begin() as conn:
                    conn.execute(sqlalchemy.text(f'DROP SCHEMA "{name}" CASCADE'))
        finally:
            await env.shutdown()
            admin.dispose()
    one, two = figures["workers_1_cases_per_s"], figures["workers_2_cases_per_s"]
    figures["two_to_one_worker_ratio"] = round(float(two) / float(one), 2)  # type: ignore[arg-type]
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    figures = asyncio.run(main(args.cases, args.concurrency))
    save("pair", figures, "two_to_one_worker_ratio")
