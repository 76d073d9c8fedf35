"""Notification activities: deliver a case's notifications over the real channels."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from baton.notify.deliverer import Deliverer, DeliveriesPending
from domain.models import DeliveryReport, NotificationBatch


class NotificationActivities:
    """``deliver_notifications``: a change's notifications, delivered together."""

    def __init__(self, deliverer: Deliverer) -> None:
        """Deliver through ``deliverer``."""
        self._deliverer = deliverer

    @activity.defn(name="deliver_notifications")
    async def deliver_notifications(self, batch: NotificationBatch) -> DeliveryReport:
        """Deliver what one change of a case calls for, each delivery once.

        Deliveries that retrying can fix make the activity fail and retry (those already
        sent are not sent again); the report lists the ones that failed for good.
        """
        try:
            report = await self._deliverer.deliver(batch.notifications)
        except DeliveriesPending as err:
            raise ApplicationError(str(err), type="DeliveriesPending") from None
        _count(report)
        return report


def _count(report: DeliveryReport) -> None:
    """``baton_notification_deliveries`` {channel, status} on the worker's metrics."""
    counter = activity.metric_meter().create_counter(
        "baton_notification_deliveries", "Notification deliveries by final status"
    )
    outcomes = [(k, "sent") for k in report.sent] + [(k, "skipped") for k in report.skipped]
    outcomes += [(f.key, "failed") for f in report.failed]
    for key, status in outcomes:
        counter.add(1, {"channel": key.rpartition("#")[2] or "none", "status": status})
