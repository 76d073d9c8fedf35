"""Settings from the environment: how the worker and CLI reach Temporal and the store."""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from temporalio.client import TLSConfig

from baton.settings import Settings
from baton.temporal.server import connect_options
from baton.temporal.slots import WorkerSlots


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith(("TEMPORAL_", "BATON_")):
            monkeypatch.delenv(name)
    return monkeypatch


def test_defaults_mean_embedded_server_and_sqlite(clean_env) -> None:
    settings = Settings()
    assert settings.embedded_server
    assert settings.database_url.startswith("sqlite:///") and settings.database_url.endswith(
        ".data/baton.db"
    )
    options = connect_options(settings)
    assert options["target_host"] == "127.0.0.1:7233" and options["tls"] is False


def test_cluster_with_mutual_tls(clean_env, tmp_path: Path) -> None:
    for name in ("cert", "key", "ca"):
        (tmp_path / f"{name}.pem").write_bytes(f"{name}-bytes".encode())
        clean_env.setenv(f"TEMPORAL_TLS_{name.upper()}", str(tmp_path / f"{name}.pem"))
    clean_env.setenv("TEMPORAL_ADDRESS", "temporal.example:7233")
    clean_env.setenv("TEMPORAL_NAMESPACE", "support")
    clean_env.setenv("BATON_DATABASE_URL", "postgresql+psycopg://baton@db/baton")
    settings = Settings()
    options = connect_options(settings)
    assert not settings.embedded_server
    assert settings.database_url == "postgresql+psycopg://baton@db/baton"
    assert (options["target_host"], options["namespace"]) == ("temporal.example:7233", "support")
    tls = options["tls"]
    assert isinstance(tls, TLSConfig)
    assert (tls.client_cert, tls.client_private_key, tls.server_root_ca_cert) == (
        b"cert-bytes",
        b"key-bytes",
        b"ca-bytes",
    )


def test_api_key_turns_on_tls(clean_env) -> None:
    clean_env.setenv("TEMPORAL_ADDRESS", "ns.acct.tmprl.cloud:7233")
    clean_env.setenv("TEMPORAL_API_KEY", "secret-key")
    options = connect_options(Settings())
    assert options["tls"] is True and options["api_key"] == "secret-key"


def test_worker_slots_from_the_environment(clean_env) -> None:
    assert Settings().worker_slots == WorkerSlots()
    clean_env.setenv("BATON_WORKFLOW_TASK_SLOTS", "4")
    clean_env.setenv("BATON_CACHED_CASES", "2500")
    clean_env.setenv("BATON_STICKY_WAIT", "PT45S")
    slots = Settings().worker_slots
    assert (slots.workflow_tasks, slots.cached_cases) == (4, 2500)
    assert slots.sticky_wait == timedelta(seconds=45)


@pytest.mark.parametrize(
    ("name", "value"), [("BATON_CACHED_CASES", "0"), ("BATON_STICKY_WAIT", "-5")]
)
def test_worker_slots_refuse_nonsense(clean_env, name: str, value: str) -> None:
    clean_env.setenv(name, value)
    with pytest.raises(ValidationError, match=name.lower()):
        Settings()
