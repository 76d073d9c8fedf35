"""Notifications from running cases (time-skipping server, real webhook receiver): a dead
channel never blocks the timers, messages go out once when it returns, and a delivery
that can never succeed is on the case."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from domain.states import CaseState
from tests.conftest import case_on
from tests.servers import WebhookReceiver, deliverer_for

pytestmark = pytest.mark.usefixtures("notification_secrets")

EVERYONE_ON_THE_HOOK = {
    "kinds": {k: [{"channel": "hook"}] for k in ("agent", "team", "supervisor", "person")},
    "customer": {"chat": [{"channel": "hook"}]},
}


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver().start()
    yield server
    server.stop()


async def test_a_dead_channel_never_blocks_the_timers_and_catches_up_once(
    time_env: Any, policy: Any, store: Any, executor: Any, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    receiver.status = 503  # the channel is down from the start
    deliverer = deliverer_for(store, tmp_path, receiver=receiver, **EVERYONE_ON_THE_HOOK)
    async with case_on(time_env, policy, store, executor, deliverer=deliverer) as case:
        await case.say("I want to talk to a human")
        first = (await case.view()).offered_to
        await time_env.sleep(timedelta(hours=1))  # an hour down: the timers fire anyway
        moved = await case.view()
        assert moved.state is CaseState.HANDOFF and moved.offered_to not in (None, first)
        expired = [e for e in moved.history if e.trigger.value == "offer_expired"]
        assert len(expired) >= 2  # offer after offer timed out during the outage
        assert receiver.accepted == [] and len(receiver.calls) >= 2
        receiver.status = 200  # back after an hour of (skipped) time
        await time_env.sleep(timedelta(minutes=10))
        await case.accept((await case.view()).offered_to)  # type: ignore[arg-type]
        sent = [r for r in store.deliveries(case.case_id) if r.status == "sent"]
    keys = Counter(c.headers["Idempotency-Key"] for c in receiver.accepted)
    assert keys and all(n == 1 for n in keys.values()), keys  # each message once
    assert set(keys) == {r.key for r in sent}
    events = {c.json["data"]["event"] for c in receiver.accepted}
    assert {"case_escalated", "case_offered", "handoff_customer_offered"} <= events
    offers = [
        c.json["data"] for c in receiver.accepted if c.json["data"]["event"] == "case_offered"
    ]
    assert {first, moved.offered_to} <= {o["recipient"] for o in offers}
    assert all("Conversation (1 messages)" in o["text"] for o in offers)


async def test_a_delivery_that_cannot_succeed_is_on_the_case(
    time_env: Any, policy: Any, store: Any, executor: Any, receiver: WebhookReceiver, tmp_path: Path
) -> None:
    receiver.status = 404  # the agents' webhook is gone: retrying cannot help
    book = {"kinds": {"agent": [{"channel": "hook"}]}}  # and no endpoint for teams
    deliverer = deliverer_for(store, tmp_path, receiver=receiver, **book)
    async with case_on(time_env, policy, store, executor, deliverer=deliverer) as case:
        await case.say("I want to talk to a human")
        await time_env.sleep(timedelta(seconds=30))
        view = await case.view()
        assert view.state is CaseState.HANDOFF  # the case goes on
        failures = {f.recipient: f for f in view.notification_failures}
        assert failures[view.offered_to].error == "HTTP 404: no"  # type: ignore[index]
        assert failures[view.offered_to].at is not None  # type: ignore[index]
        team = view.assigned_team
        assert failures[team].error == f"no endpoint for team {team}"  # type: ignore[index]
        recorded = [e for e in view.history if e.trigger.value == "notification_failed"]
        assert len(recorded) == len(view.notification_failures)
        assert any("HTTP 404" in e.cause for e in recorded)
        await time_env.sleep(timedelta(minutes=6))  # the timers still run
        assert (await case.view()).offered_to != view.offered_to
    assert len([c for c in receiver.calls if c.json["data"]["event"] == "case_offered"]) == 2
