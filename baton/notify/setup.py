"""Building the worker's :class:`Deliverer` from the config, checked before the worker runs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from standardwebhooks import Webhook

from baton.notify.config import HttpChannel, NotificationConfig, load_notification_config
from baton.notify.deliverer import Deliverer
from baton.notify.templates import Templates
from baton.settings import DEFAULT_NOTIFICATIONS, ConfigError
from baton.store.cases import CaseStore
from domain.examples import example_notifications
from domain.policy import EscalationPolicy


def load_deliverer(
    store: CaseStore,
    policy: EscalationPolicy,
    contacts: Callable[[], Mapping[str, str]] = dict,
    path: Path | str = DEFAULT_NOTIFICATIONS,
) -> Deliverer:
    """The deliverer for ``path``; raises ``ConfigError`` if the file is invalid or a
    template does not render every notification ``policy``'s cases can send.
    ``contacts`` reads the teams' contacts from the directory."""
    config, templates = load_checked(policy, path)
    return Deliverer(config, templates, store, contacts)


def load_checked(
    policy: EscalationPolicy, path: Path | str = DEFAULT_NOTIFICATIONS
) -> tuple[NotificationConfig, Templates]:
    """The notification config and its templates, or ``ConfigError`` listing what is
    wrong: the file, a connected webhook without a usable signing secret, a template
    that does not render every notification ``policy``'s cases can send."""
    config = load_notification_config(path)
    problems = []
    for name, channel in config.channels.items():
        if isinstance(channel, HttpChannel) and channel.kind == "webhook" and channel.connected:
            try:
                Webhook(channel.secret)
            except Exception:  # empty or not base64
                problems.append(
                    f"  channels.{name}: {channel.secret_env} must hold the signing secret "
                    "(whsec_ followed by base64)"
                )
    if problems:
        raise ConfigError(f"{path}: channels cannot sign\n" + "\n".join(problems))
    templates = Templates(config.templates)
    templates.check(example_notifications(policy))
    return config, templates
