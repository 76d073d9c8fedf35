"""Escalation chains as data: per path, the ordered steps that pull people in while a
handed-over case waits for someone to take it (in the spirit of Grafana OnCall).

A chain is walked by :func:`walk`: it runs the steps from the current position until
a ``wait`` (returning when to continue) or the end (repeating the chain up to
``repeat`` times). Pure: the case records the position, the workflow sleeps on a
durable timer until the returned time, and notifications carry the actions out.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.calendar import BusinessCalendar, NeverOpens


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NotifyPeople(_Step):
    """Notify named people (every one of them)."""

    kind: Literal["notify_people"]
    people: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)


class NotifyOnCall(_Step):
    """Notify whoever is on call now in a rotation."""

    kind: Literal["notify_on_call"]
    schedule: str


class RoundRobin(_Step):
    """Notify the next person of the list each time the step runs."""

    kind: Literal["round_robin"]
    people: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)


class NotifyTeamChannel(_Step):
    """Post to a team's channel."""

    kind: Literal["notify_team_channel"]
    team: str


class Wait(_Step):
    """Wait before the next step."""

    kind: Literal["wait"]
    duration: Annotated[timedelta, Field(gt=timedelta(0))]


Step = Annotated[
    NotifyPeople | NotifyOnCall | RoundRobin | NotifyTeamChannel | Wait,
    Field(discriminator="kind"),
]


class OnCallSchedule(BaseModel):
    """A rotation: each person is on call for ``shift`` in turn from ``start``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    people: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    start: datetime
    shift: Annotated[timedelta, Field(gt=timedelta(0))]

    def on_call(self, at: datetime) -> str:
        """Who is on call at ``at``."""
        turns = int((at - self.start) / self.shift)
        return self.people[turns % len(self.people)]


class EscalationChain(BaseModel):
    """The steps of one path's chain, how often it repeats, and when it may run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: list[Step] = Field(min_length=1)
    repeat: int = Field(default=0, ge=0, le=20)
    """Run the whole chain again this many times after the first run."""
    window: BusinessCalendar | None = None
    """Notify only within these hours; outside them the chain waits for the window."""


class ChainPosition(BaseModel):
    """Where a case stands in its chain."""

    step: int = 0
    run: int = 0
    """0 for the first run, then one per repeat."""
    rotations: int = 0
    """Round-robin steps taken so far (each takes the next person)."""


class ChainAction(BaseModel):
    """A notification the chain asks for."""

    recipient: str
    kind: Literal["person", "on_call", "team"]
    step: int
    run: int


class ChainProgress(BaseModel):
    """The actions due now, the new position, and when to continue (None: done)."""

    actions: list[ChainAction]
    position: ChainPosition
    wake_at: datetime | None


def walk(
    chain: EscalationChain,
    position: ChainPosition,
    now: datetime,
    schedules: dict[str, OnCallSchedule],
) -> ChainProgress:
    """Run the chain from ``position`` at ``now`` until a wait or its end."""
    if chain.window is not None and not chain.window.is_open(now):
        try:
            wake_at: datetime | None = chain.window.next_open(now)
        except NeverOpens:  # nothing to wait for: the chain rests
            wake_at = None
        return ChainProgress(actions=[], position=position, wake_at=wake_at)
    actions: list[ChainAction] = []
    step, run, rotations = position.step, position.run, position.rotations
    while True:
        if step >= len(chain.steps):
            if run >= chain.repeat:
                return ChainProgress(
                    actions=actions,
                    position=ChainPosition(step=step, run=run, rotations=rotations),
                    wake_at=None,
                )
            step, run = 0, run + 1
        current = chain.steps[step]
        step += 1
        if isinstance(current, Wait):
            here = ChainPosition(step=step, run=run, rotations=rotations)
            return ChainProgress(actions=actions, position=here, wake_at=now + current.duration)
        for recipient, kind in _recipients(current, now, schedules, rotations):
            actions.append(ChainAction(recipient=recipient, kind=kind, step=step - 1, run=run))
        if isinstance(current, RoundRobin):
            rotations += 1


def _recipients(
    step: NotifyPeople | NotifyOnCall | RoundRobin | NotifyTeamChannel,
    now: datetime,
    schedules: dict[str, OnCallSchedule],
    rotations: int,
) -> list[tuple[str, Literal["person", "on_call", "team"]]]:
    if isinstance(step, NotifyPeople):
        return [(p, "person") for p in step.people]
    if isinstance(step, RoundRobin):
        return [(step.people[rotations % len(step.people)], "person")]
    if isinstance(step, NotifyOnCall):
        return [(schedules[step.schedule].on_call(now), "on_call")]
    return [(step.team, "team")]
