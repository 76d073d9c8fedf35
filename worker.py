"""Run Baton's worker: ``python worker.py`` (``make run``).

Without ``TEMPORAL_ADDRESS`` it first starts the embedded Temporal dev server (SQLite
under ``.data/``, Web UI on http://localhost:8233) as its child, which dies with it;
with it, it joins that cluster. Ctrl-C (or SIGTERM) stops the worker and the embedded
server cleanly; a server that exits under a running worker stops it (exit code 1).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack
from dataclasses import dataclass

import structlog
import uvicorn
from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.service import RPCError
from temporalio.worker import Worker

from activities.detection import DetectionActivities
from activities.learning import LearningActivities
from activities.notifications import NotificationActivities
from activities.policy import PolicyActivities
from activities.records import RecordActivities
from activities.retention import RetentionActivities
from activities.routing import RoutingActivities
from baton.desk.links import OfferLinks
from baton.desk.serve import bind_desk, desk_secret, desk_server
from baton.detection.loading import load_detector
from baton.logging import configure_logging
from baton.notify.config import NotificationConfig
from baton.notify.deliverer import Deliverer
from baton.notify.setup import load_checked, load_deliverer
from baton.notify.templates import Templates
from baton.reports.learning import ActiveDetector
from baton.settings import ConfigError, Settings
from baton.store.cases import CaseStore
from baton.store.directory import DirectoryStore, read_directory
from baton.temporal.client import BatonClient
from baton.temporal.embedded import EmbeddedServerError, lock_data_dir, start_server
from baton.temporal.heap import settle_heap
from baton.temporal.log_context import CaseLogContext
from baton.temporal.sandbox import serve_workflow_code, workflow_runner
from baton.temporal.schedules import ensure_learning_schedule, ensure_retention_schedule
from baton.temporal.server import connect, metrics_runtime
from baton.temporal.slots import WorkerSlots
from domain.detector import Detector
from domain.directory import Directory
from domain.models import LearningRequest
from workflows.case import CaseWorkflow
from workflows.learning import LearningWorkflow
from workflows.retention import RetentionWorkflow

log = structlog.get_logger("baton.worker")


def create_worker(
    client: Client,
    task_queue: str,
    detector: Detector,
    store: CaseStore,
    executor: ThreadPoolExecutor,
    directory: DirectoryStore | None = None,
    deliverer: Deliverer | None = None,
    learning_refresh: float = 15.0,
    slots: WorkerSlots | None = None,
) -> Worker:
    """The worker with every workflow and activity of the engine registered.

    Cases record the detector's policy when they start; the detector assesses messages;
    ``deliverer`` sends notifications (default: ``config/notifications.toml``); an
    applied learning proposal reaches the worker within ``learning_refresh`` seconds.
    ``executor`` must have a thread for each of ``slots`` (default :class:`WorkerSlots`;
    :meth:`WorkerSlots.executor` makes one).
    """
    slots = slots or WorkerSlots()
    threads = getattr(executor, "_max_workers", slots.threads)  # as the SDK reads it
    if threads < slots.threads:
        raise ValueError(
            f"the activity executor has {threads} threads; "
            f"{slots.regular} regular and {slots.local} local activity slots need {slots.threads}"
        )
    active = ActiveDetector(detector, store, learning_refresh)  # the applied proposal, if any
    policy_activities = PolicyActivities(lambda: active().policy)
    detection = DetectionActivities(active)
    directory = directory or DirectoryStore(store.engine)
    records = RecordActivities(store, directory)
    routing = RoutingActivities(directory, store)
    deliverer = deliverer or load_deliverer(store, detector.policy, directory.team_contacts)
    notifications = NotificationActivities(deliverer)
    retention = RetentionActivities(store)
    learning = LearningActivities(store, active)
    workflows = [CaseWorkflow, RetentionWorkflow, LearningWorkflow]
    serve_workflow_code(workflows)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=workflows,
        activities=[
            policy_activities.load_policy,
            detection.assess_message,
            notifications.deliver_notifications,
            records.document_case,
            routing.reserve_agent,
            routing.update_assignments,
            routing.claim_agent,
            retention.purge_personal_data,
            learning.propose_learning,
            learning.apply_learning,
        ],
        activity_executor=executor,
        max_concurrent_workflow_tasks=slots.workflow_tasks,
        max_concurrent_activities=slots.regular,
        max_concurrent_local_activities=slots.local,
        max_cached_workflows=slots.cached_cases,
        sticky_queue_schedule_to_start_timeout=slots.sticky_wait,
        interceptors=[CaseLogContext()],
        workflow_runner=workflow_runner(client.data_converter),
    )


@dataclass(frozen=True)
class _Checked:
    """Everything the worker reads from files before it starts, already validated."""

    detector: Detector
    directory: Directory
    notifications: NotificationConfig
    templates: Templates
    runtime: Runtime | None
    desk: socket.socket | None


def _check(settings: Settings) -> _Checked:
    """Read and validate the configuration; ConfigError (or ValueError for a taken
    metrics or desk port) names what is wrong. With the embedded server, the worker
    serves the desk too (``make run``); beside a cluster, ``baton desk serve`` does."""
    policy = settings.policy
    _ = settings.codec  # malformed encryption keys stop the start
    notifications, templates = load_checked(policy, settings.baton_notifications)
    if settings.desk_url:  # offers carry one-click links into the desk
        links = OfferLinks(desk_secret(settings), settings.desk_url)
        templates.links = links.for_notification
    return _Checked(
        detector=load_detector(settings.baton_config, policy),
        directory=read_directory(settings.baton_directory),
        notifications=notifications,
        templates=templates,
        runtime=metrics_runtime(settings),
        desk=bind_desk(settings) if settings.embedded_server and settings.baton_desk_port else None,
    )


async def main() -> int:
    """Start (or connect to) Temporal and run the worker until interrupted."""
    configure_logging()
    try:
        settings = Settings()  # a ValidationError (a ValueError) names the variable
        # First: a second worker on this data directory must change nothing.
        lock = lock_data_dir(settings) if settings.embedded_server else None
        checked = _check(settings)
    except (ConfigError, ValueError, EmbeddedServerError) as err:
        print(f"baton: {err}", file=sys.stderr)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    store = CaseStore(settings.database_url)
    try:
        return await _serve(settings, checked, store, stop)
    finally:
        store.close()
        if lock is not None:
            lock.close()


async def _serve(
    settings: Settings, checked: _Checked, store: CaseStore, stop: asyncio.Event
) -> int:
    directory, detector, runtime = checked.directory, checked.detector, checked.runtime
    directory_store = DirectoryStore(store.engine)
    if directory_store.seed(directory):
        log.info("directory loaded", teams=len(directory.teams), agents=len(directory.agents))
    deliverer = Deliverer(
        checked.notifications, checked.templates, store, directory_store.team_contacts
    )
    async with AsyncExitStack() as stack:
        server_exit: asyncio.Task[int] | None = None
        if settings.embedded_server:
            try:
                server = await start_server(settings)
            except EmbeddedServerError as err:
                print(f"baton: {err}", file=sys.stderr)
                return 2
            stack.push_async_callback(server.stop)
            server_exit = asyncio.create_task(server.exited())
            server_exit.add_done_callback(lambda _: stop.set())
            stack.callback(server_exit.cancel)
            log.info(
                "embedded Temporal server started",
                pid=server.pid,
                address=server.address,
                web_ui=f"http://localhost:{settings.baton_dev_ui_port}",
            )
        client = await connect(settings, runtime)
        slots = settings.worker_slots
        executor = stack.enter_context(slots.executor())
        stack.push_async_callback(deliverer.close)
        worker = create_worker(
            client,
            settings.baton_task_queue,
            detector,
            store,
            executor,
            directory_store,
            deliverer,
            slots=slots,
        )
        try:
            await ensure_retention_schedule(
                client,
                settings.baton_task_queue,
                settings.baton_retention_days,
                settings.baton_retention_cron,
            )
            await ensure_learning_schedule(
                client,
                settings.baton_task_queue,
                LearningRequest(
                    days=settings.baton_learning_days,
                    auto_apply=settings.baton_learning_auto_apply,
                ),
                settings.baton_learning_cron,
            )
        except RPCError as err:  # an invalid cron expression, most likely
            print(f"baton: schedule refused: {err}", file=sys.stderr)
            return 2
        async with worker:
            desk = _serve_desk(
                settings, checked, BatonClient(client, settings.baton_task_queue), store
            )
            log.info(
                "worker running",
                task_queue=settings.baton_task_queue,
                namespace=settings.temporal_namespace,
                policy_version=detector.policy.version,
                # Built and started, nothing awaited yet: no case has run in this process.
                frozen_objects=settle_heap(),
            )
            await stop.wait()
            if desk is not None:
                desk[0].should_exit = True
                await desk[1]
            if server_exit is not None and server_exit.done():
                log.error(
                    "the embedded Temporal server exited; the worker stops (start it again "
                    "with `make run`: cases and timers are kept)",
                    exit_code=server_exit.result(),
                )
                return 1
            log.info("stopping")
    return 0


def _serve_desk(
    settings: Settings, checked: _Checked, client: BatonClient, store: CaseStore
) -> tuple[uvicorn.Server, asyncio.Task[None]] | None:
    """Serve the desk on the socket bound at the check, until the worker stops."""
    if checked.desk is None:
        return None
    server = desk_server(settings, client, store, embedded=True, detector=checked.detector)
    task = asyncio.create_task(server.serve(sockets=[checked.desk]))
    log.info("desk running", url=f"http://{settings.baton_desk_host}:{settings.baton_desk_port}")
    return server, task


if __name__ == "__main__":
    exit_code = asyncio.run(main())
    # Everything is shut down by now (worker drained, embedded server stopped, store
    # closed). Skip interpreter finalization: with the Temporal runtime's native
    # threads still registered it occasionally aborts (SIGABRT) after a clean stop.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)
