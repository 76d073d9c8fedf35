"""What the case workflow's parts share: the open case, the lane its own activities
run in, and how side effects retry."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as TemporalTimeoutError

with workflow.unsafe.imports_passed_through():
    from domain.case import CaseFile, CaseRuleViolation
    from domain.models import Notification

Command = Callable[[datetime], list["Notification"]]
"""A change to the case at a given time, returning the notifications it calls for."""


A = TypeVar("A")
"""An activity's one argument."""


LOCAL_FAILURES = (ActivityError, ApplicationError, TemporalTimeoutError)
"""How a local activity's last attempt fails (the SDK raises its cause unwrapped)."""


def _rejected(err: CaseRuleViolation) -> ApplicationError:
    return ApplicationError(str(err), type="CaseRuleViolation", non_retryable=True)


class CaseWorkflowBase:
    """What the case workflow's parts share (mixed into ``CaseWorkflow``).

    The state is set up in ``CaseWorkflow.__init__``. The parts call one another
    through ``self``: every change goes through ``_apply`` (``side_effects``); commands
    and messages answer once ``_routed`` (``commands``) sees routing settled."""

    @property
    def _case(self) -> CaseFile:
        assert self._file is not None, "case is not open yet"
        return self._file

    def _case_id(self) -> str:
        return self._file.view.case_id if self._file else workflow.info().workflow_id

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
        self._fallbacks += 1
        try:
            return await workflow.execute_activity_method(
                activity,
                arg,
                start_to_close_timeout=timeouts.start_to_close,
                retry_policy=retry,
                summary=summary,
            )
        finally:
            self._fallbacks -= 1

    def _side_effect_retry(self) -> RetryPolicy:
        """Side effects retry until they succeed: a dead channel or database must not
        lose anything, and never blocks the case's timers (they run independently)."""
        timeouts = self._case.policy.activities
        return RetryPolicy(
            initial_interval=timeouts.retry_initial_interval,
            backoff_coefficient=timeouts.retry_backoff,
            maximum_interval=timeouts.retry_maximum_interval,
        )

    def _routing_settled(self) -> bool:
        """No reservation in flight or wanted (reservation changes of a settled case go
        out with its record)."""
        return not self._routing_busy and not self._case.view.route_needed

    def _routing_in_hand(self) -> bool:
        """Routing is settled, or waits on an outage (a regular activity retrying): the
        record and the notifications wait for the offer, never for a store that is down."""
        return self._routing_settled() or self._fallbacks > 0

    def _documented(self) -> bool:
        return self._documented_revision >= self._case.revision and not self._case.directory_ops
