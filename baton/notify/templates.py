"""Notification templates: one Jinja file per language and event, a block per channel.

``config/templates/<language>/<event>.j2`` defines the blocks ``subject`` and ``text``
(e-mail and generic webhooks) and may define ``slack`` and ``teams`` (chat formatting;
they fall back to ``text``). Templates see ``case`` (:class:`~domain.models.CaseSnapshot`),
``data`` (the event's fields), ``summary`` (a one-line English summary), ``message``
(the policy's text for the customer), ``event``, ``recipient``, ``recipient_kind`` and
``links`` (an offer's one-click desk links for its agent: ``accept``, ``decline``,
``open``; None where there are none).

Undefined names are errors, and :meth:`Templates.check` renders every template against
real example notifications when the worker starts: a broken template stops the start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError

from baton.settings import ConfigError
from domain.language import Language
from domain.models import CaseSnapshot, Notification
from domain.notifications import NotificationEvent

LinkMaker = Callable[[Notification], dict[str, str] | None]
"""A notification's desk links by name, or None."""
REQUIRED_BLOCKS = ("subject", "text")
CHAT_BLOCKS = ("slack", "teams")


@dataclass(frozen=True)
class Rendered:
    """One notification rendered for every channel format."""

    subject: str
    text: str
    slack: str
    teams: str
    links: dict[str, str] | None = None
    """The notification's desk links (an offer's: ``accept``, ``decline``, ``open``)."""


class Templates:
    """The template folder, rendered with the notification's context."""

    def __init__(self, folder: Path, links: LinkMaker | None = None) -> None:
        """Load templates from ``folder`` (``<language>/<event>.j2``); ``links`` makes a
        notification's desk links (None: no desk to link to)."""
        self.folder = folder
        self.links = links
        self._env = Environment(
            loader=FileSystemLoader(folder),
            undefined=StrictUndefined,
            autoescape=False,  # plain text and chat markup, never HTML
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render(self, notification: Notification) -> Rendered:
        """Render ``notification`` in its language; raises :class:`TemplateError`."""
        template = self._env.get_template(f"{notification.language.value}/{notification.event}.j2")
        links = self.links(notification) if self.links else None
        context = template.new_context(_variables(notification) | {"links": links})
        blocks = {}
        for name, block in template.blocks.items():
            blocks[name] = "".join(block(context)).strip()
        missing = [b for b in REQUIRED_BLOCKS if b not in blocks]
        if missing:
            raise TemplateError(f"{template.name}: no block {', '.join(missing)}")
        text = blocks["text"]
        return Rendered(
            subject=" ".join(blocks["subject"].split()),  # one header line
            text=text,
            slack=blocks.get("slack", text),
            teams=blocks.get("teams", text),
            links=links,
        )

    def check(self, examples: Iterable[Notification]) -> None:
        """Every event has a template in every language, and each renders every example;
        :class:`ConfigError` lists all problems at once."""
        problems = []
        for language in (lang.value for lang in Language):
            for event in NotificationEvent:
                if not (self.folder / language / f"{event.value}.j2").is_file():
                    problems.append(f"{language}/{event.value}.j2: missing")
        seen = set()
        for example in examples:
            name = f"{example.language.value}/{example.event}.j2"
            if not (self.folder / name).is_file():
                continue
            try:
                self.render(example)
            except TemplateError as err:
                lineno = getattr(err, "lineno", None)
                where = f" line {lineno}" if lineno else ""
                problem = f"{name}{where}: {err.message or err}"
                if problem not in seen:
                    seen.add(problem)
                    problems.append(problem)
        if problems:
            listing = "\n".join(f"  {p}" for p in problems)
            raise ConfigError(f"{self.folder}: notification templates do not render\n{listing}")


def _variables(notification: Notification) -> dict[str, Any]:
    case = notification.case or CaseSnapshot(
        case_id=notification.case_id, subject="", customer_id="", language=notification.language
    )
    return {
        "case": case,
        "data": notification.context,
        "summary": notification.subject,
        "message": notification.body,
        "event": notification.event,
        "recipient": notification.recipient,
        "recipient_kind": notification.recipient_kind,
    }
