"""Benchmark: complete cases per second through the embedded server, against a bare
workflow with one activity on the same server in the same run, and history events per
standard case (the median over the run's cases, and how they spread: a call that comes
while its case's workflow task is scheduled but not yet started lands in that task,
otherwise it needs one of its own, three events more).

The standard case: start, five messages (customer, AI, customer, AI, then the customer
asks for a person), the offered agent accepts and answers, resolves with the follow-up
documented, and the case closes. Cases run ``--concurrency`` at a time. For the
standard cases and the wire floor it also reports the CPU each case cost this process
(the worker and the clients) and the server: where the difference between the two goes.
It also runs the standard cases with the customer's messages encoded ahead
(``encoder_primed``): the same engine without the sentence encoder's work, which
``bench/detection.py`` prices per message. The wire floor, the standard cases and the
primed ones take turns (``ROUNDS``), so a machine whose speed drifts during the run
weighs on all three alike.

With ``--replies signal`` the AI's and the agent's replies go by the ``message`` signal
(nothing to decide on them) and only the customer's messages, the accept and the
resolve are updates, in the standard case and the wire floor alike; its figures go to
their own section of ``bench/results.json``, not to the tracked ones.

    .venv/bin/python bench/throughput.py [--cases 60] [--concurrency 10] [--workflow-tasks N]
                                         [--replies update|signal]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bare import BareWorkflow, WireFloorWorkflow, echo
from figures import cpu_seconds, save
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from baton.detection.loading import for_batches, load_detector
from baton.settings import DEFAULT_CONFIG, load_policy
from baton.store.cases import CaseStore
from baton.store.directory import DirectoryStore
from baton.temporal.client import BatonClient
from baton.temporal.heap import settle_heap
from baton.temporal.history import event_kinds, local_activities, regular_activities
from baton.temporal.sandbox import serve_workflow_code
from baton.temporal.server import dev_server_args, installed_binary
from baton.temporal.slots import WorkerSlots
from domain.detector import Detector
from domain.directory import directory_from_policy
from domain.models import CaseInput
from worker import create_worker
from workflows import search_attributes
from workflows.case import workflow_id_for


async def _in_parallel(n: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> float:
    """Run ``one(i)`` for i < n, ``concurrency`` at a time; returns items per second."""
    tally = Tally()
    await tally.run(n, concurrency, one)
    return tally.per_s


@dataclass
class Tally:
    """Items run, and the seconds and CPU they took, added up over several batches."""

    items: int = 0
    seconds: float = 0.0
    own_cpu: float = 0.0
    server_cpu: float = 0.0

    async def run(self, n: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> None:
        """Run ``one(i)`` for i < n, ``concurrency`` at a time, and count it."""
        gate = asyncio.Semaphore(concurrency)

        async def guarded(i: int) -> None:
            async with gate:
                await one(i)

        own0, server0 = cpu_seconds()
        t0 = time.perf_counter()
        await asyncio.gather(*(guarded(self.items + i) for i in range(n)))
        self.seconds += time.perf_counter() - t0
        own1, server1 = cpu_seconds()
        self.own_cpu += own1 - own0
        self.server_cpu += server1 - server0
        self.items += n

    @property
    def per_s(self) -> float:
        """Items per second."""
        return self.items / self.seconds

    @property
    def own_ms(self) -> float:
        """Milliseconds of CPU an item cost this process (the worker and the clients)."""
        return 1000 * self.own_cpu / self.items

    @property
    def server_ms(self) -> float:
        """Milliseconds of CPU an item cost the server."""
        return 1000 * self.server_cpu / self.items


ROUNDS = 3
"""The wire floor, the standard cases and the primed ones are measured in this many turns."""

STANDARD_TURNS = [
    ("customer", "Hello, my invoice was charged twice this month."),
    ("ai", "I am sorry to hear that. Let me check your invoice."),
    ("customer", "It is invoice 4711, both charges are on my card statement."),
    ("ai", "I can see both charges. A refund needs a colleague."),
    ("customer", "Then I want to talk to a human, please."),
]
"""The standard case's five messages: the customer's three go through detection."""


def encoder_primed(detector: Detector) -> Detector:
    """``detector`` with the standard case's customer messages encoded ahead, as a batch
    run primes its encoder: everything of a case but the sentence encoder's work."""
    primed, prime = for_batches(detector)
    if prime is not None:
        prime([text for author, text in STANDARD_TURNS if author == "customer"])
    return primed


