"""Crash and restart as an operator would, against the real embedded server (not time
skipping): the server lives and dies with its worker, a restart brings the case back
with its pending timer, and every failed start says why."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from baton.settings import Settings
from baton.store.cases import CaseStore
from baton.temporal.client import BatonClient
from baton.temporal.embedded import server_command
from domain.states import CaseState
from tests.conftest import new_case
from tests.servers import WebhookReceiver
from tests.test_crash_record import _config, _drive_to, _until
from tests.test_worker_process import WorkerProcess, _listening, _refused_start

ACCEPT_TIMEOUTS = (
    "[timers.accept_timeout]          # offered agent does not accept: next agent, then up a tier\n"
    'low = "PT30M"\nmedium = "PT15M"\nhigh = "PT5M"\ncritical = "PT2M"\n'
)
SHORT_ACCEPT = (
    '[timers.accept_timeout]\nlow = "PT12S"\nmedium = "PT12S"\nhigh = "PT12S"\ncritical = "PT12S"\n'
)


def _processes_on(data_dir: Path) -> list[psutil.Process]:
    """Live processes whose command line names ``data_dir`` (the embedded server does)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        if proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if any(str(data_dir) in part for part in proc.info["cmdline"] or []):
            found.append(proc)
    return found


@pytest.fixture
def env(worker_env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, str]]:
    """A worker environment on the embedded server; afterwards no process of the test
    may be left (asserted on the process table, then cleaned up either way)."""
    yield worker_env
    data_dir = Path(worker_env["BATON_DATA_DIR"]).resolve()
    left = _processes_on(data_dir)
    for proc in left:
        proc.kill()
    assert not left, f"processes left behind: {[p.info['cmdline'] for p in left]}"


def _settings(env: dict[str, str]) -> Settings:
    return Settings(**{k.lower(): v for k, v in env.items() if k.startswith("BATON_")})


def _server_of(env: dict[str, str]) -> psutil.Process:
    (server,) = _processes_on(Path(env["BATON_DATA_DIR"]).resolve())
    return server


async def _offered(client: BatonClient, case_id: str, receiver: WebhookReceiver, env: Any) -> None:
    """Open the case in HANDOFF, its offer delivered and its delivery rows recorded (a kill
    between a receiver's answer and its row sends again with the same key: receivers
    drop the repeat, docs/notifications.md; this test counts every call)."""
    await client.start_case(new_case(case_id=case_id))
    store = _store(env)
    try:
        await _drive_to("offered", client, case_id, receiver, store)
    finally:
        store.close()


def _store(env: dict[str, str]) -> CaseStore:
    return CaseStore(f"sqlite:///{Path(env['BATON_DATA_DIR']) / 'baton.db'}")


async def _expired(client: BatonClient, case_id: str) -> Any:
    """Wait (real time) until the accept timer has fired; the case view then."""
    for _ in range(120):
        view = await client.case(case_id)
        if any(e.trigger == "offer_expired" for e in view.history):
            return view
        await asyncio.sleep(0.5)
    raise AssertionError("the accept timer never fired")


def _delivered_once(env: dict[str, str], case_id: str, receiver: WebhookReceiver) -> None:
    store = _store(env)
    try:
        deliveries = store.deliveries(case_id)
    finally:
        store.close()
    assert deliveries and {d.status for d in deliveries} == {"sent"}
    received = Counter(c.headers["Idempotency-Key"] for c in receiver.accepted)
    assert received == Counter({d.key: 1 for d in deliveries})  # each exactly once


