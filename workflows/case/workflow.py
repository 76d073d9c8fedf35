"""``CaseWorkflow``: one durable workflow per customer case.

The workflow only orchestrates: it loads the case's policy, feeds messages through
detection, applies each command to the :class:`~domain.case.CaseFile` (where every
rule lives), waits on the nearest deadline with a durable timer, and hands side
effects to activities (notifications to the outbox, the case record to the store).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from activities.policy import PolicyActivities
    from domain.case import CaseFile, CaseRuleViolation
    from domain.models import (
        AssessmentRecord,
        CarryOver,
        CaseEvent,
        CaseInput,
        CaseView,
        Deadline,
        DirectoryOp,
        HandoffRecord,
        IncomingMessage,
        MessageRecord,
        Notification,
    )
    from domain.policy import ActivityTimeouts, EscalationPolicy, shared
    from workflows import search_attributes as sa

from workflows.case.base import LOCAL_FAILURES
from workflows.case.commands import HumanCommands
from workflows.case.messages import CaseMessages
from workflows.case.routing import CaseRouting
from workflows.case.side_effects import CaseSideEffects, Milestone

POLICY_LOAD_TIMEOUT = timedelta(seconds=10)
"""The one timeout not in the config: it bounds loading the config itself."""


POLICY_LOAD_QUEUE = ActivityTimeouts.model_fields["local_schedule_to_start"].default
"""How long loading the policy waits for a local slot: the config's default, not yet read."""


def workflow_id_for(case_id: str) -> str:
    """The workflow id of a case: ``case-<case_id>``."""
    return f"case-{case_id}"


@workflow.defn(name="CaseWorkflow", failure_exception_types=[ValidationError])
class CaseWorkflow(CaseMessages, HumanCommands, CaseRouting, CaseSideEffects):
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
        self._undocumented_since: datetime | None = None  # the oldest unwritten change
        self._documented_reasons: set[str] = set()  # reasons the record has (this run)
        self._search_attributes: dict[str, Any] = sa.known(workflow.info().typed_search_attributes)
        self._unsent: list[Notification] = []  # in the outbox, not yet handed to a delivery
        self._fallbacks = 0  # the case's own activities running as regular ones now
        self._documenting_ops: list[DirectoryOp] = []  # in the record being written
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
        self._documented_milestone: Milestone | None = None
        self._team_moves_documented = False  # patch TEAM_MOVES_DOCUMENTED, asked on a move

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
        if not self._documented():  # carried over: its clock starts in this run
            self._undocumented_since = workflow.now()
        tasks = [asyncio.create_task(self._flush_search_attributes())]
        self._publish([])
        self._unsent = list(self._outbox.values())  # carried over: sent (again) at once
        tasks += [
            asyncio.create_task(self._deliver_continuously()),
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
            policy = shared(carried.policy)  # a case keeps the policy it started with
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
        policy = shared(await self._load_policy())
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

    @workflow.query(name="state")
    def state(self) -> CaseView:
        """The whole case view."""
        if self._file is None:
            raise ApplicationError("case is still opening", type="CaseNotReady")
        return self._file.view

    def log_context(self) -> dict[str, Any]:
        """State and level for the log lines of the activities this case starts."""
        if self._file is None:
            return {}
        view = self._file.view
        return {"state": view.state.value, "escalation_level": int(view.level)}

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
            directory_ops=self._documenting_ops + file.directory_ops,  # idempotent
            undocumented_assessments=self._undocumented_assessments,
            undocumented_handoffs=self._undocumented_handoffs,
        )
        return case.model_copy(update={"carry_over": carried})
