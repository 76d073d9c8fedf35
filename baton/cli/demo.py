"""``baton demo``: realistic conversations played against the running Temporal server.

The demo runs its own worker in this process on the task queue ``baton-demo``, under
the configured policy with every business duration divided by ``--speed`` (so a
five-minute acceptance timeout fires after five seconds at speed 60), with its own
store (``.data/demo.db``) staffed around the clock from the policy's agent lists: it
neither waits for office hours nor touches the real directory's loads. Its cases are
ordinary cases: every state, timer and activity shows in the Web UI.
"""

from __future__ import annotations

import asyncio
import tomllib
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from baton.detection.loading import load_detector, sentiment_scorers
from baton.notify.setup import load_deliverer
from baton.settings import Settings
from baton.store.cases import CaseStore
from baton.store.directory import DirectoryStore
from baton.temporal.client import BatonClient, CaseRequestRejected
from domain.detector import Detector
from domain.directory import directory_from_policy
from domain.models import Author, CaseView, Customer
from domain.speed import compressed
from domain.states import CaseState

SCENARIOS = Path(__file__).with_name("demo.toml")
TASK_QUEUE = "baton-demo"
OFFER_WAIT = 60.0
"""Seconds a step waits for an offer to appear before it reports the case as stuck."""


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid")

    say: str | None = None
    author: Author = Author.CUSTOMER
    wait: timedelta | None = None
    accept: Literal["offered"] | None = None
    consult: str | None = None
    by: str = ""
    answer: str = ""
    resolve: Literal["ai", "agent"] | None = None
    resolution: str = ""
    root_cause: str = ""
    necessary: bool | None = None


class Scenario(BaseModel):
    """One bundled conversation."""

    model_config = ConfigDict(extra="forbid")

    name: str
    title: str
    customer: Customer
    channel: str
    subject: str
    steps: Annotated[list[_Step], Field(min_length=1)]


class Progress(BaseModel):
    """Where a scenario stands (for the live display and the summary)."""

    scenario: str
    title: str
    case_id: str
    step: int = 0
    steps: int
    state: str = "starting"
    level: int = 0
    tier: str | None = None
    agent: str | None = None
    next: str | None = None
    error: str | None = None

    def show(self, view: CaseView) -> None:
        """Take the case's current view."""
        self.state, self.level = view.state.value, int(view.level)
        self.tier = view.tier.value if view.tier else None
        self.agent = view.assigned_agent or view.offered_to
        self.next = view.deadlines[0].summary if view.deadlines else None


def load_scenarios(path: Path = SCENARIOS) -> list[Scenario]:
    """The bundled scenarios."""
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    return [Scenario.model_validate(s) for s in raw["scenarios"]]


def demo_detector(settings: Settings, speed: float) -> Detector:
    """The configured detector, its policy's durations divided by ``speed``."""
    configured = load_detector(settings.baton_config)
    policy = compressed(configured.policy, speed)
    return Detector(policy, sentiment_scorers(), configured.risk_model, configured.learned)


async def play(
    client: BatonClient,
    scenarios: list[Scenario],
    speed: float,
    on_change: Callable[[list[Progress]], None] = lambda _: None,
) -> list[Progress]:
    """Play every scenario at once; returns how each ended."""
    run = uuid.uuid4().hex[:6]
    progress = [
        Progress(scenario=s.name, title=s.title, case_id=f"DEMO-{run}-{s.name}", steps=len(s.steps))
        for s in scenarios
    ]

    async def refresh() -> None:
        while True:
            on_change(progress)
            await asyncio.sleep(0.5)

    painter = asyncio.create_task(refresh())
    try:
        pairs = zip(scenarios, progress, strict=True)
        await asyncio.gather(*(_play_one(client, s, p, speed) for s, p in pairs))
    finally:
        painter.cancel()
    on_change(progress)
    return progress