@pytest.mark.parametrize("killed", ["worker", "server"])
async def test_a_kill_in_handoff_and_a_restart_fire_the_pending_accept_timer(
    env: dict[str, str], tmp_path: Path, killed: str
) -> None:
    receiver = WebhookReceiver().start()
    env = env | _config(tmp_path, receiver)
    policy = Path(env["BATON_CONFIG"])
    policy.write_text(policy.read_text().replace(ACCEPT_TIMEOUTS, SHORT_ACCEPT))
    settings = _settings(env)
    case_id = f"CRASH-{killed}-{tmp_path.name[-8:]}"
    first = WorkerProcess(env)
    try:
        await first.wait_running()
        server = _server_of(env)
        client = await BatonClient.connect(settings)
        await _offered(client, case_id, receiver, env)
        if killed == "worker":
            first.proc.kill()  # SIGKILL: no handler runs
            assert first.proc.wait(10) == -signal.SIGKILL
            server.wait(15)  # the parent-death signal takes the server down too
        else:
            server.kill()
            code = first.proc.wait(60)  # the worker notices and stops, saying why
            assert code == 1, "".join(first.log)
            assert "embedded Temporal server exited" in first.proc.stderr.read()  # type: ignore[union-attr]
    finally:
        if first.proc.poll() is None:
            first.stop(signal.SIGKILL)
    assert not _listening(settings.baton_dev_server_port)

    second = WorkerProcess(env)
    try:
        await second.wait_running()
        client = await BatonClient.connect(settings)
        view = await _expired(client, case_id)
        assert view.state is CaseState.HANDOFF and view.offered_to != "anna"
        await _until(lambda: _quiet(receiver), 10)
    finally:
        assert second.stop(signal.SIGTERM) == 0, "".join(second.log)
        receiver.stop()
    _delivered_once(env, case_id, receiver)


async def _quiet(receiver: WebhookReceiver) -> bool:
    """No delivery in the last second: the expiry's notices are through."""
    await asyncio.sleep(1)
    before = len(receiver.calls)
    await asyncio.sleep(1)
    return len(receiver.calls) == before


async def test_a_server_left_by_a_crashed_worker_is_stopped_and_replaced(
    env: dict[str, str],
) -> None:
    settings = _settings(env)
    settings.baton_data_dir.mkdir(parents=True)
    # What an older worker without the parent-death signal left: a server of its own.
    orphan = subprocess.Popen(
        server_command(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        for _ in range(200):
            if _listening(settings.baton_dev_server_port):
                break
            await asyncio.sleep(0.1)
        worker = WorkerProcess(env)
        try:
            await worker.wait_running()
            log = "".join(worker.log)
            assert "crashed worker left running" in log and str(orphan.pid) in log
            assert orphan.wait(20) is not None
            assert _server_of(env).pid != orphan.pid
        finally:
            assert worker.stop(signal.SIGTERM) == 0, "".join(worker.log)
    finally:
        if orphan.poll() is None:
            orphan.kill()
        orphan.wait()


def _refused(env: dict[str, str]) -> str:
    """Run ``python worker.py``, which must stop at once (exit code 2) claiming no server."""
    stderr = _refused_start(env).stderr
    assert "Traceback" not in stderr and "server started" not in stderr
    return stderr


def test_a_port_held_by_a_foreign_listener_stops_the_worker_naming_it(
    env: dict[str, str],
) -> None:
    port = int(env["BATON_DEV_SERVER_PORT"])
    with socket.socket() as foreign:
        foreign.bind(("127.0.0.1", port))
        foreign.listen()
        stderr = _refused(env)
    assert f"port {port} on 127.0.0.1 is taken" in stderr and "BATON_DEV_SERVER_PORT" in stderr


def test_a_missing_temporal_binary_stops_the_worker_saying_how_to_install_it(
    env: dict[str, str], tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-temporal"
    stderr = _refused(env | {"BATON_TEMPORAL_BINARY": str(missing)})
    assert f"{missing} does not exist" in stderr and "make run" in stderr


def test_a_corrupt_server_database_stops_the_worker_naming_the_file(
    env: dict[str, str],
) -> None:
    database = Path(env["BATON_DATA_DIR"]).resolve() / "temporal.db"
    database.parent.mkdir(parents=True)
    database.write_bytes(b"this is no SQLite database " * 200)
    stderr = _refused(env)
    assert f"{database} is corrupt" in stderr and "move it away" in stderr


async def test_a_second_worker_on_the_same_data_directory_is_refused(
    env: dict[str, str],
) -> None:
    first = WorkerProcess(env)
    try:
        await first.wait_running()
        stderr = _refused(env)
        assert f"another Baton worker (pid {first.proc.pid})" in stderr
        assert _listening(int(env["BATON_DEV_SERVER_PORT"]))  # the first one's server lives
    finally:
        assert first.stop(signal.SIGTERM) == 0, "".join(first.log)
