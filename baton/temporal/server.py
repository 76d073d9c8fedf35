"""Connecting to Temporal: the embedded dev server or a cluster from the environment."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client, TLSConfig
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.service import RPCError, RPCStatusCode

from baton.settings import Settings
from baton.temporal.codec import with_codec
from workflows import search_attributes

SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")
"""Measured here to roughly double the dev server's throughput on file-backed SQLite."""


def installed_binary(name: str) -> str:
    """Path of a binary installed into this environment (``temporal``, ``temporal-test-server``)."""
    beside_python = Path(sys.executable).parent / name
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} is not installed; run `make run` or `pip install -e .`")
    return found


def dev_server_args(codec_endpoint: str | None = None) -> list[str]:
    """Extra dev server arguments: the SQLite pragmas, and the Web UI's codec server."""
    args: list[str] = []
    for pragma in SQLITE_PRAGMAS:
        args += ["--sqlite-pragma", pragma]
    if codec_endpoint:
        args += ["--ui-codec-endpoint", codec_endpoint]
    return args


def metrics_runtime(settings: Settings) -> Runtime | None:
    """A Temporal runtime exporting the SDK's and the engine's metrics for Prometheus on
    ``BATON_METRICS_ADDRESS`` (None when it is empty). Only the worker uses one."""
    if not settings.baton_metrics_address:
        return None
    metrics = PrometheusConfig(bind_address=settings.baton_metrics_address)
    return Runtime(telemetry=TelemetryConfig(metrics=metrics))


def connect_options(settings: Settings) -> dict[str, Any]:
    """Arguments for ``Client.connect``: address, namespace, TLS and API key."""
    address = settings.temporal_address or f"127.0.0.1:{settings.baton_dev_server_port}"
    tls: bool | TLSConfig = False
    if settings.temporal_tls_cert or settings.temporal_tls_ca:
        tls = TLSConfig(
            client_cert=_read(settings.temporal_tls_cert),
            client_private_key=_read(settings.temporal_tls_key),
            server_root_ca_cert=_read(settings.temporal_tls_ca),
        )
    elif settings.temporal_api_key:
        tls = True  # Temporal Cloud: API keys travel over TLS only
    return {
        "target_host": address,
        "namespace": settings.temporal_namespace,
        "data_converter": with_codec(pydantic_data_converter, settings.codec),
        "tls": tls,
        "api_key": settings.temporal_api_key,
    }


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """A client for ``TEMPORAL_ADDRESS`` (TLS / API key as configured) or the local server."""
    return await Client.connect(**connect_options(settings), runtime=runtime)


async def register_search_attributes(client: Client, namespace: str = "default") -> None:
    """Register the case search attributes on a server that lacks them (idempotent).

    The embedded server registers them at start; self-hosted clusters and the
    time-skipping test server get them through the operator service.
    """
    wanted = {
        key.name: IndexedValueType.ValueType(int(key.indexed_value_type))
        for key in search_attributes.ALL
    }
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        existing = set(listed.custom_attributes)
    except RPCError as err:  # the time-skipping test server can only add
        if err.status is not RPCStatusCode.UNIMPLEMENTED:
            raise
        existing = set()
    missing = {k: v for k, v in wanted.items() if k not in existing}
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )


def _read(path: Path | None) -> bytes | None:
    return path.read_bytes() if path else None
