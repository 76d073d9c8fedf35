"""A Python client for backend services: start and drive cases, get pydantic models back.

Any other Temporal SDK can do the same with plain JSON (see README's wire contract);
this module only adds types and clear exceptions.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from baton.settings import Settings
from baton.temporal.server import connect
from domain.models import (
    AcceptRequest,
    ApprovalDecision,
    Assessment,
    CaseInput,
    CaseView,
    ConsultAnswer,
    DeclineRequest,
    EscalateRequest,
    FollowUpRequest,
    IncomingMessage,
    ReassignRequest,
    ResolveRequest,
)
from workflows import search_attributes as sa
from workflows.case import CaseWorkflow, workflow_id_for


class BatonError(Exception):
    """Base of the client's errors."""


class CaseAlreadyExists(BatonError):
    """A case with this id is already running."""


class CaseNotFound(BatonError):
    """No case with this id."""


class CaseRequestRejected(BatonError):
    """The case refused the request (the message says why); nothing was changed."""


class StartedCase(BaseModel):
    """Identifiers of a newly started case."""

    case_id: str
    workflow_id: str
    run_id: str | None


class CaseSummary(BaseModel):
    """One line of ``list_cases``: what the case's search attributes say."""

    case_id: str
    workflow_id: str
    status: str
    """Temporal's execution status (RUNNING, COMPLETED, TERMINATED ...)."""
    state: str | None = None
    level: int | None = None
    severity: str | None = None
    team: str | None = None
    customer_tier: str | None = None
    reasons: list[str] = []
    sla_breaches: int | None = None
    started_at: datetime | None = None