async def _play_one(client: BatonClient, scenario: Scenario, p: Progress, speed: float) -> None:
    try:
        await client.start_case(
            {
                "case_id": p.case_id,
                "customer": scenario.customer.model_dump(mode="json", exclude_none=True),
                "channel": scenario.channel,
                "subject": scenario.subject,
            }
        )
        for n, step in enumerate(scenario.steps, start=1):
            p.step = n
            await _do(client, p, step, n, speed)
            p.show(await client.case(p.case_id))
    except Exception as err:  # the summary shows it; the other scenarios go on
        p.error = f"step {p.step}: {err}"


async def _do(client: BatonClient, p: Progress, step: _Step, n: int, speed: float) -> None:
    case_id = p.case_id
    if step.say is not None:
        message = {"message_id": f"m{n}", "author": step.author.value, "text": step.say}
        await client.post_message(case_id, message)
    elif step.wait is not None:
        await _sleep_watching(client, p, step.wait.total_seconds() / speed)
    elif step.accept is not None:
        await _accept_offer(client, p)
    elif step.consult is not None:
        await client.consult_answer(case_id, step.by, step.consult, step.answer)
    elif step.resolve is not None:
        view = await client.case(case_id)
        by = "ai" if step.resolve == "ai" else (view.assigned_agent or "agent")
        request: dict[str, Any] = {"by": by, "resolution": step.resolution}
        if step.root_cause:
            request["root_cause"] = step.root_cause
        if step.necessary is not None:
            request["escalation_necessary"] = step.necessary
        await client.resolve(case_id, request)


async def _sleep_watching(client: BatonClient, p: Progress, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    while (left := until - loop.time()) > 0:
        await asyncio.sleep(min(left, 0.5))
        p.show(await client.case(p.case_id))


async def _accept_offer(client: BatonClient, p: Progress, attempts: int = 3) -> None:
    """Accept as whoever holds the offer; at a compressed speed the offer may move on
    between reading it and accepting it, as it would for a slow agent: ask again."""
    for attempt in range(attempts):
        try:
            await client.accept(p.case_id, await _offered_agent(client, p))
            return
        except CaseRequestRejected:
            if attempt == attempts - 1:
                raise


async def _offered_agent(client: BatonClient, p: Progress) -> str:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + OFFER_WAIT
    while True:
        view = await client.case(p.case_id)
        p.show(view)
        if view.state is CaseState.HANDOFF and view.offered_to:
            return view.offered_to
        if loop.time() > deadline:
            raise RuntimeError(f"no offer after {OFFER_WAIT:.0f} s (state {view.state.value})")
        await asyncio.sleep(0.2)


async def run_demo(
    settings: Settings,
    speed: float,
    only: list[str] | None = None,
    on_change: Callable[[list[Progress]], None] = lambda _: None,
) -> list[Progress]:
    """Connect, run the demo worker, play the scenarios (all, or those named)."""
    from baton.temporal.server import connect
    from baton.temporal.slots import WorkerSlots
    from worker import create_worker  # the same composition as the real worker

    scenarios = [s for s in load_scenarios() if not only or s.name in only]
    if not scenarios:
        raise ValueError(f"no scenario named {', '.join(only or [])}")
    detector = demo_detector(settings, speed)
    store = CaseStore(f"sqlite:///{settings.baton_data_dir / 'demo.db'}")
    directory = DirectoryStore(store.engine)
    directory.replace(directory_from_policy(detector.policy))
    deliverer = load_deliverer(store, detector.policy, directory.team_contacts)
    temporal = await connect(settings)
    queue = f"{TASK_QUEUE}-{uuid.uuid4().hex[:6]}"
    try:
        with WorkerSlots().executor() as executor:
            worker = create_worker(temporal, queue, detector, store, executor, directory, deliverer)
            async with worker:
                return await play(BatonClient(temporal, queue), scenarios, speed, on_change)
    finally:
        await deliverer.close()
        store.close()
