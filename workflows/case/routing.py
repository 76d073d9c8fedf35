"""Routing a handed-over case: reserving agents in the directory, applying
assignment changes, the customer's earlier cases at the first handoff."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.routing import RoutingActivities
    from domain.routing import AssignmentChanges, Reservation, ReserveRequest
    from domain.states import CaseState

from workflows.case.base import CaseWorkflowBase


class CaseRouting(CaseWorkflowBase):
    """Routing a handed-over case of a case (mixed into ``CaseWorkflow``)."""

    @workflow.signal(name="agent_available")
    def agent_available(self) -> None:
        """An agent of the directory became available: a queued case routes again."""
        if self._file is not None:
            self._apply(lambda _now: self._case.agent_available())

    async def _route_continuously(self) -> None:
        """Reserve agents for offers and apply accepts and releases, one at a time."""
        while True:
            await workflow.wait_condition(lambda: not self._routing_settled())
            self._routing_busy = True
            try:
                await self._route_once()
            finally:
                self._routing_busy = False

    async def _route_once(self) -> None:
        file = self._case
        ops = file.take_directory_ops() if file.view.route_needed else []
        if ops:  # releases before the next reservation
            await self._locally_first(
                RoutingActivities.update_assignments,
                AssignmentChanges(case_id=file.view.case_id, ops=ops),
                self._side_effect_retry(),
                ", ".join(f"{op.kind} offer {op.offer or 'all'}" for op in ops),
            )
        if not file.view.route_needed:
            return
        if file.view.state is not CaseState.HANDOFF:
            file.view.route_needed = False
            return
        request = file.routing_request(workflow.now())
        offer = file.view.offer_no
        reserve = ReserveRequest(
            request=request,
            offer=offer,
            routing=file.policy.routing,
            history=file.history_request(),  # first handoff: the customer's earlier cases
        )
        reservation: Reservation = await self._locally_first(
            RoutingActivities.reserve_agent,
            reserve,
            self._side_effect_retry(),
            f"route offer {offer}: {request.path}, {request.tier.value}",
        )
        earlier = reservation.earlier_cases
        if earlier is not None:
            self._apply(lambda now: file.set_earlier_cases(earlier, now))
        self._apply(lambda now: file.routed(reservation.decision, offer, now))
