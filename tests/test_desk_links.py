"""One-click links from the e-mails (an offer, a request for approval): signed, expiring,
for the person they were sent to, usable once; through the real SMTP test server, dev
server, worker and desk."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from baton.desk.app import Desk, create_app
from baton.desk.links import SALT, LinkError, OfferLinks
from baton.store.accounts import AccountStore
from baton.store.cases import CaseStore
from baton.store.directory import DirectoryStore
from baton.temporal.client import BatonClient
from domain.states import CaseState, Tier
from tests.conftest import ask_management_approval, new_case, running_worker
from tests.servers import SmtpReceiver, deliverer_for, example, free_port, serving
from tests.test_desk import _csrf

pytestmark = pytest.mark.usefixtures("notification_secrets")
SECRET = "k" * 48
PASSWORD = "correct horse battery"


def test_only_offers_and_requests_for_approval_carry_links(policy: Any) -> None:
    links = OfferLinks(SECRET, "http://desk.example/")
    offer = example(policy, "case_offered")
    made = links.for_notification(offer)
    assert made is not None and set(made) == {"accept", "decline", "open"}
    assert made["open"] == f"http://desk.example/cases/{offer.case_id}"
    claim = links.read(made["accept"].rsplit("/", 1)[1])
    assert (claim.case_id, claim.person, claim.action) == (offer.case_id, offer.recipient, "accept")
    asking = example(policy, "approval_requested")
    made = links.for_notification(asking)
    assert made is not None and set(made) == {"approve", "deny", "open"}
    claim = links.read(made["deny"].rsplit("/", 1)[1])
    assert (claim.person, claim.action) == (asking.recipient, "deny")
    assert links.for_notification(example(policy, "case_escalated")) is None
    assert links.for_notification(example(policy, "approval_decided")) is None


@pytest.mark.parametrize("kind", ["tampered", "other secret", "expired", "unknown action"])
def test_a_link_not_made_here_or_too_old_is_refused(policy: Any, kind: str) -> None:
    links = OfferLinks(SECRET, "http://desk.example")
    token = links.for_notification(example(policy, "case_offered"))["accept"].rsplit("/", 1)[1]  # type: ignore[index]
    if kind == "tampered":
        token = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")
    elif kind == "other secret":
        token = URLSafeTimedSerializer("x" * 48, salt=SALT).dumps(["C-1", "anna", "accept", "n"])
    elif kind == "expired":
        token = _old_token(["C-1", "anna", "accept", "n"])
    else:
        token = URLSafeTimedSerializer(SECRET, salt=SALT).dumps(["C-1", "anna", "resolve", "n"])
    with pytest.raises(LinkError) as refused:
        links.read(token)
    assert refused.value.reason == ("expired" if kind == "expired" else "invalid")


def _old_token(claim: list[str]) -> str:
    """A link signed here two days ago."""

    class TwoDaysAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 2 * 86400

    return URLSafeTimedSerializer(SECRET, salt=SALT, signer=TwoDaysAgo).dumps(claim)


@dataclass
class Offer:
    url: str
    client: BatonClient
    case_id: str
    agent: str
    accept: str
    decline: str
    other: str
    """Another agent, with a desk password."""
    smtp: SmtpReceiver


@pytest.fixture
async def offer(
    dev_env: Any, policy: Any, store: CaseStore, executor: Any, tmp_path: Path
) -> AsyncIterator[Offer]:
    """A case offered to an agent whose e-mail arrived at the SMTP test server, and the
    desk its links point to."""
    smtp = SmtpReceiver().start()
    port = free_port()
    links = OfferLinks(SECRET, f"http://127.0.0.1:{port}")
    by_mail = [{"channel": "email", "to": "{id}@example.com"}]
    to_agents = {"agent": by_mail, "supervisor": by_mail}
    deliverer = deliverer_for(store, tmp_path, smtp, links=links.for_notification, kinds=to_agents)
    try:
        async with running_worker(
            dev_env.client, policy, store, executor, deliverer=deliverer
        ) as w:
            client = BatonClient(dev_env.client, w.task_queue)
            case = new_case()
            await client.start_case(case)
            message = {"message_id": "m1", "author": "customer", "text": "talk to a human"}
            await client.post_message(case.case_id, message)
            agent = (await client.case(case.case_id)).offered_to
            assert agent is not None
            mail = await _mail_to(smtp, f"{agent}@example.com")
            body = mail.get_content()
            accept = re.search(r"Accept: +(\S+)", body)
            decline = re.search(r"Decline: +(\S+)", body)
            assert accept and decline, body
            directory = DirectoryStore(store.engine)
            accounts = AccountStore(store.engine)
            other = next(a.id for a in directory.directory().agents if a.id != agent)
            accounts.set_password(other, PASSWORD)
            desk = Desk(client, store, accounts, directory, links=links)
            async with serving(create_app(desk, SECRET), port) as url:
                yield Offer(
                    url,
                    client,
                    case.case_id,
                    agent,
                    accept.group(1),
                    decline.group(1),
                    other,
                    smtp,
                )
    finally:
        await deliverer.close()
        smtp.stop()


async def _mail_to(smtp: SmtpReceiver, address: str, subject: str = "") -> Any:
    for _ in range(200):
        for mail in smtp.messages:
            if mail["To"] == address and subject in mail["Subject"]:
                return mail
        await asyncio.sleep(0.05)
    raise AssertionError(f"no e-mail reached {address}")


async def test_the_accept_link_works_once_and_only_by_its_button(offer: Offer) -> None:
    async with httpx.AsyncClient() as browser:
        page = await browser.get(offer.accept)  # what a mail scanner does too
        assert page.status_code == 200 and f"Accept case {offer.case_id}" in page.text
        assert (await offer.client.case(offer.case_id)).state is CaseState.HANDOFF
        done = await browser.post(offer.accept, data={"csrf": _csrf(page.text)})
        assert done.status_code == 200 and "the case is yours" in done.text
        view = await offer.client.case(offer.case_id)
        assert (view.state, view.assigned_agent) == (CaseState.HUMAN_HANDLING, offer.agent)
        again = await browser.post(offer.accept, data={"csrf": _csrf(page.text)})
        assert again.status_code == 410 and "already been used" in again.text
        assert (await browser.get(offer.accept)).status_code == 410
        late = await browser.get(offer.decline)
        assert late.status_code == 200
        refused = await browser.post(offer.decline, data={"csrf": _csrf(late.text)})
        assert refused.status_code == 409 and "no longer offered" in refused.text
    assert (await offer.client.case(offer.case_id)).state is CaseState.HUMAN_HANDLING


async def test_the_decline_link_passes_the_case_on(offer: Offer) -> None:
    async with httpx.AsyncClient() as browser:
        page = await browser.get(offer.decline)
        done = await browser.post(offer.decline, data={"csrf": _csrf(page.text)})
        assert done.status_code == 200 and "next agent" in done.text
    assert (await offer.client.case(offer.case_id)).offered_to != offer.agent


@pytest.mark.parametrize("forgery", ["tampered", "expired", "someone else", "no form token"])
async def test_a_forged_expired_or_borrowed_link_changes_nothing(
    offer: Offer, forgery: str
) -> None:
    async with httpx.AsyncClient(base_url=offer.url) as browser:
        url, status, says = offer.accept, 404, "not valid"
        if forgery == "tampered":
            url = offer.accept[:-4] + ("AAAA" if not offer.accept.endswith("AAAA") else "BBBB")
        elif forgery == "expired":
            url = f"{offer.url}/l/{_old_token([offer.case_id, offer.agent, 'accept', 'n'])}"
            status, says = 410, "expired"
        elif forgery == "someone else":  # signed in as another agent, holding the link
            form = await browser.get("/login")
            login = {"csrf": _csrf(form.text), "person": offer.other, "password": PASSWORD}
            assert (await browser.post("/login", data=login)).status_code == 303
            status, says = 403, "someone else"
        token = _csrf((await browser.get("/login")).text)  # this session's form token
        page = await browser.get(url)
        if forgery == "no form token":
            status, says, token = 403, "stale", ""
        else:
            assert page.status_code == status and says in page.text
        answer = await browser.post(url, data={"csrf": token})
        assert answer.status_code == status and says in answer.text
    view = await offer.client.case(offer.case_id)
    assert (view.state, view.offered_to) == (CaseState.HANDOFF, offer.agent)


async def test_the_request_for_approval_arrives_by_mail_and_its_link_approves(
    offer: Offer,
) -> None:
    client, case_id = offer.client, offer.case_id
    await ask_management_approval(client, case_id, offer.agent)
    mail = await _mail_to(offer.smtp, "head-of-service@example.com", "Approve the escalation")
    body = mail.get_content()
    approve = re.search(r"Approve: +(\S+)", body)
    deny = re.search(r"Deny \(with a reason\): +(\S+)", body)
    assert approve and deny, body
    assert "refund above my limit" in body
    async with httpx.AsyncClient() as browser:
        page = await browser.get(approve.group(1))
        assert page.status_code == 200 and f"Approve the escalation of case {case_id}" in page.text
        done = await browser.post(approve.group(1), data={"csrf": _csrf(page.text)})
        assert done.status_code == 200 and "goes up to management" in done.text
    view = await client.case(case_id)
    assert (view.tier, view.assigned_team, view.pending_approval) == (
        Tier.MANAGEMENT,
        "support-management",
        None,
    )
