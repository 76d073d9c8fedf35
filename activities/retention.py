"""Retention: remove the personal data of old closed cases from the documentation store."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from temporalio import activity

from baton.store.cases import CaseStore
from domain.models import PurgeReport, PurgeRequest

log = structlog.get_logger(__name__)


class RetentionActivities:
    """``purge_personal_data`` against one :class:`CaseStore`."""

    def __init__(self, store: CaseStore) -> None:
        """Purge in ``store``."""
        self._store = store

    @activity.defn(name="purge_personal_data")
    def purge_personal_data(self, request: PurgeRequest) -> PurgeReport:
        """Purge every case closed before the cutoff; a retry skips those already done."""
        now = datetime.now(UTC)
        due = self._store.purge_closed_before(request.closed_before, now, activity.heartbeat)
        log.info("personal data purged", cases=len(due), closed_before=request.closed_before)
        return PurgeReport(closed_before=request.closed_before, cases=due)
