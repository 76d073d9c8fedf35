"""Routing as activities: reserve an agent in the directory, and accept or release
reservations. Each is idempotent per (case, offer), so a retry after a crash or a
timeout never counts an agent's load twice, and load is released however a case ends."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio import activity

from baton.store.cases import CaseStore
from baton.store.directory import DirectoryStore
from domain.models import CaseView, CustomerHistoryRequest, EarlierCase, Outcome
from domain.routing import AssignmentChanges, ClaimRequest, Reservation, ReserveRequest


class RoutingActivities:
    """Routing against the directory in the store."""

    def __init__(self, directory: DirectoryStore, store: CaseStore) -> None:
        """Route with the teams, agents and loads in ``directory``; the customer's
        earlier cases come from ``store``."""
        self._directory = directory
        self._store = store

    @activity.defn(name="reserve_agent")
    def reserve_agent(self, reserve: ReserveRequest) -> Reservation:
        """Choose an agent for the offer and hold one of their slots (or say why nobody);
        at the first handoff, with the customer's earlier cases for the package (one
        call: the package and its offer arrive together)."""
        decision = self._directory.reserve(
            reserve.request, reserve.offer, reserve.routing.strategy, reserve.routing.vip_team_first
        )
        earlier = None if reserve.history is None else self._earlier_cases(reserve.history)
        return Reservation(decision=decision, earlier_cases=earlier)

    def _earlier_cases(self, request: CustomerHistoryRequest) -> list[EarlierCase]:
        rows = self._store.customer_cases(request.customer_id, request.case_id, request.limit)
        return [_earlier(r.opened_at, CaseView.model_validate_json(r.view_json)) for r in rows]

    @activity.defn(name="claim_agent")
    def claim_agent(self, claim: ClaimRequest) -> bool:
        """Hold a slot for a broadcast accept; False if the agent is at capacity now."""
        return self._directory.claim(claim.case_id, claim.offer, claim.agent_id)

    @activity.defn(name="update_assignments")
    def update_assignments(self, changes: AssignmentChanges) -> None:
        """Apply accepts and releases, in order."""
        apply_assignments(self._directory, changes)


def apply_assignments(directory: DirectoryStore, changes: AssignmentChanges) -> None:
    """Apply a case's reservation changes in order; each is idempotent."""
    for op in changes.ops:
        if op.kind == "accept" and op.offer is not None:
            directory.accept(changes.case_id, op.offer)
        elif op.kind == "performance" and op.agent and op.path and op.minutes is not None:
            directory.record_resolution(changes.case_id, op.agent, op.path, op.minutes)
        elif op.kind == "reopen" and op.agent and op.path and op.earlier_case:
            directory.record_reopen(op.earlier_case, op.agent, op.path)
        elif op.kind == "release":
            directory.release(changes.case_id, op.offer)


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