class BatonClient:
    """Typed access to the case workflows on one task queue."""

    def __init__(self, client: Client, task_queue: str) -> None:
        """Use an already connected Temporal ``client``."""
        self.client = client
        self.task_queue = task_queue

    @classmethod
    async def connect(cls, settings: Settings | None = None) -> BatonClient:
        """Connect as configured by the environment (see :class:`Settings`)."""
        settings = settings or Settings()
        return cls(await connect(settings), settings.baton_task_queue)

    def _handle(self, case_id: str) -> WorkflowHandle[Any, Any]:
        return self.client.get_workflow_handle_for(CaseWorkflow.run, workflow_id_for(case_id))

    async def start_case(self, case: CaseInput | dict[str, Any]) -> StartedCase:
        """Start a case; raises :class:`CaseAlreadyExists` if a case with its id is
        running or has run. An id is never reused: the case record, its events and its
        messages are keyed by it, so a second case under it would mix with the first."""
        case = CaseInput.model_validate(case) if isinstance(case, dict) else case
        if case.carry_over is not None:
            raise ValueError("carry_over is internal and must not be set by callers")
        workflow_id = workflow_id_for(case.case_id)
        try:
            handle = await self.client.start_workflow(
                CaseWorkflow.run,
                case,
                id=workflow_id,
                task_queue=self.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=sa.at_start(case.customer.tier.value),
                static_summary=f"{case.case_id} · {case.customer.tier.value} · "
                f"{case.channel.value} · {case.subject[:80]}",
            )
        except WorkflowAlreadyStartedError:
            if await self.is_running(case.case_id):
                raise CaseAlreadyExists(f"case {case.case_id} is already running") from None
            raise CaseAlreadyExists(
                f"case {case.case_id} has already run and ended; case ids are not reused,"
                " start the new case under a new id"
            ) from None
        return StartedCase(
            case_id=case.case_id, workflow_id=workflow_id, run_id=handle.first_execution_run_id
        )

    async def post_message(
        self, case_id: str, message: IncomingMessage | dict[str, Any]
    ) -> Assessment:
        """Add a message and get the case's assessment at once."""
        message = _as(IncomingMessage, message)
        result: Assessment = await self._update(case_id, CaseWorkflow.post_message, message)
        return result

    async def send_message(self, case_id: str, message: IncomingMessage | dict[str, Any]) -> None:
        """Add a message durably without waiting for the assessment (signal)."""
        await self._call(
            self._handle(case_id).signal(CaseWorkflow.message, _as(IncomingMessage, message))
        )

    async def accept(self, case_id: str, agent_id: str) -> CaseView:
        """The offered agent takes the case."""
        request = AcceptRequest(agent_id=agent_id)
        view: CaseView = await self._update(case_id, CaseWorkflow.accept, request)
        return view

    async def consult_answer(self, case_id: str, by: str, reason: str, answer: str) -> CaseView:
        """An expert answers the AI's consult request on ``reason``."""
        request = ConsultAnswer(by=by, reason=reason, answer=answer)
        view: CaseView = await self._update(case_id, CaseWorkflow.consult_answer, request)
        return view

    async def decline(self, case_id: str, agent_id: str, reason: str = "") -> CaseView:
        """The offered agent declines; the case is offered to the next candidate."""
        request = DeclineRequest(agent_id=agent_id, reason=reason)
        view: CaseView = await self._update(case_id, CaseWorkflow.decline, request)
        return view

    async def escalate(self, case_id: str, by: str, reason: str) -> CaseView:
        """Escalate by hand."""
        request = EscalateRequest(by=by, reason=reason)
        view: CaseView = await self._update(case_id, CaseWorkflow.escalate, request)
        return view

    async def reassign(self, case_id: str, by: str, agent_id: str, reason: str) -> CaseView:
        """A supervisor gives the case to ``agent_id``; the answer shows whom it was
        offered to (someone else if they cannot take it)."""
        request = ReassignRequest(by=by, agent_id=agent_id, reason=reason)
        view: CaseView = await self._update(case_id, CaseWorkflow.reassign, request)
        return view

    async def decide_approval(
        self, case_id: str, by: str, approve: bool, reason: str = ""
    ) -> CaseView:
        """The management tier's supervisor approves or denies (with a reason) an
        escalation that waits for them."""
        request = ApprovalDecision(by=by, approve=approve, reason=reason)
        view: CaseView = await self._update(case_id, CaseWorkflow.decide_approval, request)
        return view

    async def resolve(self, case_id: str, request: ResolveRequest | dict[str, Any]) -> CaseView:
        """Resolve the case."""
        view: CaseView = await self._update(
            case_id, CaseWorkflow.resolve, _as(ResolveRequest, request)
        )
        return view

    async def follow_up(self, case_id: str, request: FollowUpRequest | dict[str, Any]) -> CaseView:
        """Document the follow-up; the case closes."""
        view: CaseView = await self._update(
            case_id, CaseWorkflow.follow_up, _as(FollowUpRequest, request)
        )
        return view

    async def wake_queued_cases(self) -> int:
        """Tell every running case waiting for an agent that one became available; how
        many. A case that ended in HANDOFF (terminated, say) keeps that state in
        visibility, and one may end between the listing and the signal: both are passed
        over rather than failing the others."""
        woken = 0
        query = (
            'WorkflowType = "CaseWorkflow" AND CaseState = "HANDOFF"'
            ' AND ExecutionStatus = "Running"'
        )
        async for execution in self.client.list_workflows(query):
            handle = self.client.get_workflow_handle(execution.id)  # its newest run
            try:
                await handle.signal(CaseWorkflow.agent_available)
            except RPCError as err:
                if err.status is not RPCStatusCode.NOT_FOUND:
                    raise
                continue  # it ended since visibility listed it
            woken += 1
        return woken

    async def is_running(self, case_id: str) -> bool:
        """Whether the case's workflow is still running (False if unknown or ended)."""
        try:
            description = await self._handle(case_id).describe()
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND:
                return False
            raise
        return description.status == WorkflowExecutionStatus.RUNNING

    async def list_cases(self, query: str = "", limit: int = 50) -> list[CaseSummary]:
        """Cases matching a visibility ``query`` (search attributes: ``CaseState``,
        ``EscalationLevel``, ``Severity``, ``AssignedTeam``, ``CustomerTier``,
        ``EscalationReasons``, ``SlaBreaches``), newest first. One line per case: the
        runs a long case closed by continuing as new are left out."""
        where = 'WorkflowType = "CaseWorkflow" AND ExecutionStatus != "ContinuedAsNew"'
        where += f" AND ({query})" if query else ""
        found: list[CaseSummary] = []
        try:
            async for wf in self.client.list_workflows(where, limit=limit):
                attrs = wf.typed_search_attributes
                found.append(
                    CaseSummary(
                        case_id=wf.id.removeprefix("case-"),
                        workflow_id=wf.id,
                        status=wf.status.name if wf.status else "UNKNOWN",
                        state=attrs.get(sa.CASE_STATE),
                        level=attrs.get(sa.ESCALATION_LEVEL),
                        severity=attrs.get(sa.SEVERITY),
                        team=attrs.get(sa.ASSIGNED_TEAM),
                        customer_tier=attrs.get(sa.CUSTOMER_TIER),
                        reasons=list(attrs.get(sa.ESCALATION_REASONS) or []),
                        sla_breaches=attrs.get(sa.SLA_BREACHES),
                        started_at=wf.start_time,
                    )
                )
        except RPCError as err:
            if err.status is RPCStatusCode.INVALID_ARGUMENT:
                raise CaseRequestRejected(f"invalid query: {err.message}") from None
            raise
        return found

    async def case(self, case_id: str) -> CaseView:
        """The whole case view (query ``state``)."""
        for attempt in range(QUERY_ATTEMPTS):
            last = attempt == QUERY_ATTEMPTS - 1
            try:
                view: CaseView = await self._call(self._handle(case_id).query(CaseWorkflow.state))
                return view
            except CaseRequestRejected as err:
                # A case answers queries once its first workflow task has opened it.
                if "still opening" not in str(err) or last:
                    raise
            except RPCError as err:
                # A query sent to a worker that just died is cancelled with it, and one
                # that meets a failed workflow task (a long case continuing as new while
                # messages arrive) is refused until the retried task completes; a query
                # changes nothing, so asking again is safe.
                if not (err.status is RPCStatusCode.CANCELLED or _not_ready(err)) or last:
                    raise
            await asyncio.sleep(0.1)
        raise AssertionError("unreachable")

    async def _update(self, case_id: str, update: Any, arg: Any) -> Any:
        # While a long case continues as new, the server can fail the workflow task an
        # update was waiting for ("not ready"); the update was not applied, so retry.
        for attempt in range(UPDATE_ATTEMPTS):
            try:
                return await self._call(self._handle(case_id).execute_update(update, arg))
            except RPCError as err:
                if not _not_ready(err) or attempt == UPDATE_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.1 * (attempt + 1))
        raise AssertionError("unreachable")

    async def _call(self, awaitable: Any) -> Any:
        try:
            return await awaitable
        except WorkflowUpdateFailedError as err:
            raise CaseRequestRejected(_reason(err.cause)) from None
        except WorkflowQueryFailedError as err:
            raise CaseRequestRejected(str(err)) from None
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND:
                raise CaseNotFound(err.message) from None
            raise


UPDATE_ATTEMPTS = 6
QUERY_ATTEMPTS = 20


def _not_ready(err: RPCError) -> bool:
    return err.status is RPCStatusCode.FAILED_PRECONDITION and any(
        "WorkflowNotReadyFailure" in detail.type_url for detail in err.grpc_status.details
    )


def _as(model: type[Any], value: Any) -> Any:
    return value if isinstance(value, model) else model.model_validate(value)


def _reason(cause: BaseException | None) -> str:
    if isinstance(cause, ApplicationError):
        return cause.message
    return str(cause) if cause else "rejected"
