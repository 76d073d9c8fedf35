"""Who hears what: the delivery rules, pure.

A case emits :class:`~domain.models.Notification` s addressed to one recipient (the
offered agent, a team, a supervisor, the customer). The rules here, read from
``config/notifications.toml``, decide where each recipient is reached (their
endpoints on the configured channels) and who else hears of it (the product team
for innovation requests, compliance for compliance reasons). The adapters in
``baton/notify`` render and send what :func:`plan_deliveries` returns.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.models import Notification

Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][\w.-]*$")]


class NotificationEvent(StrEnum):
    """Every event a case notifies about; each needs a template per language."""

    CASE_ESCALATED = "case_escalated"
    CASE_OFFERED = "case_offered"
    CONSULT_REQUESTED = "consult_requested"
    CHAIN_STEP = "chain_step"
    NOBODY_ACCEPTED = "nobody_accepted"
    NOBODY_AVAILABLE = "nobody_available"
    SLA_WARNING = "sla_warning"
    SLA_BREACHED = "sla_breached"
    FOLLOW_UP_REMINDER = "follow_up_reminder"
    HANDOFF_CUSTOMER_OFFERED = "handoff_customer_offered"
    HANDOFF_CUSTOMER_QUEUED = "handoff_customer_queued"
    APPROVAL_REQUESTED = "approval_requested"
    APPROVAL_DECIDED = "approval_decided"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


PLACEHOLDER = re.compile(r"\{(\w+)\}")
ADDRESS_FIELDS = frozenset({"id", "contact", "email"})
"""What an endpoint's ``to`` may name: the recipient's id, a team's directory contact,
the customer's e-mail address."""


class Endpoint(_Strict):
    """Where a recipient is reached: a channel, and for e-mail the address."""

    channel: Name
    to: Annotated[str, Field(max_length=320)] = ""
    """The address on the channel (e-mail); may name ``{id}``, ``{contact}``, ``{email}``."""

    @model_validator(mode="after")
    def _known_placeholders(self) -> Endpoint:
        unknown = set(PLACEHOLDER.findall(self.to)) - ADDRESS_FIELDS
        if unknown:
            raise ValueError(f"'to' names unknown fields: {', '.join(sorted(unknown))}")
        return self


class DeliveryRule(_Strict):
    """Besides the addressee, ``notify`` hears of matching events."""

    name: str = ""
    events: list[NotificationEvent] = []
    """Empty: every event."""
    paths: list[Name] = []
    """Only cases on one of these escalation paths (empty: any)."""
    reasons: list[Name] = []
    """Only cases with one of these detection reasons (empty: any)."""
    notify: list[Name] = Field(min_length=1)
    """Recipient ids from ``[recipients]``."""

    def matches(self, notification: Notification) -> bool:
        """Whether ``notification`` is one this rule adds recipients to."""
        case = notification.case
        if self.events and notification.event not in self.events:
            return False
        if self.paths and (case is None or case.path not in self.paths):
            return False
        return not self.reasons or (
            case is not None and bool(set(self.reasons) & set(case.reasons))
        )


class AddressBook(_Strict):
    """The recipients' endpoints: by id first, then by kind (agent, team, supervisor, ...),
    and for the customer by the case's channel."""

    recipients: dict[Name, list[Endpoint]] = {}
    kinds: dict[Name, list[Endpoint]] = {}
    customer: dict[Name, list[Endpoint]] = {}
    """Case channel (chat, email, phone, social) -> where the customer hears from us."""
    rules: list[DeliveryRule] = []

    @model_validator(mode="after")
    def _rules_name_known_recipients(self) -> AddressBook:
        for i, rule in enumerate(self.rules):
            unknown = [r for r in rule.notify if r not in self.recipients]
            if unknown:
                raise ValueError(f"rules.{i}.notify: {', '.join(unknown)} not in [recipients]")
        return self

    def endpoint_channels(self) -> set[str]:
        """Every channel an endpoint names."""
        tables = (self.recipients, self.kinds, self.customer)
        return {e.channel for table in tables for ends in table.values() for e in ends}


class PlannedDelivery(BaseModel):
    """One recipient on one channel: the outbox's unit, idempotent by ``key``."""

    key: str
    """``<case>/<seq>/<event>/<recipient>#<channel>``: attempt-independent."""
    notification_key: str
    recipient: str
    recipient_kind: str
    channel: str
    """Empty when the recipient has no endpoint at all (delivered nowhere: a failure)."""
    to: str = ""
    """The address with its placeholders filled (e-mail); empty for webhook channels."""
    unresolved: str = ""
    """Why ``to`` could not be filled (a missing contact or e-mail address)."""


def plan_deliveries(
    notification: Notification, book: AddressBook, contacts: dict[str, str]
) -> list[PlannedDelivery]:
    """Every delivery ``notification`` calls for: its addressee on each of their
    endpoints, then whoever a matching rule adds. ``contacts`` maps team ids to their
    directory contact."""
    out = _deliveries(
        notification,
        notification.key,
        notification.recipient,
        notification.recipient_kind,
        _endpoints(notification, book),
        contacts,
    )
    stem = notification.key.rsplit("/", 1)[0]
    for extra in _extra_recipients(notification, book):
        ends = book.recipients[extra]
        out += _deliveries(notification, f"{stem}/{extra}", extra, "rule", ends, contacts)
    return out


def _endpoints(notification: Notification, book: AddressBook) -> list[Endpoint]:
    if notification.recipient in book.recipients:
        return book.recipients[notification.recipient]
    if notification.recipient_kind == "customer":
        return book.customer.get(notification.channel, [])
    return book.kinds.get(notification.recipient_kind, [])


def _extra_recipients(notification: Notification, book: AddressBook) -> list[str]:
    extra: list[str] = []
    for rule in book.rules:
        if rule.matches(notification):
            extra += [r for r in rule.notify if r != notification.recipient and r not in extra]
    return extra


def _deliveries(
    notification: Notification,
    key: str,
    recipient: str,
    kind: str,
    endpoints: list[Endpoint],
    contacts: dict[str, str],
) -> list[PlannedDelivery]:
    base = {"notification_key": notification.key, "recipient": recipient, "recipient_kind": kind}
    if not endpoints:
        return [PlannedDelivery(key=f"{key}#", channel="", **base)]
    fields = {
        "id": recipient,
        "contact": contacts.get(recipient, ""),
        "email": (notification.case.customer_email if notification.case else None) or "",
    }
    out = []
    for end in endpoints:
        missing = [f for f in PLACEHOLDER.findall(end.to) if not fields[f]]
        to = PLACEHOLDER.sub(lambda m: fields[m.group(1)], end.to)
        unresolved = f"{recipient} has no {' or '.join(missing)}" if missing else ""
        out.append(
            PlannedDelivery(
                key=f"{key}#{end.channel}",
                channel=end.channel,
                to=to,
                unresolved=unresolved,
                **base,
            )
        )
    return out
