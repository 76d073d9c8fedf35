"""What people do to a case: accept, decline, consult answers, reassignment, manual
escalation and its approval, resolution and follow-up, each validated before it is
accepted into history."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.routing import RoutingActivities
    from domain.case import CaseFile, CaseRuleViolation
    from domain.models import (
        AcceptRequest,
        ApprovalDecision,
        CaseView,
        ConsultAnswer,
        DeclineRequest,
        EscalateRequest,
        FollowUpRequest,
        ReassignRequest,
        ResolveRequest,
    )
    from domain.routing import ClaimRequest

from workflows.case.base import CaseWorkflowBase, Command, _rejected


class HumanCommands(CaseWorkflowBase):
    """What people do to a case of a case (mixed into ``CaseWorkflow``)."""

    @workflow.update(name="accept")
    async def accept(self, request: AcceptRequest) -> CaseView:
        """The offered agent takes the case (a broadcast: the first to accept)."""
        claimed: list[int] = []

        async def claim() -> None:
            file = self._case
            if not file.needs_claim(request):
                return
            offer = file.claim_offer()
            held = await workflow.execute_activity_method(
                RoutingActivities.claim_agent,
                ClaimRequest(case_id=file.view.case_id, offer=offer, agent_id=request.agent_id),
                start_to_close_timeout=file.policy.activities.start_to_close,
                retry_policy=self._side_effect_retry(),
                summary=f"claim a slot of {request.agent_id}",
            )
            if not held:
                raise CaseRuleViolation(f"{request.agent_id} is at capacity")
            claimed.append(offer)

        return await self._command(
            lambda now: self._case.accept(request, now, claimed[0] if claimed else None),
            before=claim,
        )

    @accept.validator
    def _check_accept(self, request: AcceptRequest) -> None:
        self._check(lambda file: file.check_accept(request))

    @workflow.update(name="consult_answer")
    async def consult_answer(self, request: ConsultAnswer) -> CaseView:
        """An expert answers the AI's request for input; the answer stays on the case."""
        return await self._command(lambda now: self._case.consult_answer(request, now))

    @consult_answer.validator
    def _check_consult_answer(self, request: ConsultAnswer) -> None:
        self._check(lambda file: file.check_consult_answer(request))

    @workflow.update(name="decline")
    async def decline(self, request: DeclineRequest) -> CaseView:
        """The offered agent cannot take the case: offer it to the next candidate."""
        return await self._command(lambda now: self._case.decline(request, now))

    @decline.validator
    def _check_decline(self, request: DeclineRequest) -> None:
        self._check(lambda file: file.check_decline(request))

    @workflow.update(name="escalate")
    async def escalate(self, request: EscalateRequest) -> CaseView:
        """Manual escalation: to a human, or to the next tier."""
        return await self._command(lambda now: self._case.escalate(request, now))

    @escalate.validator
    def _check_escalate(self, request: EscalateRequest) -> None:
        self._check(lambda file: file.check_escalate(request))

    @workflow.update(name="reassign")
    async def reassign(self, request: ReassignRequest) -> CaseView:
        """A supervisor gives the case to another agent; answers once it is offered."""
        return await self._command(lambda now: self._case.reassign(request, now))

    @reassign.validator
    def _check_reassign(self, request: ReassignRequest) -> None:
        self._check(lambda file: file.check_reassign(request))

    @workflow.update(name="decide_approval")
    async def decide_approval(self, request: ApprovalDecision) -> CaseView:
        """The management tier's supervisor approves (the case goes up) or denies (it
        stays) an escalation that waits for them."""
        return await self._command(lambda now: self._case.decide_approval(request, now))

    @decide_approval.validator
    def _check_decide_approval(self, request: ApprovalDecision) -> None:
        self._check(lambda file: file.check_approval(request))

    @workflow.update(name="resolve")
    async def resolve(self, request: ResolveRequest) -> CaseView:
        """The case is solved; it moves to ``FOLLOW_UP``."""
        return await self._command(lambda now: self._case.resolve(request, now))

    @resolve.validator
    def _check_resolve(self, request: ResolveRequest) -> None:
        self._check(lambda file: file.check_resolve(request))

    @workflow.update(name="follow_up")
    async def follow_up(self, request: FollowUpRequest) -> CaseView:
        """The resolver documents root cause and verdict; the case closes."""
        return await self._command(lambda now: self._case.complete_follow_up(request, now))

    @follow_up.validator
    def _check_follow_up(self, request: FollowUpRequest) -> None:
        self._check(lambda file: file.check_follow_up(request))

    async def _command(
        self, command: Command, before: Callable[[], Awaitable[None]] | None = None
    ) -> CaseView:
        await self._after_earlier_signals()
        await workflow.wait_condition(lambda: self._file is not None)
        async with self._messages:  # commands and messages apply in arrival order
            try:
                if before is not None:
                    await before()
                self._apply(command)
            except CaseRuleViolation as err:
                raise _rejected(err) from None
            await self._routed()
        return self._case.view

    async def _routed(self) -> None:
        # A command that hands the case over answers once the offer (or queue) is decided,
        # so callers see whom it went to.
        await workflow.wait_condition(self._routing_settled)

    def _check(self, check: Callable[[CaseFile], None]) -> None:
        """Run a validator against the open case (before it opens, the handler checks)."""
        if self._file is None:
            return
        try:
            check(self._file)
        except CaseRuleViolation as err:
            raise _rejected(err) from None
