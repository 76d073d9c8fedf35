"""``CaseWorkflow``: one durable workflow per customer case.

The workflow only orchestrates: it loads the case's policy, feeds messages through
detection, applies each command to the :class:`~domain.case.CaseFile` (where every
rule lives), waits on the nearest deadline with a durable timer, and hands side
effects to activities (notifications to the outbox, the case record to the store).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as TemporalTimeoutError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from activities.detection import DetectionActivities, DetectionResult
    from activities.notifications import NotificationActivities
    from activities.policy import PolicyActivities
    from activities.records import RecordActivities
    from activities.routing import RoutingActivities
    from domain.case import CaseFile, CaseRuleViolation
    from domain.detection import DetectionRequest
    from domain.models import (
        AcceptRequest,
        Assessment,
        AssessmentRecord,
        Author,
        CarryOver,
        CaseEvent,
        CaseInput,
        CaseRecordBatch,
        CaseView,
        ConsultAnswer,
        CustomerHistoryRequest,
        Deadline,
        DeclineRequest,
        EarlierCase,
        EscalateRequest,
        FollowUpRequest,
        HandoffRecord,
        IncomingMessage,
        MessageRecord,
        Notification,
        NotificationBatch,
        ResolveRequest,
    )
    from domain.policy import ActivityTimeouts, EscalationPolicy
    from domain.routing import AssignmentChanges, ClaimRequest, ReserveRequest
    from domain.states import ACTIVE_STATES, CaseState
    from workflows import case_metrics
    from workflows import search_attributes as sa

Command = Callable[[datetime], list["Notification"]]
"""A change to the case at a given time, returning the notifications it calls for."""

A = TypeVar("A")
"""An activity's one argument."""

LOCAL_FAILURES = (ActivityError, ApplicationError, TemporalTimeoutError)
"""How a local activity's last attempt fails (the SDK raises its cause unwrapped)."""

POLICY_LOAD_TIMEOUT = timedelta(seconds=10)
"""The one timeout not in the config: it bounds loading the config itself."""

POLICY_LOAD_QUEUE = ActivityTimeouts.model_fields["local_schedule_to_start"].default
"""How long loading the policy waits for a local slot: the config's default, not yet read."""


def workflow_id_for(case_id: str) -> str:
    """The workflow id of a case: ``case-<case_id>``."""
    return f"case-{case_id}"


def _rejected(err: CaseRuleViolation) -> ApplicationError:
    return ApplicationError(str(err), type="CaseRuleViolation", non_retryable=True)


