"""``python worker.py`` as users run it: embedded server, clean stop, cases survive."""

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from baton.settings import DEFAULT_CONFIG, PROJECT_ROOT, Settings
from baton.temporal.client import BatonClient
from domain.states import CaseState
from tests.conftest import new_case


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class WorkerProcess:
    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "worker.py"],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group, as in a terminal
        )
        self.log: list[str] = []

    async def wait_running(self, timeout: float = 90) -> None:
        loop = asyncio.get_running_loop()
        assert self.proc.stderr is not None
        while True:
            line = await asyncio.wait_for(
                loop.run_in_executor(None, self.proc.stderr.readline), timeout
            )
            assert line, f"worker exited early: {''.join(self.log)}"
            self.log.append(line)
            if "worker running" in line:
                return

    def stop(self, sig: int = signal.SIGINT, timeout: float = 60, group: bool = False) -> int:
        """Signal the worker, or its whole process group as Ctrl-C in a terminal does."""
        if group:
            os.killpg(self.proc.pid, sig)
        else:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


async def test_embedded_server_runs_stops_cleanly_and_keeps_cases(worker_env) -> None:
    settings = Settings(**{k.lower(): v for k, v in worker_env.items() if k.startswith("BATON_")})
    port, ui_port = settings.baton_dev_server_port, settings.baton_dev_ui_port
    case = new_case()

    first = WorkerProcess(worker_env)
    await first.wait_running()
    # What the start built is kept out of the collector's walk (baton/temporal/heap.py).
    assert json.loads(first.log[-1])["frozen_objects"] > 10_000
    try:
        client = await BatonClient.connect(settings)
        await client.start_case(case)
        assessment = await client.post_message(
            case.case_id, {"message_id": "m1", "author": "customer", "text": "talk to a human"}
        )
        assert assessment.state is CaseState.HANDOFF
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/", timeout=10) as page:
            assert page.status == 200  # the Web UI
        desk = f"http://127.0.0.1:{settings.baton_desk_port}/login"
        with urllib.request.urlopen(desk, timeout=10) as page:
            assert page.status == 200 and b"Sign in" in page.read()  # the agents' desk
    finally:
        code = first.stop(signal.SIGINT, group=True)  # Ctrl-C
    assert code == 0, "".join(first.log)
    assert not _listening(port), "the embedded server must stop with the worker"
    assert (settings.baton_data_dir / "temporal.db").exists()
    assert (settings.baton_data_dir / "baton.db").exists()

    second = WorkerProcess(worker_env)
    await second.wait_running()
    try:
        client = await BatonClient.connect(settings)
        view = await client.case(case.case_id)
        assert (view.state, view.offered_to) == (CaseState.HANDOFF, "anna")
        await client.accept(case.case_id, "anna")
        assert (await client.case(case.case_id)).state is CaseState.HUMAN_HANDLING
    finally:
        code = second.stop(signal.SIGTERM)
    assert code == 0, "".join(second.log)
    assert not _listening(port)


def _refused_start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``python worker.py``, which must stop at once with exit code 2."""
    result = subprocess.run(
        [sys.executable, "worker.py"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2, result.stderr
    return result


def test_bad_config_stops_the_worker_naming_the_key(worker_env, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(DEFAULT_CONFIG.read_text().replace('medium = "PT15M"', 'medium = "15 minutes"'))
    result = _refused_start(worker_env | {"BATON_CONFIG": str(bad)})
    assert "timers.accept_timeout.medium" in result.stderr
    assert not (Path(worker_env["BATON_DATA_DIR"]) / "temporal.db").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "trigger model not found"),
        (b'{"version": "x", "heads": [', "invalid trigger model"),
        (b"\x00\xff garbage", "invalid trigger model"),
    ],
)
def test_a_missing_or_corrupt_trigger_model_stops_the_worker_naming_the_file(
    worker_env, tmp_path: Path, content: bytes | None, message: str
) -> None:
    for name in ("escalation.toml", "risk-model.json"):
        shutil.copy(DEFAULT_CONFIG.parent / name, tmp_path / name)
    model = tmp_path / "trigger-model.json"
    if content is not None:
        model.write_bytes(content)
    result = _refused_start(worker_env | {"BATON_CONFIG": str(tmp_path / "escalation.toml")})
    assert f"{model}: {message}" in result.stderr and "Traceback" not in result.stderr


def test_too_few_workflow_task_slots_stop_the_worker(worker_env) -> None:
    result = _refused_start(worker_env | {"BATON_WORKFLOW_TASK_SLOTS": "1"})
    assert "baton_workflow_task_slots" in result.stderr and "Traceback" not in result.stderr


def test_broken_notifications_stop_the_worker(worker_env, tmp_path: Path) -> None:
    bad = tmp_path / "notifications.toml"
    bad.write_text('[channels.hook]\nkind = "webhook"\nurl = "http://127.0.0.1:9/x"\n')
    result = _refused_start(worker_env | {"BATON_NOTIFICATIONS": str(bad)})
    assert "channels.hook.webhook" in result.stderr and "secret_env" in result.stderr


async def test_worker_joins_an_existing_cluster(worker_env, dev_env) -> None:
    task_queue = f"tq-{os.getpid()}-external"
    env = worker_env | {
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "BATON_TASK_QUEUE": task_queue,
    }
    worker = WorkerProcess(env)
    await worker.wait_running()
    try:
        client = BatonClient(dev_env.client, task_queue)
        case = new_case()
        await client.start_case(case)
        assessment = await client.post_message(
            case.case_id,
            {"message_id": "m1", "author": "customer", "text": "Where can I find my invoice?"},
        )
        assert assessment.state is CaseState.AI_HANDLING  # a routine question stays with the AI
        await client.escalate(case.case_id, "lead", "suspicious")
        assert (await client.case(case.case_id)).state is CaseState.HANDOFF
        await dev_env.client.get_workflow_handle(f"case-{case.case_id}").terminate()
    finally:
        code = worker.stop(signal.SIGTERM)
    assert code == 0, "".join(worker.log)
    # No embedded server was started: nothing of Temporal's in the data dir.
    assert not (Path(worker_env["BATON_DATA_DIR"]) / "temporal.db").exists()


def test_a_taken_desk_port_stops_the_worker_naming_it(worker_env) -> None:
    port = int(worker_env["BATON_DESK_PORT"])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        result = _refused_start(worker_env)
    assert f"127.0.0.1:{port}" in result.stderr and "BATON_DESK_PORT" in result.stderr
    assert not (Path(worker_env["BATON_DATA_DIR"]) / "temporal.db").exists()
