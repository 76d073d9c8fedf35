"""Documentation activities: idempotent writes to (and reads of) the documentation store."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog
from temporalio import activity

from activities.routing import apply_assignments
from baton.store.cases import CaseStore
from baton.store.directory import DirectoryStore
from domain.models import (
    CaseRecordBatch,
    CaseView,
    CustomerHistoryRequest,
    EarlierCase,
    Outcome,
)
from domain.routing import AssignmentChanges

log = structlog.get_logger(__name__)


class RecordActivities:
    """``document_case`` and ``customer_history`` against one :class:`CaseStore`."""

    def __init__(self, store: CaseStore, directory: DirectoryStore) -> None:
        """Write to ``store``, and reservation changes to ``directory``."""
        self._store = store
        self._directory = directory

    @activity.defn(name="document_case")
    def document_case(self, batch: CaseRecordBatch) -> None:
        """Apply the batch's reservation changes, then write the case record, its new
        history entries and messages; each idempotently."""
        if batch.directory_ops:
            changes = AssignmentChanges(case_id=batch.view.case_id, ops=batch.directory_ops)
            apply_assignments(self._directory, changes)
        self._store.write_case(batch)
        log.info(
            "case documented",
            case_id=batch.view.case_id,
            state=batch.view.state.value,
            escalation_level=int(batch.view.level),
            revision=batch.revision,
        )

    @activity.defn(name="customer_history")
    def customer_history(self, request: CustomerHistoryRequest) -> list[EarlierCase]:
        """The customer's most recent earlier cases, for the handoff package."""
        rows = self._store.customer_cases(request.customer_id, request.case_id, request.limit)
        return [_earlier(r.opened_at, CaseView.model_validate_json(r.view_json)) for r in rows]


def _earlier(opened_at: datetime, view: CaseView) -> EarlierCase:
    human = view.resolution is not None and view.outcome is Outcome.RESOLVED_BY_HUMAN
    return EarlierCase(
        case_id=view.case_id,
        subject=view.subject,
        opened_at=opened_at if opened_at.tzinfo else opened_at.replace(tzinfo=UTC),
        state=view.state,
        level=view.level,
        outcome=view.outcome.value if view.outcome else None,
        path=view.path,
        resolved_by=view.resolution.by if human and view.resolution else None,
        resolved_at=view.resolution.at if view.resolution else None,
        repeat_number=view.repeat_number,
    )
