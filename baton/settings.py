"""Settings from the environment and the escalation policy from its file."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from baton.temporal.codec import EncryptionCodec, EncryptionKeyError
from baton.temporal.slots import WorkerSlots
from domain.calendar import CONFIG_FILE
from domain.policy import EscalationPolicy

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "config" / "escalation.toml"
DEFAULT_DIRECTORY = PROJECT_ROOT / "config" / "directory.toml"
DEFAULT_NOTIFICATIONS = PROJECT_ROOT / "config" / "notifications.toml"
TASK_QUEUE = "baton-cases"


class ConfigError(Exception):
    """The policy file is missing, unreadable or invalid; the message names the key."""


M = TypeVar("M", bound=BaseModel)


def read_toml(path: Path | str, model: type[M], what: str = "configuration") -> M:
    """Read a TOML file into ``model``; :class:`ConfigError` names the file and the key."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"{path}: {err}") from None
    try:
        return model.model_validate(raw, context={CONFIG_FILE: True})
    except ValidationError as err:
        raise ConfigError(f"{path}: invalid {what}\n{describe(err)}") from None


def load_policy(path: Path | str) -> EscalationPolicy:
    """Read and validate the escalation policy at ``path``."""
    return read_toml(path, EscalationPolicy)


def describe(err: ValidationError) -> str:
    """One line per problem: the dotted key and what is wrong with it."""
    lines = []
    for e in err.errors(include_url=False):
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        lines.append(f"  {key}: {e['msg']}")
    return "\n".join(lines)


class Settings(BaseSettings):
    """Everything the worker, client and CLI read from the environment."""

    model_config = SettingsConfigDict(extra="ignore")

    temporal_address: str | None = None
    """Connect to this cluster; unset means: start the embedded dev server."""
    temporal_namespace: str = "default"
    temporal_tls_cert: Path | None = None
    temporal_tls_key: Path | None = None
    temporal_tls_ca: Path | None = None
    temporal_api_key: str | None = None
    baton_task_queue: str = TASK_QUEUE
    baton_config: Path = DEFAULT_CONFIG
    baton_directory: Path = DEFAULT_DIRECTORY
    """Teams and agents, loaded into the store when it has none (``baton agents`` edits)."""
    baton_notifications: Path = DEFAULT_NOTIFICATIONS
    """Notification channels, address book, rules; templates beside it."""
    baton_retention_days: int = Field(default=365, ge=1)
    """Closed cases keep their transcript and texts this many days (``baton retention``)."""
    baton_retention_cron: str = "30 3 * * *"
    """When the retention schedule runs (cron, UTC)."""
    baton_learning_cron: str = "0 2 * * *"
    """When the learning schedule runs (cron, UTC)."""
    baton_learning_days: int = Field(default=30, ge=1, le=366)
    """Each learning run learns from the cases opened in this many days before it."""
    baton_learning_auto_apply: bool = False
    """Activate each nightly proposal at once (default: wait for ``baton learning apply``)."""
    baton_metrics_address: str = "127.0.0.1:9464"
    """The worker's Prometheus endpoint (``/metrics``); empty turns it off."""
    baton_encryption_keys: SecretStr | None = None
    """``id:base64,...``: encrypt every payload before it reaches Temporal (first key encrypts)."""
    baton_codec_tokens: SecretStr | None = None
    """Comma-separated bearer tokens of the operators the codec server decrypts for."""
    baton_codec_cors_origins: str = "http://localhost:8233,http://127.0.0.1:8233"
    baton_codec_port: int = 8081
    baton_codec_endpoint: str | None = None
    """The codec server's URL, handed to the embedded Web UI (``--ui-codec-endpoint``)."""
    baton_data_dir: Path = PROJECT_ROOT / ".data"
    baton_database_url: str | None = None
    baton_dev_server_port: int = 7233
    baton_dev_ui_port: int = 8233
    baton_temporal_binary: Path | None = None
    """The ``temporal`` CLI the embedded server runs (default: the one Baton installs)."""
    baton_desk_host: str = "127.0.0.1"
    """Where the agents' desk listens (loopback: put a TLS proxy in front for others)."""
    baton_desk_port: int = Field(default=8300, ge=0, le=65535)
    """0: the worker serves no desk (run ``baton desk serve`` on its own)."""
    baton_desk_secret: SecretStr | None = None
    """Signs the desk's session cookies; unset: a random one kept in the data dir."""
    baton_desk_url: str | None = None
    """The desk's address as the people it serves reach it, for the links in their
    notifications (default: ``http://BATON_DESK_HOST:BATON_DESK_PORT``; none if 0)."""
    baton_slack_signing_secret: SecretStr | None = None
    """The Slack app's signing secret: its interactivity calls the desk's /slack/actions."""
    baton_desk_identity_header: str | None = None
    """Single sign-on: the header an authenticating proxy names the person in."""
    baton_desk_trusted_proxies: str = "127.0.0.1,::1"
    """Comma-separated addresses the identity header is believed from."""
    baton_desk_https: bool = False
    """The desk is reached over HTTPS (a proxy terminates TLS): cookies only over HTTPS."""
    baton_workflow_task_slots: int = Field(default=WorkerSlots.workflow_tasks, ge=2)
    """Workflow tasks the worker takes on at once (``baton.temporal.slots.WorkerSlots``)."""
    baton_activity_slots: int = Field(default=WorkerSlots.regular, ge=1)
    """Regular activities it runs at once, each on a thread of its own."""
    baton_local_activity_slots: int = Field(default=WorkerSlots.local, ge=1)
    """Local activities it runs at once, each on a thread of its own."""
    baton_cached_cases: int = Field(default=WorkerSlots.cached_cases, ge=1)
    """Cases the worker keeps in memory; others replay their history on their next task."""
    baton_sticky_wait: timedelta = Field(default=WorkerSlots.sticky_wait, gt=timedelta(0))
    """How long a cached case's task waits for this worker before any worker may take it."""

    @property
    def worker_slots(self) -> WorkerSlots:
        """How much the worker takes on at once, from the ``BATON_*`` settings above."""
        return WorkerSlots(
            workflow_tasks=self.baton_workflow_task_slots,
            regular=self.baton_activity_slots,
            local=self.baton_local_activity_slots,
            cached_cases=self.baton_cached_cases,
            sticky_wait=self.baton_sticky_wait,
        )

    @property
    def database_url(self) -> str:
        """The documentation store: ``BATON_DATABASE_URL`` or SQLite under the data dir."""
        return self.baton_database_url or f"sqlite:///{self.baton_data_dir / 'baton.db'}"

    @property
    def desk_url(self) -> str | None:
        """Where notifications link to the desk (None: no desk to link to)."""
        if self.baton_desk_url:
            return self.baton_desk_url.rstrip("/")
        if not self.baton_desk_port:
            return None
        return f"http://{self.baton_desk_host}:{self.baton_desk_port}"

    @property
    def embedded_server(self) -> bool:
        """Whether ``worker.py`` starts its own Temporal dev server."""
        return not self.temporal_address

    @cached_property
    def codec(self) -> EncryptionCodec | None:
        """The payload codec when ``BATON_ENCRYPTION_KEYS`` is set; :class:`ConfigError`
        if the keys are malformed."""
        if self.baton_encryption_keys is None:
            return None
        try:
            return EncryptionCodec.from_spec(self.baton_encryption_keys.get_secret_value())
        except EncryptionKeyError as err:
            raise ConfigError(f"BATON_ENCRYPTION_KEYS: {err}") from None

    @cached_property
    def policy(self) -> EscalationPolicy:
        """The validated escalation policy."""
        return load_policy(self.baton_config)
