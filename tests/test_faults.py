"""Faults against the real embedded server: the worker and its server killed with
SIGKILL while cases wait on timers; after the restart no case is lost and the timers
that came due meanwhile fire."""

from __future__ import annotations

import asyncio
import shutil
import signal
import time
from pathlib import Path

from baton.settings import DEFAULT_CONFIG, Settings
from baton.temporal.client import BatonClient
from domain.models import CaseView
from domain.states import CaseState
from tests.conftest import new_case
from tests.test_worker_process import WorkerProcess

ACCEPT_TIMEOUT_S = 8
TEAM = """
[[teams]]
id = "support-frontline"
path = "customer_support"
tier = "frontline"
languages = ["en", "de"]
channels = ["chat", "email"]
contact = "support@example.com"
supervisor = "lead-support"
calendar = { around_the_clock = true }
""" + "".join(
    f"""
[[agents]]
id = "{agent}"
name = "{agent.title()}"
team = "support-frontline"
languages = ["en", "de"]
max_cases = 3
"""
    for agent in ("anna", "ben", "clara")
)
""""Three agents around the clock: an expired offer always has someone to go to."""


def _policy_with_short_accept_timeout(folder: Path) -> Path:
    """The shipped config, its accept timeout for high severity cut to seconds."""
    config = folder / "config"
    shutil.copytree(DEFAULT_CONFIG.parent, config)
    policy = config / "escalation.toml"
    text = policy.read_text(encoding="utf-8")
    block = text.index("[timers.accept_timeout]")
    high = text.index('high = "PT5M"', block)
    policy.write_text(
        text[:high] + f'high = "PT{ACCEPT_TIMEOUT_S}S"' + text[high + len('high = "PT5M"') :],
        encoding="utf-8",
    )
    return policy


async def _until(check, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.5)


async def test_killed_server_keeps_cases_and_fires_timers_that_came_due(
    worker_env: dict[str, str], tmp_path: Path
) -> None:
    directory = tmp_path / "team.toml"
    directory.write_text(TEAM)
    env = worker_env | {
        "BATON_CONFIG": str(_policy_with_short_accept_timeout(tmp_path)),
        "BATON_DIRECTORY": str(directory),
    }
    settings = Settings(**{k.lower(): v for k, v in env.items() if k.startswith("BATON_")})
    cases = [new_case() for _ in range(3)]

    first = WorkerProcess(env)
    await first.wait_running()
    try:
        client = await BatonClient.connect(settings)
        for case in cases:
            await client.start_case(case)
            answer = await client.post_message(
                case.case_id, {"message_id": "m1", "author": "customer", "text": "talk to a human"}
            )
            assert answer.state is CaseState.HANDOFF

        async def all_offered() -> dict[str, str | None] | None:
            offers = {c.case_id: (await client.case(c.case_id)).offered_to for c in cases}
            return offers if None not in offers.values() else None

        offered = await _until(all_offered, timeout=ACCEPT_TIMEOUT_S / 2)
        assert offered, "routing did not offer every case"
    finally:
        first.stop(signal.SIGKILL, group=True)  # worker and server die mid-wait

    await asyncio.sleep(ACCEPT_TIMEOUT_S + 4)  # every accept timeout comes due while down

    second = WorkerProcess(env)
    await second.wait_running()
    try:
        client = await BatonClient.connect(settings)

        async def all_moved_on() -> list[CaseView] | None:
            views = [await client.case(c.case_id) for c in cases]
            moved_on = all(
                any(e.trigger.value == "offer_expired" for e in v.history)
                and v.offered_to not in (None, offered[v.case_id])  # offered to the next
                for v in views
            )
            return views if moved_on else None

        views = await _until(all_moved_on)
        assert views, "the accept timeouts that came due while the server was down never fired"
        assert all(v.state is CaseState.HANDOFF for v in views)  # still open: none lost
    finally:
        code = second.stop(signal.SIGINT, group=True)
    assert code == 0, "".join(second.log)
