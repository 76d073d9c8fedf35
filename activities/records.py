"""Documentation activities: idempotent writes to (and reads of) the documentation store."""

from __future__ import annotations

import structlog
from temporalio import activity

from activities.routing import apply_assignments
from baton.store.cases import CaseStore
from baton.store.directory import DirectoryStore
from domain.models import CaseRecordBatch
from domain.routing import AssignmentChanges

log = structlog.get_logger(__name__)


class RecordActivities:
    """``document_case`` against one :class:`CaseStore`."""

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