async def _standard_case(
    baton: BatonClient, client: Client, i: int, replies: str = "update"
) -> str:
    case = CaseInput.model_validate(
        {
            "case_id": f"BENCH-{uuid.uuid4().hex[:10]}",
            "customer": {"id": f"bench-{i}", "name": "Ada", "language": "en"},
            "channel": "chat",
            "subject": "Invoice charged twice",
        }
    )
    await baton.start_case(case)
    for n, (author, text) in enumerate(STANDARD_TURNS, start=1):
        await _say(
            baton, case.case_id, replies, {"message_id": f"m{n}", "author": author, "text": text}
        )
    view = await baton.case(case.case_id)
    agent = view.offered_to
    assert agent is not None, "the standard case was not offered to anyone"
    await baton.accept(case.case_id, agent)
    await _say(
        baton,
        case.case_id,
        replies,
        {"message_id": "m6", "author": "agent", "text": "Refund is on its way."},
    )
    await baton.resolve(
        case.case_id,
        {
            "by": agent,
            "resolution": "refunded the second charge",
            "escalation_necessary": True,
            "root_cause": "billing_error",
        },
    )
    await client.get_workflow_handle(workflow_id_for(case.case_id)).result()
    return case.case_id


async def _say(baton: BatonClient, case_id: str, replies: str, message: dict[str, str]) -> None:
    """A customer's message is an update (the backend needs the decision); a reply is
    one too unless ``replies`` is ``signal``."""
    if replies == "signal" and message["author"] != "customer":
        await baton.send_message(case_id, message)
    else:
        await baton.post_message(case_id, message)


STANDARD_CALLS = ["message", "reply"] * 2 + ["message", "query", "accept", "reply", "resolve"]
"""The standard case's calls after the start, in order, as :func:`_standard_case` makes
them (a reply is a message of the AI or the agent)."""


async def _wire_floor_case(client: Client, task_queue: str, i: int, replies: str) -> str:
    """The standard case's calls against :class:`WireFloorWorkflow`; returns its id."""
    handle = await client.start_workflow(
        WireFloorWorkflow.run, f"floor {i}", id=f"floor-{uuid.uuid4()}", task_queue=task_queue
    )
    for call in STANDARD_CALLS:
        if call == "query":
            await handle.query(WireFloorWorkflow.calls)
        elif call == "reply" and replies == "signal":
            await handle.signal(WireFloorWorkflow.note, call)
        else:
            await handle.execute_update(WireFloorWorkflow.call, call)
    await handle.result()
    return handle.id


async def _typical_history(
    client: Client, workflow_ids: list[str]
) -> tuple[WorkflowHistory, list[int]]:
    """Each workflow's number of history events, and the history of one whose number
    is the median (the lower one of an even count)."""
    histories = [await client.get_workflow_handle(i).fetch_history() for i in workflow_ids]
    counts = [len(h.events) for h in histories]
    typical = statistics.median_low(counts)
    return next(h for h in histories if len(h.events) == typical), counts


def _spread(counts: list[int]) -> dict[str, int]:
    """How many workflows had each number of events, fewest first."""
    return {str(n): k for n, k in sorted(Counter(counts).items())}


async def main(
    cases: int, concurrency: int, slots: WorkerSlots, replies: str = "update"
) -> dict[str, object]:
    policy = load_policy(DEFAULT_CONFIG)
    detector = load_detector(DEFAULT_CONFIG, policy)
    figures: dict[str, object] = {
        "cases": cases,
        "concurrency": concurrency,
        "workflow_task_slots": slots.workflow_tasks,
        "replies": replies,
    }
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
        # Plenty of agents so routing never queues: the benchmark measures the engine.
        directory.seed(directory_from_policy(policy))
        try:
            with slots.executor() as pool:
                figures |= await _measure(
                    env.client, detector, store, directory, pool, cases, concurrency, slots, replies
                )
        finally:
            store.close()
            await env.shutdown()
    return figures


