"""Routing as activities: reserve an agent in the directory, and accept or release
reservations. Each is idempotent per (case, offer), so a retry after a crash or a
timeout never counts an agent's load twice, and load is released however a case ends."""

from __future__ import annotations

from temporalio import activity

from baton.store.directory import DirectoryStore
from domain.routing import AssignmentChanges, ClaimRequest, ReserveRequest, RoutingDecision


class RoutingActivities:
    """Routing against the directory in the store."""

    def __init__(self, directory: DirectoryStore) -> None:
        """Route with the teams, agents and loads in ``directory``."""
        self._directory = directory

    @activity.defn(name="reserve_agent")
    def reserve_agent(self, reserve: ReserveRequest) -> RoutingDecision:
        """Choose an agent for the offer and hold one of their slots (or say why nobody)."""
        return self._directory.reserve(
            reserve.request, reserve.offer, reserve.routing.strategy, reserve.routing.vip_team_first
        )

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
