"""Publishing each change: search attributes, the Web UI's current details, the
notifications (one activity per batch, once routing has decided) and the case record
(batched, with the reservation changes)."""

from __future__ import annotations

import asyncio
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributeUpdate
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.notifications import NotificationActivities
    from activities.records import RecordActivities
    from domain.case import CaseFile
    from domain.models import (
        AssessmentRecord,
        CaseEvent,
        CaseRecordBatch,
        HandoffRecord,
        MessageRecord,
        Notification,
        NotificationBatch,
    )
    from domain.states import CaseState
    from workflows import case_metrics
    from workflows import search_attributes as sa

from workflows.case.base import CaseWorkflowBase, Command

TEAM_MOVES_DOCUMENTED = "team-moves-documented"
"""Patch (after 0.1.0): a case that moves to another team without changing state or
level (a tier raised while it waits in HANDOFF) is documented at once, as the supervisors'
queues list cases by team. Cases before it wait for the documentation window."""


class CaseSideEffects(CaseWorkflowBase):
    """Publishing each change of a case (mixed into ``CaseWorkflow``)."""

    def _apply(self, command: Command) -> None:
        """Apply a command to the case now, then publish what changed."""
        view = self._case.view
        before = (view.state, view.level, view.assigned_team)
        notifications = command(workflow.now())
        moved = before[:2] == (view.state, view.level) and before[2] != view.assigned_team
        if moved and not self._team_moves_documented:
            # Asked only where it matters, so other cases carry no patch marker.
            self._team_moves_documented = workflow.patched(TEAM_MOVES_DOCUMENTED)
        self._changes += 1
        self._collect(self._case)
        self._publish(notifications)

    def _collect(self, file: CaseFile) -> None:
        case_metrics.record(file.new_events, file.view)
        self._undocumented_events += file.new_events
        self._undocumented_messages += file.new_messages
        self._undocumented_assessments += file.new_assessments
        self._undocumented_handoffs += file.new_handoffs
        if self._undocumented_since is None and self._documented_revision < file.revision:
            self._undocumented_since = workflow.now()
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
        self._unsent += new

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
            if not _same(self._search_attributes.get(key.name), value):
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

    async def _deliver_continuously(self) -> None:
        """Hand what the changes call for to one delivery at a time, once routing has
        decided whom the case goes to: the team's notice, the offer and the customer's
        message travel together (a store that is down never holds them)."""
        while True:
            await workflow.wait_condition(lambda: bool(self._unsent) and self._routing_in_hand())
            batch, self._unsent = self._unsent, []
            task = asyncio.create_task(self._deliver_batch(batch))
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
        """Write the case record as the case goes, one batch at a time, when
        :meth:`_record_due` says so: no timer of its own, so a plain message costs the
        history nothing until the case has another reason to wake."""
        while True:
            await workflow.wait_condition(self._record_due)
            # A handoff is written with its offer; the reservation changes go along.
            await workflow.wait_condition(self._routing_in_hand)
            self._documented_milestone = self._milestone()
            ops = self._case.take_directory_ops() if self._routing_settled() else []
            self._documenting_ops = ops  # carried over should the run end meanwhile
            self._undocumented_since = None  # later changes start the clock again
            batch = CaseRecordBatch(
                revision=self._case.revision,
                view=self._case.view,
                events=list(self._undocumented_events),
                messages=list(self._undocumented_messages),
                assessments=list(self._undocumented_assessments),
                handoffs=list(self._undocumented_handoffs),
                directory_ops=ops,
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
            self._documented_reasons.update(r.name for a in batch.assessments for r in a.reasons)
            self._documenting_ops = []

    def _record_due(self) -> bool:
        """The record is written at once when the case opens (the customer's other cases
        must find it), moved to another state, level or team or closed, an approval
        asked or answered (the desks list cases by team and approver), a message fired a
        reason new to the record (the learning loop reads its evidence), or a settled case has
        reservation changes (an agent's load must not wait); other changes (a plain
        message) once they are older than ``limits.documentation_window`` when the case
        next wakes (a later change, a timer), so they join the next batch. Until then
        they are safe in the workflow, and the ``state`` query shows them."""
        if self._case.directory_ops and self._routing_settled():
            return True
        if self._documented_revision >= self._case.revision:
            return False
        opening = self._documented_revision == 0
        fired = any(  # a reason new to the record: a repeated one waits its turn
            r.name not in self._documented_reasons
            for a in self._undocumented_assessments
            for r in a.reasons
        )
        return opening or fired or self._milestone_reached() or self._window_passed()

    def _window_passed(self) -> bool:
        window = self._case.policy.limits.documentation_window
        since = self._undocumented_since
        return not window or since is None or workflow.now() - since >= window

    def _milestone(self) -> Milestone:
        view = self._case.view
        team = view.assigned_team if self._team_moves_documented else None
        return view.state, int(view.level), view.pending_approval is not None, team

    def _milestone_reached(self) -> bool:
        return self._case.closed or self._milestone() != self._documented_milestone


R = TypeVar("R", CaseEvent, MessageRecord, AssessmentRecord, HandoffRecord)
Milestone = tuple[CaseState, int, bool, str | None]
"""What documents a case at once when it changes: state, level, an approval pending, and
the team (patch ``TEAM_MOVES_DOCUMENTED``; the desks list cases by team)."""


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


def _same(known: Any, value: Any) -> bool:
    """An attribute the server does not have equals an empty value (nothing to unset)."""
    return known == value or (known is None and value in ("", []))


def _sa_update(key: SearchAttributeKey[Any], value: Any) -> SearchAttributeUpdate[Any]:
    if value in ("", [], None):
        return key.value_unset()
    return key.value_set(value)
