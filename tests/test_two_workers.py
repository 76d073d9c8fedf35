"""Two workers on one task queue, the documented way to outgrow one machine: cases on
the shared PostgreSQL store and the shared server, one worker killed with SIGKILL while
cases wait in HANDOFF, and every case still completes on the other."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from temporalio.api.enums.v1 import EventType

from baton.settings import Settings
from baton.temporal.client import BatonClient
from domain.models import CaseView
from domain.states import CaseState
from tests.conftest import free_port, new_case
from tests.test_faults import TEAM
from tests.test_worker_process import WorkerProcess
from workflows.case import CaseWorkflow, workflow_id_for

CASES = 8


def _env(base: dict[str, str], address: str, database_url: str) -> dict[str, str]:
    """One worker of the pair: the shared server, store, directory and task queue; its
    own metrics port."""
    return base | {
        "TEMPORAL_ADDRESS": address,
        "BATON_DATABASE_URL": database_url,
        "BATON_TASK_QUEUE": "baton-pair",
        "BATON_STICKY_WAIT": "PT2S",  # a dead worker's cases move on quickly
        "BATON_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
    }


def _workers_of(history) -> set[str]:
    """The identities (``pid@host``) of the workers that completed the case's tasks."""
    started = EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
    return {
        e.workflow_task_started_event_attributes.identity.split("@")[0]
        for e in history.events
        if e.event_type == started
    }


async def test_a_killed_worker_leaves_every_case_to_the_other(
    dev_env, worker_env, postgres_url, tmp_path: Path
) -> None:
    address = dev_env.client.service_client.config.target_host
    directory = tmp_path / "team.toml"
    directory.write_text(TEAM)  # three agents, three cases each: room for every case
    worker_env = worker_env | {"BATON_DIRECTORY": str(directory)}
    first = WorkerProcess(_env(worker_env, address, postgres_url))
    second: WorkerProcess | None = None
    try:
        await first.wait_running()
        second = WorkerProcess(_env(worker_env, address, postgres_url))
        await second.wait_running()
        settings = Settings(
            temporal_address=address, baton_task_queue="baton-pair", baton_database_url=postgres_url
        )
        baton = await BatonClient.connect(settings)

        def handle(case_id: str):  # type: ignore[no-untyped-def]
            workflow_id = workflow_id_for(case_id)
            return dev_env.client.get_workflow_handle_for(CaseWorkflow.run, workflow_id)

        cases = [new_case() for _ in range(CASES)]
        for case in cases:
            await baton.start_case(case)
        offers = await asyncio.gather(
            *(
                baton.post_message(
                    c.case_id, {"message_id": "m1", "author": "customer", "text": "talk to a human"}
                )
                for c in cases
            )
        )
        assert {a.state for a in offers} == {CaseState.HANDOFF}
        histories = [await handle(c.case_id).fetch_history() for c in cases]
        ran = set().union(*(_workers_of(h) for h in histories))
        assert str(first.proc.pid) in ran, "the first worker took none of the cases"
        first.stop(signal.SIGKILL)  # an out-of-memory kill: no goodbye

        async def finish(case_id: str) -> CaseView:
            view = await baton.case(case_id)
            agent = view.offered_to
            assert agent is not None
            await baton.accept(case_id, agent)
            await baton.resolve(
                case_id,
                {
                    "by": agent,
                    "resolution": "done",
                    "root_cause": "other",
                    "escalation_necessary": True,
                },
            )
            result: CaseView = await handle(case_id).result()
            return result

        views = await asyncio.wait_for(asyncio.gather(*(finish(c.case_id) for c in cases)), 120)
        assert {v.state for v in views} == {CaseState.CLOSED}
        after = [await handle(c.case_id).fetch_history() for c in cases]
        assert all(str(second.proc.pid) in _workers_of(h) for h in after)
    finally:
        for worker in (first, second):
            if worker is not None and worker.proc.poll() is None:
                worker.stop(signal.SIGINT)