@workflow.defn(name="CaseWorkflow", failure_exception_types=[ValidationError])
class CaseWorkflow:
    """A customer case from the first message to ``CLOSED``."""

    @workflow.init
    def __init__(self, case: CaseInput) -> None:
        """Prepare the handlers; the case opens in :meth:`run` once its policy is loaded."""
        self._file: CaseFile | None = None
        self._messages = asyncio.Lock()
        self._changes = 0
        self._outbox: dict[str, Notification] = {}
        self._undocumented_events: list[CaseEvent] = []
        self._undocumented_messages: list[MessageRecord] = []
        self._undocumented_assessments: list[AssessmentRecord] = []
        self._undocumented_handoffs: list[HandoffRecord] = []
        self._documented_revision = 0
        self._search_attributes: dict[str, Any] = {}
        self._deliveries: set[asyncio.Task[None]] = set()
        self._inbox: list[IncomingMessage] = []
        self._queued = 0  # messages ever put in the inbox (this run)
        self._taken = 0  # ... and taken out of it
        self._messages_this_run = 0  # recorded or refused, by signal or update
        self._routing_busy = False  # a routing activity is in flight
        # One local activity at a time: the SDK resolves concurrent ones in another
        # order on replay than it ran them (temporalio/sdk-python#1578).
        self._local_lane = asyncio.Lock()
        self._local_streak = 0  # local activities since the last regular one
        self._attributes_stale = False  # search attributes to upsert this workflow task
        self._documented_milestone: tuple[CaseState, int] | None = None

    # ------------------------------------------------------------------ run
    @workflow.run
    async def run(self, case: CaseInput) -> CaseView:
        """Open (or resume) the case, then follow its deadlines until it is closed."""
        expected_id = workflow_id_for(case.case_id)
        if workflow.info().workflow_id != expected_id:
            raise ApplicationError(
                f"workflow id must be {expected_id!r} for case_id {case.case_id!r}",
                type="InvalidCase",
                non_retryable=True,
            )
        self._file = await self._open(case)
        self._documented_milestone = self._milestone()
        tasks = [asyncio.create_task(self._flush_search_attributes())]
        self._publish([])
        if self._outbox:
            self._send(list(self._outbox.values()))
        tasks += [
            asyncio.create_task(self._document_continuously()),
            asyncio.create_task(self._take_inbox()),
            asyncio.create_task(self._route_continuously()),
        ]
        continue_as_new = await self._follow_deadlines()
        await workflow.wait_condition(
            lambda: workflow.all_handlers_finished() and not self._attributes_stale
        )
        if continue_as_new:
            workflow.continue_as_new(self._carry_over(case))
        # Closed: make sure the record and every notification are out before finishing.
        await workflow.wait_condition(
            lambda: (
                not self._outbox
                and not self._inbox
                and self._documented()
                and self._routing_settled()
                and not self._attributes_stale
            )
        )
        for task in tasks:
            task.cancel()
        return self._case.view

    async def _open(self, case: CaseInput) -> CaseFile:
        carried = case.carry_over
        if carried is not None:
            policy = carried.policy  # a case keeps the policy it started with
            self._outbox = {n.key: n for n in carried.pending_notifications}
            self._undocumented_events = list(carried.undocumented_events)
            self._undocumented_messages = list(carried.undocumented_messages)
            self._undocumented_assessments = list(carried.undocumented_assessments)
            self._undocumented_handoffs = list(carried.undocumented_handoffs)
            self._documented_revision = carried.documented_revision
            self._inbox = list(carried.inbox) + self._inbox
            self._queued += len(carried.inbox)
            resumed = CaseFile(carried.view, policy, carried.seen_message_ids)
            resumed.directory_ops = list(carried.directory_ops)
            return resumed
        policy = await self._load_policy()
        try:
            file = CaseFile.open(case, policy, workflow.now())
        except CaseRuleViolation as err:
            raise ApplicationError(str(err), type="InvalidCase", non_retryable=True) from None
        self._collect(file)
        return file

    async def _load_policy(self) -> EscalationPolicy:
        with contextlib.suppress(*LOCAL_FAILURES):  # retried as a regular one below
            return await workflow.execute_local_activity_method(
                PolicyActivities.load_policy,
                schedule_to_start_timeout=POLICY_LOAD_QUEUE,
                start_to_close_timeout=POLICY_LOAD_TIMEOUT,
                retry_policy=RetryPolicy(maximum_attempts=2),
                summary="load escalation policy",
            )
        return await workflow.execute_activity_method(
            PolicyActivities.load_policy,
            start_to_close_timeout=POLICY_LOAD_TIMEOUT,
            retry_policy=RetryPolicy(maximum_interval=POLICY_LOAD_TIMEOUT),
            summary="load escalation policy",
        )

    async def _locally_first(
        self, activity: Callable[[Any, A], Any], arg: A, retry: RetryPolicy, summary: str
    ) -> Any:
        """Run an activity of the case's own path (policy, detection, earlier cases,
        reservation, assignments, record) first as a local activity in the lane: a
        marker in the history instead of three events and a workflow task of its own.
        It falls back to a regular activity with ``retry`` when its attempts are spent
        or no local slot of the worker frees within ``local_schedule_to_start``, so
        neither an outage nor a busy worker holds the workflow task. Past
        ``local_per_workflow_task`` local activities in a row one runs as a regular
        activity: its result comes in a new task, so a burst of messages never chains
        more into one task than it can finish before the server's timeout. (A count
        of the workflow's own, not of tasks: where a task ends differs on replay.)
        Notifications never come here: a slow channel must not hold the workflow task."""
        timeouts = self._case.policy.activities
        async with self._local_lane:
            if self._local_streak < timeouts.local_per_workflow_task:
                self._local_streak += 1
                with contextlib.suppress(*LOCAL_FAILURES):  # then a regular one below
                    return await workflow.execute_local_activity_method(
                        activity,
                        arg,
                        schedule_to_start_timeout=timeouts.local_schedule_to_start,
                        start_to_close_timeout=timeouts.local_start_to_close,
                        retry_policy=RetryPolicy(maximum_attempts=timeouts.local_attempts),
                        summary=summary,
                    )
            else:
                self._local_streak = 0
        return await workflow.execute_activity_method(
            activity,
            arg,
            start_to_close_timeout=timeouts.start_to_close,
            retry_policy=retry,
            summary=summary,
        )

    @property
    def _case(self) -> CaseFile:
        assert self._file is not None, "case is not open yet"
        return self._file

    # ------------------------------------------------------------ deadlines
    async def _follow_deadlines(self) -> bool:
        """Wait for the nearest deadline or a change, until closed; True to continue-as-new."""
        timer: asyncio.Task[None] | None = None
        armed: Deadline | None = None
        while not self._case.closed:
            # Never mid-routing: the reservation's answer must land in this run.
            if self._history_is_long() and self._routing_settled():
                self._drop_timer(timer)
                return True
            nearest = self._case.next_deadline()
            if nearest != armed and not self._keeps(armed, nearest):
                self._drop_timer(timer, cancel=True)
                armed = nearest
                timer = asyncio.create_task(self._sleep_until(nearest)) if nearest else None
            seen = self._changes
            change = asyncio.create_task(
                workflow.wait_condition(lambda seen=seen: self._changes != seen)  # type: ignore[misc]
            )
            waiting = [change] if timer is None else [change, timer]
            await workflow.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if not change.done():
                change.cancel()
            if timer is not None and timer.done() and armed is not None:
                due, timer, armed = armed, None, None
                # A kept timer may wake the case before its deadline: then nothing is due.
                self._apply(lambda now, name=due.name: self._case.deadline_due(name, now))  # type: ignore[misc]
        self._drop_timer(timer)
        return False

    @staticmethod
    def _keeps(armed: Deadline | None, nearest: Deadline | None) -> bool:
        """The running timer wakes the case no later than ``nearest`` is due, so it is
        kept: each message pushes the customer's inactivity deadline later, and a
        cancelled and restarted timer is two more events in the history."""
        return armed is not None and nearest is not None and armed.at <= nearest.at

    @staticmethod
    def _drop_timer(timer: asyncio.Task[None] | None, cancel: bool = False) -> None:
        """Stop waiting on ``timer``; at a run's end it is left to lapse unrecorded
        (a cancellation is one more event in the history)."""
        if timer is not None and cancel:
            timer.cancel()

    async def _sleep_until(self, deadline: Deadline) -> None:
        remaining = deadline.at - workflow.now()
        if remaining > timedelta(0):
            await workflow.sleep(remaining, summary=deadline.summary)

    def _history_is_long(self) -> bool:
        info = workflow.info()
        limits = self._case.policy.limits
        if self._messages_this_run >= limits.continue_as_new_after_messages:
            return True  # replaying the run must fit in one workflow task
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= limits.continue_as_new_after_events
        )

    # ------------------------------------------------------------- messages
    @workflow.update(name="post_message")
    async def post_message(self, message: IncomingMessage) -> Assessment:
        """A message in the conversation; answers at once with the case's assessment."""
        try:
            await self._after_earlier_signals()
            return await self._take_message(message)
        except CaseRuleViolation as err:
            raise _rejected(err) from None

    @post_message.validator
    def _check_post_message(self, message: IncomingMessage) -> None:
        self._check(lambda file: file.check_message(message))

    @workflow.signal(name="message")
    def message(self, message: IncomingMessage) -> None:
        """The durable fire-and-forget path for messages (same payload as ``post_message``).

        Signals only queue the message; :meth:`_take_inbox` works through the queue in
        order. So a steady stream never keeps a handler open, and a long case can
        continue as new at any time, carrying the queue over.
        """
        self._inbox.append(message)
        self._queued += 1

    async def _take_inbox(self) -> None:
        while True:
            await workflow.wait_condition(lambda: bool(self._inbox))
            message = self._inbox[0]
            try:
                await self._take_message(message)
            except CaseRuleViolation as err:
                # Texts are personal data: log the id and the rule, never the text.
                workflow.logger.warning(
                    "message %s dropped: %s",
                    message.message_id,
                    err,
                    extra={"case": self._case_id()},
                )
            # Taken (recorded or refused) in the same step as it leaves the queue, so a
            # continue-as-new in between carries it exactly once.
            self._inbox.pop(0)
            self._taken += 1

    async def _after_earlier_signals(self) -> None:
        """Updates wait for the messages signalled before them: arrival order holds."""
        ticket = self._queued
        await workflow.wait_condition(lambda: self._taken >= ticket)

    async def _take_message(self, message: IncomingMessage) -> Assessment:
        """Assess and record one message; raises :class:`CaseRuleViolation` if refused."""
        await workflow.wait_condition(lambda: self._file is not None)
        async with self._messages:  # one message at a time, in arrival order
            self._messages_this_run += 1
            file = self._case
            if not file.is_duplicate(message.message_id):
                file.check_message(message)
            verdict = None
            if message.author is Author.CUSTOMER and file.view.state in ACTIVE_STATES:
                try:
                    verdict = await self._assess(message)
                except ActivityError as err:
                    raise CaseRuleViolation(f"message could not be assessed: {err.cause}") from None
            answer: list[Assessment] = []

            def record(now: datetime) -> list[Notification]:
                assessment, notifications = file.record_message(
                    message,
                    verdict.hits if verdict else [],
                    now,
                    sentiment=verdict.sentiment if verdict else None,
                    risk=verdict.risk if verdict else None,
                    assessed_by=(verdict.policy_version, verdict.model_version)
                    if verdict
                    else ("", None),
                )
                answer.append(assessment)
                return notifications

            self._apply(record)
            await self._routed()
            return answer[0].model_copy(update={"state": self._case.view.state})

    async def _assess(self, message: IncomingMessage) -> DetectionResult:
        request = DetectionRequest(
            message=message, context=self._case.detection_context(workflow.now())
        )
        attempts = self._case.policy.activities.detection_attempts
        verdict: DetectionResult = await self._locally_first(
            DetectionActivities.assess_message,
            request,
            # Detection is pure: retrying cannot fix a failure for long.
            RetryPolicy(maximum_attempts=attempts),
            f"assess message {message.message_id}",
        )
        return verdict

    # ------------------------------------------------------ human commands
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

    def log_context(self) -> dict[str, Any]:
        """State and level for the log lines of the activities this case starts."""
        if self._file is None:
            return {}
        view = self._file.view
        return {"state": view.state.value, "escalation_level": int(view.level)}

    @workflow.query(name="state")
    def state(self) -> CaseView:
        """The whole case view."""
        if self._file is None:
            raise ApplicationError("case is still opening", type="CaseNotReady")
        return self._file.view

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

    # --------------------------------------------------- applying changes
    def _apply(self, command: Command) -> None:
        """Apply a command to the case now, then publish what changed."""
        notifications = command(workflow.now())
        self._changes += 1
        self._collect(self._case)
        self._publish(notifications)

    def _collect(self, file: CaseFile) -> None:
        case_metrics.record(file.new_events, file.view)
        self._undocumented_events += file.new_events
        self._undocumented_messages += file.new_messages
        self._undocumented_assessments += file.new_assessments
        self._undocumented_handoffs += file.new_handoffs
        file.new_events.clear()
        file.new_messages.clear()
        file.new_assessments.clear()
        file.new_handoffs.clear()

    def _publish(self, notifications: list[Notification]) -> None:
        self._upsert_search_attributes()
        self._describe()
        new = [n for n in notifications if n.key not in self._outbox]
        for notification in new:
            self._outbox[notification.key] = notification
        if new:
            self._send(new)

    def _upsert_search_attributes(self) -> None:
        self._attributes_stale = True  # once per workflow task, by _flush_search_attributes

    async def _flush_search_attributes(self) -> None:
        """One upsert for all the changes of a workflow task (the condition is checked
        once every coroutine of the task has run)."""
        while True:
            await workflow.wait_condition(lambda: self._attributes_stale)
            self._attributes_stale = False
            self._upsert_now()

    def _upsert_now(self) -> None:
        current = self._case.search_attributes()
        updates: list[SearchAttributeUpdate[Any]] = []
        for key in sa.ALL:
            value = current[key.name]
            if self._search_attributes.get(key.name) != value:
                updates.append(_sa_update(key, value))
        if updates:
            workflow.upsert_search_attributes(updates)
            self._search_attributes = current

    def _describe(self) -> None:
        v = self._case.view
        nearest = self._case.next_deadline()
        lines = [
            f"**{v.state.value}** · level {int(v.level)} · {v.severity.value}",
            f"tier: {v.tier.value if v.tier else '-'} · team: {v.assigned_team or '-'}",
            f"agent: {v.assigned_agent or v.offered_to or '-'}",
            f"next: {nearest.summary} at {nearest.at.isoformat()}" if nearest else "next: -",
        ]
        workflow.set_current_details("\n\n".join(lines))

    # ------------------------------------------------------ side effects
    def _send(self, notifications: list[Notification]) -> None:
        task = asyncio.create_task(self._deliver_batch(notifications))
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _deliver_batch(self, notifications: list[Notification]) -> None:
        """Deliver together; deliveries that can never succeed go on the case's record."""
        try:
            report = await workflow.execute_activity_method(
                NotificationActivities.deliver_notifications,
                NotificationBatch(notifications=notifications),
                start_to_close_timeout=self._case.policy.activities.start_to_close,
                retry_policy=self._side_effect_retry(),
                summary=_delivery_summary(notifications),
            )
            if report.failed:
                self._apply(lambda now: self._case.notifications_failed(report.failed, now))
        except ActivityError as err:
            keys = ", ".join(n.key for n in notifications)
            workflow.logger.error("notifications %s failed: %s", keys, err.cause or err)
        finally:
            for notification in notifications:
                self._outbox.pop(notification.key, None)

    async def _document_continuously(self) -> None:
        """Write the case record as the case goes, one batch at a time."""
        while True:
            await workflow.wait_condition(lambda: not self._documented())
            await self._documentation_window()
            self._documented_milestone = self._milestone()
            batch = CaseRecordBatch(
                revision=self._case.revision,
                view=self._case.view,
                events=list(self._undocumented_events),
                messages=list(self._undocumented_messages),
                assessments=list(self._undocumented_assessments),
                handoffs=list(self._undocumented_handoffs),
            )
            await self._locally_first(
                RecordActivities.document_case,
                batch,
                self._side_effect_retry(),
                f"document case revision {batch.revision}",
            )
            self._undocumented_events = _unsent(self._undocumented_events, batch.events)
            self._undocumented_messages = _unsent(self._undocumented_messages, batch.messages)
            self._undocumented_assessments = _unsent(
                self._undocumented_assessments, batch.assessments
            )
            self._undocumented_handoffs = _unsent(self._undocumented_handoffs, batch.handoffs)
            self._documented_revision = batch.revision

    # -------------------------------------------------------------- routing
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
        ops = file.take_directory_ops()
        if ops:
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
        history = file.history_request()  # first handoff: the customer's earlier cases
        request = file.routing_request(workflow.now())
        offer = file.view.offer_no
        reserve = self._locally_first(
            RoutingActivities.reserve_agent,
            ReserveRequest(request=request, offer=offer, routing=file.policy.routing),
            self._side_effect_retry(),
            f"route offer {offer}: {request.path}, {request.tier.value}",
        )
        if history is not None:  # local activities run one after the other
            earlier = await self._customer_history(history)
            self._apply(lambda now: file.set_earlier_cases(earlier, now))
        decision = await reserve
        self._apply(lambda now: file.routed(decision, offer, now))

    async def _customer_history(self, request: CustomerHistoryRequest) -> list[EarlierCase]:
        cases: list[EarlierCase] = await self._locally_first(
            RecordActivities.customer_history,
            request,
            self._side_effect_retry(),
            "look up the customer's earlier cases",
        )
        return cases

    def _routing_settled(self) -> bool:
        file = self._case
        return not self._routing_busy and not file.view.route_needed and not file.directory_ops

    def _side_effect_retry(self) -> RetryPolicy:
        """Side effects retry until they succeed: a dead channel or database must not
        lose anything, and never blocks the case's timers (they run independently)."""
        timeouts = self._case.policy.activities
        return RetryPolicy(
            initial_interval=timeouts.retry_initial_interval,
            backoff_coefficient=timeouts.retry_backoff,
            maximum_interval=timeouts.retry_maximum_interval,
        )

    def _documented(self) -> bool:
        return self._documented_revision >= self._case.revision

    async def _documentation_window(self) -> None:
        """Let the changes of the next moments join this batch, unless the case moved to
        another state or level, or closed: those are written at once."""
        window = self._case.policy.limits.documentation_window
        if not window or self._milestone_reached():
            return
        with contextlib.suppress(TimeoutError):  # the window passed: write what there is
            await workflow.wait_condition(
                self._milestone_reached,
                timeout=window,
                timeout_summary=f"documentation window: {window.total_seconds():g} s",
            )

    def _milestone(self) -> tuple[CaseState, int]:
        view = self._case.view
        return view.state, int(view.level)

    def _milestone_reached(self) -> bool:
        return self._case.closed or self._milestone() != self._documented_milestone

    def _carry_over(self, case: CaseInput) -> CaseInput:
        file = self._case
        carried = CarryOver(
            view=file.view,
            policy=file.policy,
            seen_message_ids=file.seen_message_ids,
            pending_notifications=list(self._outbox.values()),
            undocumented_events=self._undocumented_events,
            undocumented_messages=self._undocumented_messages,
            documented_revision=self._documented_revision,
            inbox=self._inbox,
            directory_ops=file.directory_ops,
            undocumented_assessments=self._undocumented_assessments,
            undocumented_handoffs=self._undocumented_handoffs,
        )
        return case.model_copy(update={"carry_over": carried})

    def _case_id(self) -> str:
        return self._file.view.case_id if self._file else workflow.info().workflow_id


R = TypeVar("R", CaseEvent, MessageRecord, AssessmentRecord, HandoffRecord)


def _unsent(pending: list[R], sent: list[R]) -> list[R]:
    """``pending`` without what a batch documented (entries are keyed by ``seq``)."""
    done = {entry.seq for entry in sent}
    return [entry for entry in pending if entry.seq not in done]


def _delivery_summary(notifications: list[Notification]) -> str:
    """For the event history, in words: ``notify specialist agent alexander: case
    offered · customer c-7: handoff customer offered``."""
    parts = []
    for n in notifications:
        tier = n.case.tier.value if n.case and n.case.tier and n.recipient_kind == "agent" else ""
        who = " ".join(p for p in (tier, n.recipient_kind, n.recipient) if p)
        parts.append(f"{who}: {n.event.replace('_', ' ')}")
    text = "notify " + " · ".join(parts)
    return text if len(text) <= 200 else text[:197] + "..."


def _sa_update(key: SearchAttributeKey[Any], value: Any) -> SearchAttributeUpdate[Any]:
    if value in ("", [], None):
        return key.value_unset()
    return key.value_set(value)
