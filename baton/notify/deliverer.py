"""Delivering a case's notifications: plan, render, send once, record in the outbox.

Every delivery (one recipient on one channel) is a row in the ``delivery`` table keyed
by its idempotency key. A delivery already sent, failed for good or skipped is never
attempted again, so a retried or replayed activity sends nothing twice; one that failed
in a way retrying can fix stays pending and makes the activity retry (with Temporal's
backoff), while the rest of the batch is not held up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import structlog
from jinja2 import TemplateError

from baton.notify.channels import DeliveryError, Outgoing, send_email, send_http
from baton.notify.config import HttpChannel, NotificationConfig
from baton.notify.templates import Rendered, Templates
from baton.store.cases import CaseStore, DeliveryRow
from domain.models import DeliveryFailure, DeliveryReport, DeliveryStatus, Notification
from domain.notifications import PlannedDelivery, plan_deliveries

log = structlog.get_logger(__name__)


class DeliveriesPending(Exception):
    """Some deliveries failed in a way another attempt may fix; the activity retries."""


@dataclass(frozen=True)
class _Result:
    delivery: PlannedDelivery
    status: DeliveryStatus
    error: str = ""
    unrecorded: DeliveryRow | None = None
    """An outcome decided without sending, left for the batch's one write."""


class Deliverer:
    """Sends notifications over the configured channels, each delivery once."""

    def __init__(
        self,
        config: NotificationConfig,
        templates: Templates,
        store: CaseStore,
        contacts: Callable[[], Mapping[str, str]] = dict,
    ) -> None:
        """Deliver per ``config``; ``contacts`` reads the teams' directory contacts."""
        self.config = config
        self.templates = templates
        self.store = store
        self.contacts = contacts
        self._client: httpx.AsyncClient | None = None

    async def deliver(self, notifications: list[Notification]) -> DeliveryReport:
        """Deliver every notification; raises :class:`DeliveriesPending` if some must be
        retried, else reports what was sent, skipped and failed for good."""
        planned, known = await asyncio.to_thread(self._prepare, notifications)
        results = await asyncio.gather(*(self._deliver(n, d, known.get(d.key)) for n, d in planned))
        # A send was written as it happened; what was decided without sending (a channel
        # not connected, no address, a template error) is written here in one go.
        decided = [r.unrecorded for r in results if r.unrecorded is not None]
        if decided:
            await asyncio.to_thread(self.store.record_deliveries, decided)
        for row in decided:
            _log_delivery(row)
        pending = [r for r in results if r.status is DeliveryStatus.PENDING]
        if pending:
            raise DeliveriesPending("; ".join(f"{r.delivery.key}: {r.error}" for r in pending))
        return DeliveryReport(
            sent=[r.delivery.key for r in results if r.status is DeliveryStatus.SENT],
            skipped=[r.delivery.key for r in results if r.status is DeliveryStatus.SKIPPED],
            failed=[
                DeliveryFailure(
                    key=r.delivery.key,
                    recipient=r.delivery.recipient,
                    channel=r.delivery.channel,
                    error=r.error,
                )
                for r in results
                if r.status is DeliveryStatus.FAILED
            ],
        )

    def _prepare(
        self, notifications: list[Notification]
    ) -> tuple[list[tuple[Notification, PlannedDelivery]], dict[str, DeliveryRow]]:
        """Put ``notifications`` in the outbox, plan their deliveries and find those
        already recorded (one trip to a thread for the three reads and writes)."""
        self.store.add_notifications(notifications)
        contacts = dict(self.contacts())
        planned = [(n, d) for n in notifications for d in plan_deliveries(n, self.config, contacts)]
        return planned, self.store.deliveries_by_key([d.key for _, d in planned])

    async def close(self) -> None:
        """Close the HTTP connection pool."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # ------------------------------------------------------------ one delivery
    async def _deliver(
        self, n: Notification, d: PlannedDelivery, known: DeliveryRow | None
    ) -> _Result:
        if known is not None and known.status != DeliveryStatus.PENDING:
            return _Result(d, DeliveryStatus(known.status), known.last_error or "")
        attempts = (known.attempts if known else 0) + 1
        problem = self._unsendable(d)
        if problem is not None:
            status, error = problem
            return _decided(d, _row(n, d, status, attempts, error))
        try:
            rendered = self.templates.render(n)
        except TemplateError as err:
            return _decided(d, _row(n, d, DeliveryStatus.FAILED, attempts, f"template: {err}"))
        try:
            await self._send(n, d, rendered)
        except DeliveryError as err:
            status = DeliveryStatus.PENDING if err.retryable else DeliveryStatus.FAILED
            return await self._record(d, _row(n, d, status, attempts, str(err), rendered))
        return await self._record(d, _row(n, d, DeliveryStatus.SENT, attempts, "", rendered))

    def _unsendable(self, d: PlannedDelivery) -> tuple[DeliveryStatus, str] | None:
        if not d.channel:
            return DeliveryStatus.FAILED, f"no endpoint for {d.recipient_kind} {d.recipient}"
        if not self.config.channels[d.channel].connected:
            return DeliveryStatus.SKIPPED, f"channel {d.channel} is not connected"
        if d.unresolved:
            return DeliveryStatus.FAILED, d.unresolved
        return None

    async def _send(self, n: Notification, d: PlannedDelivery, rendered: Rendered) -> None:
        channel = self.config.channels[d.channel]
        out = Outgoing(delivery=d, notification=n, rendered=rendered, sent_at=datetime.now(UTC))
        if isinstance(channel, HttpChannel):
            await send_http(channel, out, self._http())
        else:
            await send_email(channel, out)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False)
        return self._client

    async def _record(self, d: PlannedDelivery, row: DeliveryRow) -> _Result:
        """Write a send's outcome at once: a crash after it must not send it again."""
        await asyncio.to_thread(self.store.record_delivery, row)
        _log_delivery(row)
        return _Result(d, DeliveryStatus(row.status), row.last_error or "")


def _row(
    n: Notification,
    d: PlannedDelivery,
    status: DeliveryStatus,
    attempts: int,
    error: str,
    rendered: Rendered | None = None,
) -> DeliveryRow:
    now = datetime.now(UTC)
    return DeliveryRow(
        key=d.key,
        notification_key=d.notification_key,
        case_id=n.case_id,
        event=n.event,
        recipient=d.recipient,
        recipient_kind=d.recipient_kind,
        channel=d.channel,
        address=d.to,
        status=status.value,
        attempts=attempts,
        last_error=error or None,
        subject=rendered.subject if rendered else "",
        body=rendered.text if rendered else "",
        created_at=now,
        updated_at=now,
        sent_at=now if status is DeliveryStatus.SENT else None,
    )


def _decided(d: PlannedDelivery, row: DeliveryRow) -> _Result:
    return _Result(d, DeliveryStatus(row.status), row.last_error or "", unrecorded=row)


def _log_delivery(row: DeliveryRow) -> None:
    log.info(
        "notification delivery",
        case_id=row.case_id,
        notification_event=row.event,
        recipient_kind=row.recipient_kind,
        channel=row.channel,
        status=row.status,
        attempt=row.attempts,
        error=row.last_error,
    )
