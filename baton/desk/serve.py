"""Serving the desk: its secret, its server, and the stores and client it works with."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import time
from collections.abc import Iterator

import uvicorn

from baton.desk.app import Desk, TrustedProxy, create_app
from baton.desk.links import OfferLinks
from baton.detection.loading import load_detector
from baton.settings import ConfigError, Settings
from baton.store.accounts import AccountStore
from baton.store.cases import CaseStore
from baton.store.directory import DirectoryStore
from baton.temporal.client import BatonClient
from domain.detector import Detector

SECRET_FILE = "desk-secret"


def desk_secret(settings: Settings) -> str:
    """``BATON_DESK_SECRET``, or a random secret created once in the data directory
    (readable by its owner only), so sessions survive a restart."""
    if settings.baton_desk_secret is not None:
        return settings.baton_desk_secret.get_secret_value()
    path = settings.baton_data_dir / SECRET_FILE
    if not path.exists():
        settings.baton_data_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # another process made it just now
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
    for _ in range(50):  # written by the other process a moment from now
        if secret := path.read_text().strip():
            return secret
        time.sleep(0.01)
    raise ConfigError(f"{path} is empty: delete it and start again")


class DeskPortTaken(ValueError):
    """The desk's port cannot be bound; the message names it and the fix."""


class _Embedded(uvicorn.Server):
    """The desk inside the worker, whose own handlers answer Ctrl-C and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind_desk(settings: Settings) -> socket.socket:
    """The desk's listening socket, bound now so that a taken port stops the start
    with a clear error (:class:`DeskPortTaken`) before anything runs."""
    sock = socket.socket(socket.AF_INET6 if ":" in settings.baton_desk_host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.baton_desk_host, settings.baton_desk_port))
    except OSError as err:
        sock.close()
        raise DeskPortTaken(
            f"the desk cannot listen on {settings.baton_desk_host}:{settings.baton_desk_port} "
            f"({err.strerror}): choose another BATON_DESK_PORT, or 0 for no desk"
        ) from None
    sock.listen(128)
    return sock


def desk_server(
    settings: Settings,
    client: BatonClient,
    store: CaseStore,
    embedded: bool = False,
    detector: Detector | None = None,
) -> uvicorn.Server:
    """A server for the desk on ``BATON_DESK_HOST:BATON_DESK_PORT``; run it with
    ``await server.serve()`` (inside the worker, ``embedded``: on the socket of
    :func:`bind_desk`) and stop it with ``server.should_exit = True``. A lead applies
    learning proposals against ``detector`` (None: the desk loads the configured one)."""
    if detector is None:
        detector = load_detector(settings.baton_config)
    desk = Desk(
        client,
        store,
        AccountStore(store.engine),
        DirectoryStore(store.engine),
        root_causes=list(settings.policy.follow_up.root_causes),
        detector=detector,
        links=OfferLinks(desk_secret(settings), settings.desk_url) if settings.desk_url else None,
        proxy=_proxy(settings),
        policy=settings.policy,
        slack_signing_secret=(
            settings.baton_slack_signing_secret.get_secret_value()
            if settings.baton_slack_signing_secret
            else None
        ),
    )
    app = create_app(desk, desk_secret(settings), https_only=settings.baton_desk_https)
    config = uvicorn.Config(
        app,
        host=settings.baton_desk_host,
        port=settings.baton_desk_port,
        log_config=None,  # structlog's: access lines carry no customer text either way
        access_log=False,
    )
    return _Embedded(config) if embedded else uvicorn.Server(config)


def _proxy(settings: Settings) -> TrustedProxy | None:
    if not settings.baton_desk_identity_header:
        return None
    addresses = {a.strip() for a in settings.baton_desk_trusted_proxies.split(",") if a.strip()}
    return TrustedProxy(settings.baton_desk_identity_header, frozenset(addresses))
