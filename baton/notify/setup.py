"""Building the worker's :class:`Deliverer` from the config, checked before the worker runs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from baton.notify.config import load_notification_config
from baton.notify.deliverer import Deliverer
from baton.notify.templates import Templates
from baton.settings import DEFAULT_NOTIFICATIONS
from baton.store import CaseStore
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
    config = load_notification_config(path)
    templates = Templates(config.templates)
    templates.check(example_notifications(policy))
    return Deliverer(config, templates, store, contacts)
