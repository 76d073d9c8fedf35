"""``config/notifications.toml``: the channels, the address book and the delivery rules.

Secrets never sit in the file: a channel names the environment variables that hold its
password, signing secret or (for Slack and Teams, where the URL is the secret) its URL.
A channel whose host or URL is not set is *not connected*: its deliveries are recorded
as skipped, so an installation can start with e-mail only and add the rest later.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from baton.settings import DEFAULT_NOTIFICATIONS, read_toml
from domain.notifications import AddressBook

EnvName = Annotated[str, Field(max_length=100, pattern=r"^([A-Z_][A-Z0-9_]*)?$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _env(name: str) -> str:
    return os.environ.get(name, "") if name else ""


class SmtpChannel(_Strict):
    """E-mail over SMTP: implicit TLS (port 465) or STARTTLS, login when configured."""

    kind: Literal["smtp"]
    host: str = ""
    host_env: EnvName = ""
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    """Upgrade the connection with STARTTLS (and refuse to send if the server cannot)."""
    tls: bool = False
    """Implicit TLS from the first byte (usually port 465)."""
    username: str = ""
    username_env: EnvName = ""
    password_env: EnvName = ""
    sender: str = Field(min_length=3)
    ca_file: Path | None = None
    """Trust this CA besides the system's (a company relay with a private CA)."""
    timeout: float = Field(default=10.0, gt=0, le=300)

    @model_validator(mode="after")
    def _one_tls_mode(self) -> SmtpChannel:
        if self.tls and self.starttls:
            raise ValueError("choose tls (implicit, port 465) or starttls, not both")
        return self

    @property
    def resolved_host(self) -> str:
        """The host, from the file or its environment variable."""
        return self.host or _env(self.host_env)

    @property
    def connected(self) -> bool:
        """Whether a host is set (else deliveries on this channel are skipped)."""
        return bool(self.resolved_host)

    @property
    def login(self) -> tuple[str, str] | None:
        """(username, password) when the relay wants a login."""
        user = self.username or _env(self.username_env)
        return (user, _env(self.password_env)) if user else None


class HttpChannel(_Strict):
    """An incoming-webhook channel: a generic signed JSON webhook, Slack or Teams."""

    kind: Literal["webhook", "slack", "teams"]
    url: str = ""
    url_env: EnvName = ""
    secret_env: EnvName = ""
    """Generic webhooks: the variable holding the signing secret (``whsec_`` + base64)."""
    timeout: float = Field(default=10.0, gt=0, le=300)

    @model_validator(mode="after")
    def _webhooks_are_signed(self) -> HttpChannel:
        if self.kind == "webhook" and not self.secret_env:
            raise ValueError("a webhook channel needs secret_env: every call is signed")
        return self

    @property
    def resolved_url(self) -> str:
        """The URL, from the file or its environment variable."""
        return self.url or _env(self.url_env)

    @property
    def connected(self) -> bool:
        """Whether a URL is set (else deliveries on this channel are skipped)."""
        return bool(self.resolved_url)

    @property
    def secret(self) -> str:
        """The signing secret (empty if its variable is not set)."""
        return _env(self.secret_env)


Channel = Annotated[SmtpChannel | HttpChannel, Field(discriminator="kind")]


class NotificationConfig(AddressBook):
    """The whole file: channels plus the address book and rules (:class:`AddressBook`)."""

    templates: Path = Path("templates")
    """Template folder, relative to this file: ``<language>/<event>.j2``."""
    channels: dict[str, Channel] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _endpoints_name_channels(self) -> NotificationConfig:
        unknown = sorted(self.endpoint_channels() - set(self.channels))
        if unknown:
            raise ValueError(f"endpoints name unknown channels: {', '.join(unknown)}")
        return self


def load_notification_config(path: Path | str = DEFAULT_NOTIFICATIONS) -> NotificationConfig:
    """Read ``path``; the template folder becomes absolute (relative to the file)."""
    config = read_toml(path, NotificationConfig, "notification configuration")
    folder = config.templates
    if not folder.is_absolute():
        folder = Path(path).resolve().parent / folder
    return config.model_copy(update={"templates": folder})
