"""The offer in Slack and Teams: buttons carrying the signed links, and the desk's
Slack interactivity endpoint checking Slack's request signature and timestamp as Slack
documents them; against the real dev server, worker, a real HTTP receiver and the desk."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from baton.desk.app import Desk, create_app
from baton.desk.links import OfferLinks
from baton.store.accounts import AccountStore
from baton.store.cases import CaseStore
from baton.store.directory import DirectoryStore
from baton.temporal.client import BatonClient
from domain.states import CaseState
from tests.conftest import new_case, running_worker
from tests.servers import WebhookReceiver, deliverer_for, free_port, serving

pytestmark = pytest.mark.usefixtures("notification_secrets")
SECRET = "k" * 48
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # Slack's documentation example
MEMBER = "U024BE7LH"


@dataclass
class SlackOffer:
    desk: str
    client: BatonClient
    receiver: WebhookReceiver
    case_id: str
    agent: str
    message: dict[str, Any]
    """What Slack received: the offer with its buttons."""
    card: dict[str, Any]
    """What Teams received."""

    def button(self, action: str) -> dict[str, Any]:
        (actions,) = [b for b in self.message["blocks"] if b["type"] == "actions"]
        return next(e for e in actions["elements"] if e["action_id"] == f"baton_{action}")


@pytest.fixture
async def slack_offer(
    dev_env: Any, policy: Any, store: CaseStore, executor: Any, tmp_path: Path
) -> AsyncIterator[SlackOffer]:
    receiver = WebhookReceiver().start()
    port = free_port()
    links = OfferLinks(SECRET, f"http://127.0.0.1:{port}")
    to_agents = {"agent": [{"channel": "slack"}, {"channel": "teams"}]}
    deliverer = deliverer_for(
        store, tmp_path, receiver=receiver, links=links.for_notification, kinds=to_agents
    )
    directory = DirectoryStore(store.engine)
    try:
        worker = running_worker(dev_env.client, policy, store, executor, deliverer=deliverer)
        async with worker as w:
            client = BatonClient(dev_env.client, w.task_queue)
            case = new_case()
            await client.start_case(case)
            message = {"message_id": "m1", "author": "customer", "text": "talk to a human"}
            await client.post_message(case.case_id, message)
            agent = (await client.case(case.case_id)).offered_to
            assert agent is not None
            known = directory.directory()
            agents = [
                a.model_copy(update={"slack_user": MEMBER}) if a.id == agent else a
                for a in known.agents
            ]
            directory.replace(known.model_copy(update={"agents": agents}))
            slack, card = await _offer_received(receiver)
            desk = Desk(
                client,
                store,
                AccountStore(store.engine),
                directory,
                links=links,
                slack_signing_secret=SIGNING_SECRET,
            )
            async with serving(create_app(desk, SECRET), port) as url:
                yield SlackOffer(url, client, receiver, case.case_id, agent, slack, card)
    finally:
        await deliverer.close()
        receiver.stop()


async def _offer_received(receiver: WebhookReceiver) -> tuple[dict[str, Any], dict[str, Any]]:
    for _ in range(200):
        slack = [c.json for c in receiver.accepted if c.path == "/slack"]
        teams = [c.json for c in receiver.accepted if c.path == "/teams"]
        if slack and teams:
            return slack[0], teams[0]["attachments"][0]["content"]
        await asyncio.sleep(0.05)
    raise AssertionError("the offer never reached Slack and Teams")


def _signed(body: str, at: int | None = None, secret: str = SIGNING_SECRET) -> dict[str, str]:
    """Headers as Slack signs a request: v0=HMAC-SHA256(secret, "v0:<ts>:<body>")."""
    timestamp = str(at if at is not None else int(time.time()))
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256)
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": f"v0={digest.hexdigest()}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def _click(offer: SlackOffer, action: str, member: str = MEMBER) -> str:
    """The body Slack posts when ``member`` clicks the offer's ``action`` button."""
    button = offer.button(action)
    payload = {
        "type": "block_actions",
        "user": {"id": member},
        "response_url": offer.receiver.url("/slack"),  # Slack's answer hook, here
        "actions": [{"action_id": button["action_id"], "value": button["value"]}],
    }
    return urlencode({"payload": json.dumps(payload)})


def _answers(offer: SlackOffer) -> list[dict[str, Any]]:
    """What the desk told Slack through the click's response URL."""
    calls = [c.json for c in offer.receiver.accepted if c.path == "/slack"]
    return [c for c in calls if "replace_original" in c]


async def test_the_offer_carries_buttons_in_slack_and_links_in_teams(
    slack_offer: SlackOffer,
) -> None:
    assert slack_offer.button("accept")["style"] == "primary"
    assert slack_offer.button("open")["url"].endswith(f"/cases/{slack_offer.case_id}")
    titles = [a["title"] for a in slack_offer.card["actions"]]
    assert titles == ["Accept", "Decline", "Open in the desk"]
    assert all(a["url"].startswith(slack_offer.desk) for a in slack_offer.card["actions"])


async def test_the_agent_accepts_in_slack_once(slack_offer: SlackOffer) -> None:
    body = _click(slack_offer, "accept")
    async with httpx.AsyncClient(base_url=slack_offer.desk) as slack:
        answer = await slack.post("/slack/actions", content=body, headers=_signed(body))
        assert answer.status_code == 200
        view = await slack_offer.client.case(slack_offer.case_id)
        assert (view.state, view.assigned_agent) == (CaseState.HUMAN_HANDLING, slack_offer.agent)
        (done,) = _answers(slack_offer)
        assert done["replace_original"] is True and "the case is yours" in done["text"]
        again = await slack.post("/slack/actions", content=body, headers=_signed(body))
        assert again.status_code == 200
    refused = _answers(slack_offer)[-1]
    assert refused["response_type"] == "ephemeral" and "no longer offered" in refused["text"]


@pytest.mark.parametrize("forgery", ["wrong secret", "old timestamp", "another member"])
async def test_a_forged_or_stale_slack_request_changes_nothing(
    slack_offer: SlackOffer, forgery: str
) -> None:
    member = "U0OTHER42" if forgery == "another member" else MEMBER
    body = _click(slack_offer, "accept", member)
    headers = _signed(body)
    if forgery == "wrong secret":
        headers = _signed(body, secret="not-the-signing-secret")
    elif forgery == "old timestamp":  # a captured request replayed ten minutes later
        headers = _signed(body, at=int(time.time()) - 600)
    async with httpx.AsyncClient(base_url=slack_offer.desk) as slack:
        answer = await slack.post("/slack/actions", content=body, headers=headers)
    if forgery == "another member":
        assert answer.status_code == 200
        assert "someone else" in _answers(slack_offer)[-1]["text"]
    else:
        assert answer.status_code == 401 and _answers(slack_offer) == []
    view = await slack_offer.client.case(slack_offer.case_id)
    assert (view.state, view.offered_to) == (CaseState.HANDOFF, slack_offer.agent)