async def _measure(
    client: Client,
    detector: Detector,
    store: CaseStore,
    directory: DirectoryStore,
    pool: ThreadPoolExecutor,
    cases: int,
    concurrency: int,
    slots: WorkerSlots,
    replies: str,
) -> dict[str, object]:
    queue = f"bench-{uuid.uuid4()}"
    serve_workflow_code([BareWorkflow, WireFloorWorkflow])  # as the engine's own
    bare = Worker(
        client,
        task_queue=f"{queue}-bare",
        workflows=[BareWorkflow, WireFloorWorkflow],
        activities=[echo],
        activity_executor=pool,
        max_concurrent_workflow_tasks=slots.workflow_tasks,  # both workers alike
        max_concurrent_activities=slots.regular,
    )
    engine = create_worker(client, queue, detector, store, pool, directory, slots=slots)
    primed_engine = create_worker(
        client, f"{queue}-primed", encoder_primed(detector), store, pool, directory, slots=slots
    )
    baton = BatonClient(client, queue)
    primed_baton = BatonClient(client, f"{queue}-primed")
    case_ids: list[str] = []
    floor_ids: list[str] = []

    async def bare_run(i: int) -> None:
        await client.execute_workflow(
            BareWorkflow.run, f"bare {i}", id=f"bare-{uuid.uuid4()}", task_queue=f"{queue}-bare"
        )

    async def case_run(i: int) -> None:
        case_ids.append(await _standard_case(baton, client, i, replies))

    async def primed_run(i: int) -> None:
        await _standard_case(primed_baton, client, i, replies)

    async def floor_run(i: int) -> None:
        floor_ids.append(await _wire_floor_case(client, f"{queue}-bare", i, replies))

    async with bare, engine, primed_engine:
        settle_heap()  # as worker.py does once its worker is built
        await _in_parallel(concurrency, concurrency, bare_run)  # warm up all three
        await _in_parallel(2, 2, case_run)
        await _in_parallel(2, 2, primed_run)
        case_ids.clear()  # the figures count the measured cases only
        bare_per_s = await _in_parallel(cases * 4, concurrency, bare_run)
        floor, standard, primed = Tally(), Tally(), Tally()
        # In turns, so a machine whose speed drifts during the run weighs on all three.
        for turn in range(ROUNDS):
            share = cases * (turn + 1) // ROUNDS - cases * turn // ROUNDS
            await floor.run(share * 2, concurrency, floor_run)
            await standard.run(share, concurrency, case_run)
            await primed.run(share, concurrency, primed_run)
        history, case_events = await _typical_history(
            client, [workflow_id_for(case_id) for case_id in case_ids]
        )
        _, floor_events = await _typical_history(client, floor_ids)
    kinds = event_kinds(history)
    activities = regular_activities(history)
    local = local_activities(history)
    return {
        "bare_workflows_per_s": round(bare_per_s, 1),
        "cases_per_s": round(standard.per_s, 2),
        "throughput_ratio": round(standard.per_s / bare_per_s, 3),
        # The same calls with nothing behind them: the most any engine could reach.
        "wire_floor_per_s": round(floor.per_s, 2),
        "wire_floor_ratio": round(floor.per_s / bare_per_s, 3),
        "cases_to_wire_floor_ratio": round(standard.per_s / floor.per_s, 3),
        # Where the difference goes: CPU per case of this process (the worker and the
        # clients) and of the server, both cores busy.
        "case_cpu_ms_python": round(standard.own_ms, 1),
        "case_cpu_ms_server": round(standard.server_ms, 1),
        "wire_floor_cpu_ms_python": round(floor.own_ms, 1),
        "wire_floor_cpu_ms_server": round(floor.server_ms, 1),
        # The same cases with the customer messages encoded ahead: what the rest of
        # Baton costs, and what the sentence encoder adds to a case.
        "cases_per_s_encoder_primed": round(primed.per_s, 2),
        "cases_to_wire_floor_ratio_encoder_primed": round(primed.per_s / floor.per_s, 3),
        "case_cpu_ms_python_encoder_primed": round(primed.own_ms, 1),
        "case_cpu_ms_server_encoder_primed": round(primed.server_ms, 1),
        "encoder_cpu_ms_per_case": round(standard.own_ms - primed.own_ms, 1),
        # Over every case of the run: whether a call lands in a workflow task already
        # scheduled or needs one of its own (3 events) depends on timing.
        "events_per_case": statistics.median_low(case_events),
        "wire_floor_events": statistics.median_low(floor_events),
        "events_per_case_spread": _spread(case_events),
        "wire_floor_events_spread": _spread(floor_events),
        "workflow_tasks_per_case": kinds["workflow_task_completed"],
        "events_by_kind": dict(kinds.most_common()),
        "activities_by_type": dict(activities.most_common()),
        "local_activities_by_type": dict(local.most_common()),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--workflow-tasks", type=int, default=WorkerSlots.workflow_tasks)
    parser.add_argument("--replies", choices=["update", "signal"], default="update")
    args = parser.parse_args()
    slots = WorkerSlots(workflow_tasks=args.workflow_tasks)
    figures = asyncio.run(main(args.cases, args.concurrency, slots, args.replies))
    if args.replies == "update":  # the contract's standard case: the tracked figures
        tracked = (
            "cases_to_wire_floor_ratio",
            "events_per_case",
            "wire_floor_events",
            "cases_per_s",
            "wire_floor_per_s",
        )
        save("throughput", figures, *tracked)
    else:
        save("throughput_signal_replies", figures)
