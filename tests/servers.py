"""Real local receivers for the notification tests: an SMTP server (aiosmtpd, STARTTLS
and login) and an HTTP webhook receiver (pytest-httpserver) that verifies Standard
Webhooks signatures and can fail or hang on purpose. Both bind to 127.0.0.1 on free
ports and are stopped by the fixtures that start them."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email import policy as email_policy
from email.message import Message
from pathlib import Path
from typing import Any

import trustme
import uvicorn
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from pytest_httpserver import HTTPServer
from standardwebhooks import Webhook, WebhookVerificationError
from werkzeug import Request, Response

from baton.notify.config import NotificationConfig
from baton.notify.deliverer import Deliverer
from baton.notify.templates import Templates
from baton.settings import DEFAULT_NOTIFICATIONS
from baton.store.cases import CaseStore
from domain.examples import example_notifications
from domain.models import Notification

TEMPLATES = DEFAULT_NOTIFICATIONS.parent / "templates"
SMTP_PASSWORD = "s3cret"
SECRET = "whsec_" + "c2VjcmV0LWZvci10ZXN0cy1vbmx5LTEyMzQ1Njc4"  # base64 of a test secret


EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_handed_out: set[int] = set()


def _listen_ports() -> range:
    """Ports below the kernel's ephemeral range: it never hands these out for bind(0)
    or as the source port of a connection. A port taken from that range is free when
    picked but can be taken before the server binds it, by the dev server's own
    internal ports and connections while it starts (seen once: "bind: address already
    in use" for the frontend's port)."""
    try:
        low = int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768  # Linux's default
    return range(max(1024, low - 12000), low)


def free_port() -> int:
    """A free TCP port on loopback, outside the ephemeral range, not handed out before
    by this process."""
    ports = _listen_ports()
    for _ in range(500):
        port = random.choice(ports)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:  # in use by a server of this machine, or just closed
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free loopback port in {ports.start}-{ports.stop - 1}")


# ------------------------------------------------------------------------ SMTP
@dataclass
class SmtpReceiver:
    """An SMTP server that requires STARTTLS and a login, and keeps what it accepts."""

    user: str = "baton"
    password: str = SMTP_PASSWORD
    refuse: set[str] = field(default_factory=set)
    """Recipients answered with 550 (mailbox unavailable)."""
    messages: list[Message] = field(default_factory=list)
    ca: trustme.CA = field(default_factory=trustme.CA)
    port: int = 0
    _controller: Controller | None = None

    def start(self) -> SmtpReceiver:
        """Listen on a free loopback port."""
        server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1").configure_cert(server_tls)
        self.port = free_port()
        self._controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            tls_context=server_tls,
            require_starttls=True,
            auth_required=True,
            auth_require_tls=True,
            authenticator=self._authenticate,
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        if self._controller is not None:
            self._controller.stop()

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any):  # type: ignore[no-untyped-def]
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == self.user
            and data.password.decode() == self.password
        )
        return AuthResult(success=ok, handled=False)  # handled=False: answer 535 on failure

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content, policy=email_policy.default))
        return "250 Message accepted for delivery"

    def ca_file(self, folder: Any) -> str:
        """Write the test CA to ``folder`` so the client trusts the server."""
        path = folder / "smtp-ca.pem"
        self.ca.cert_pem.write_to_path(str(path))
        return str(path)


# --------------------------------------------------------------------- webhooks
@dataclass
class Call:
    """One request the receiver saw."""

    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


class WebhookReceiver:
    """An HTTP receiver: verifies signatures on ``/hook``, fails or hangs on request."""

    def __init__(self) -> None:
        """Not listening until :meth:`start`."""
        self.server = HTTPServer(host="127.0.0.1", port=free_port(), threaded=True)
        self.calls: list[Call] = []
        self.fail_first = 0
        self.fail_status = 503
        self.hang_first = 0
        self.hang_seconds = 0.0
        self.status = 200
        """Answer every call with this once the failures are used up."""
        self._lock = threading.Lock()

    def start(self) -> WebhookReceiver:
        """Listen on a free loopback port."""
        self.server.expect_request("/hook").respond_with_handler(self._handle)
        self.server.expect_request("/slack").respond_with_handler(self._handle)
        self.server.expect_request("/teams").respond_with_handler(self._handle)
        self.server.start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        self.server.clear()
        if self.server.is_running():
            self.server.stop()

    def url(self, path: str = "/hook") -> str:
        """The receiver's address for ``path``."""
        return self.server.url_for(path)

    @property
    def accepted(self) -> list[Call]:
        """Calls answered with a 2xx: what the recipient actually took."""
        return [c for c in self.calls if 200 <= c.status < 300]

    def _handle(self, request: Request) -> Response:
        body = request.get_data()
        headers = {k: v for k, v in request.headers.items()}
        with self._lock:
            n = len(self.calls)
            status = self._status(request.path, headers, body, n)
            self.calls.append(Call(request.path, headers, body, status))
        if n < self.hang_first:
            time.sleep(self.hang_seconds)  # the client gives up before this returns
        return Response("ok" if status < 300 else "no", status=status)

    def _status(self, path: str, headers: dict[str, str], body: bytes, n: int) -> int:
        if path == "/hook":
            try:
                Webhook(SECRET).verify(body, headers)
            except WebhookVerificationError:
                return 401
        if n < self.hang_first:
            return 599  # never seen by the client: it timed out
        if n < self.hang_first + self.fail_first:
            return self.fail_status
        return self.status


# ------------------------------------------------------------------ deliverers
def deliverer_for(
    store: CaseStore,
    tmp_path: Path,
    smtp: SmtpReceiver | None = None,
    receiver: WebhookReceiver | None = None,
    links: Any = None,
    **book: Any,
) -> Deliverer:
    """A deliverer with the shipped templates and channels on the test servers."""
    channels: dict[str, Any] = {}
    if smtp is not None:
        channels["email"] = {
            "kind": "smtp",
            "host": "127.0.0.1",
            "port": smtp.port,
            "starttls": True,
            "username": smtp.user,
            "password_env": "TEST_SMTP_PASSWORD",
            "sender": "Baton <baton@example.com>",
            "ca_file": smtp.ca_file(tmp_path),
            "timeout": 5,
        }
    if receiver is not None:
        channels["hook"] = {
            "kind": "webhook",
            "url": receiver.url("/hook"),
            "secret_env": "TEST_WEBHOOK_SECRET",
            "timeout": 0.5,
        }
        channels["slack"] = {"kind": "slack", "url": receiver.url("/slack")}
        channels["teams"] = {"kind": "teams", "url": receiver.url("/teams")}
    config = NotificationConfig.model_validate({"channels": channels, **book})
    contacts = {"support-frontline": "frontline@example.com"}
    return Deliverer(config, Templates(TEMPLATES, links), store, lambda: contacts)


def example(policy: Any, event: str, language: str = "en") -> Notification:
    """A real notification of ``event`` from the example cases."""
    found = [n for n in example_notifications(policy) if n.event == event]
    return next(n for n in found if n.language.value == language)


@asynccontextmanager
async def serving(app: Any, port: int | None = None) -> AsyncIterator[str]:
    """``app`` (ASGI) served by uvicorn on loopback until the block ends; its URL."""
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task  # it could not start: say why
            raise AssertionError(f"the server on port {port} stopped at start")
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
