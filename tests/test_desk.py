"""The agents' desk against the real dev server, worker and store, over HTTP: sign-in,
CSRF, rate limits, who may see and accept what, German and English; and a real
browser (Debian's Chromium driven by Playwright) accepting an offer."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from baton.desk.app import Desk, TrustedProxy, create_app
from baton.reports import learning
from baton.store.accounts import AccountStore
from baton.store.cases import CaseStore
from baton.store.directory import DirectoryStore
from baton.store.ratings import RatingStore
from baton.temporal.client import BatonClient
from domain.learning import LearningProposal
from domain.models import CaseView
from domain.states import CaseState
from tests.conftest import detector_for, new_case, running_worker
from tests.servers import serving
from tests.test_web_ui import ARTIFACTS, CHROMIUM

PASSWORD = "correct horse battery"
IDENTITY = "X-Forwarded-User"
LEAD = "lena"
"""A support lead: no agent, no supervisor."""


@dataclass
class Rig:
    """A desk on a free loopback port, the worker behind it, and a case in HANDOFF."""

    url: str
    client: BatonClient
    store: CaseStore
    case_id: str
    agent: str
    """The agent the case is offered to."""
    other: str
    """Another agent of the directory."""
    supervisor: str
    """The supervisor of the case's team."""
    desk: Desk

    async def view(self) -> CaseView:
        return await self.client.case(self.case_id)


@pytest.fixture
async def rig(dev_env: Any, policy: Any, store: CaseStore, executor: Any) -> AsyncIterator[Rig]:
    async with running_worker(dev_env.client, policy, store, executor) as worker:
        client = BatonClient(dev_env.client, worker.task_queue)
        case = new_case()
        await client.start_case(case)
        message = {"message_id": "m1", "author": "customer", "text": "talk to a human"}
        assert (await client.post_message(case.case_id, message)).state is CaseState.HANDOFF
        offered = await client.case(case.case_id)
        agent = offered.offered_to
        assert agent is not None
        directory = DirectoryStore(store.engine)
        other = next(a.id for a in directory.directory().agents if a.id != agent)
        supervisor = next(
            t.supervisor for t in directory.directory().teams if t.id == offered.assigned_team
        )
        accounts = AccountStore(store.engine)
        for person in (agent, other, supervisor):
            accounts.set_password(person, PASSWORD)
        await _until_stored(store, case.case_id, agent)
        accounts.set_password(LEAD, PASSWORD, lead=True)
        causes = list(policy.follow_up.root_causes)
        desk = Desk(client, store, accounts, directory, causes, detector_for(policy))
        desk.proxy = TrustedProxy(IDENTITY, frozenset({"127.0.0.1"}))
        desk.policy = policy
        async with serving(create_app(desk, "s" * 48, poll_seconds=0.5)) as url:
            yield Rig(url, client, store, case.case_id, agent, other, supervisor, desk)


async def _until_stored(store: CaseStore, case_id: str, agent: str) -> None:
    """The handoff's record (written with its offer) is in the store."""
    for _ in range(200):
        row = store.case(case_id)
        if row and CaseView.model_validate_json(row.view_json).offered_to == agent:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the offer never reached the store")


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "no CSRF token on the page"
    return found.group(1)


@asynccontextmanager
async def _signed_in(
    rig: Rig, person: str, language: str = "en"
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client signed in as ``person`` (its cookies are the session)."""
    headers = {"Accept-Language": language}
    async with httpx.AsyncClient(base_url=rig.url, headers=headers) as browser:
        form = await browser.get("/login")
        answer = await browser.post(
            "/login", data={"csrf": _csrf(form.text), "person": person, "password": PASSWORD}
        )
        assert answer.status_code == 303 and answer.headers["location"] == "/"
        yield browser


async def sign_in_page(page: Any, url: str, person: str) -> None:
    """Sign ``person`` in on a Playwright ``page`` through the English sign-in form."""
    await page.goto(f"{url}/login")
    await page.get_by_label("Your id").fill(person)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()


async def test_a_wrong_password_signs_nobody_in(rig: Rig) -> None:
    async with httpx.AsyncClient(base_url=rig.url) as browser:
        form = await browser.get("/login")
        assert form.headers["x-frame-options"] == "DENY"
        answer = await browser.post(
            "/login", data={"csrf": _csrf(form.text), "person": rig.agent, "password": "guess"}
        )
        assert answer.status_code == 401 and "do not match" in answer.text
        inbox = await browser.get("/")
        assert inbox.status_code == 303 and inbox.headers["location"] == "/login"
        unknown = await browser.post(
            "/login", data={"csrf": _csrf(form.text), "person": "nobody", "password": PASSWORD}
        )
        assert unknown.status_code == 401 and "do not match" in unknown.text


async def test_sign_in_attempts_are_limited_per_address_and_person(rig: Rig) -> None:
    async with httpx.AsyncClient(base_url=rig.url) as browser:
        token = _csrf((await browser.get("/login")).text)
        for _ in range(5):
            wrong = {"csrf": token, "person": rig.agent, "password": "guess"}
            assert (await browser.post("/login", data=wrong)).status_code == 401
        right = {"csrf": token, "person": rig.agent, "password": PASSWORD}
        answer = await browser.post("/login", data=right)
        assert answer.status_code == 429 and "Too many" in answer.text
        other = {"csrf": token, "person": rig.other, "password": PASSWORD}
        assert (await browser.post("/login", data=other)).status_code == 303


async def test_an_agent_sees_and_accepts_their_own_offer(rig: Rig) -> None:
    async with _signed_in(rig, rig.agent) as browser:
        inbox = await browser.get("/")
        assert inbox.status_code == 200 and rig.case_id in inbox.text
        page = await browser.get(f"/cases/{rig.case_id}")
        assert page.status_code == 200 and "talk to a human" in page.text
        answer = await browser.post(f"/cases/{rig.case_id}/accept", data={"csrf": _csrf(page.text)})
        assert answer.status_code == 303
        view = await rig.view()
        assert (view.state, view.assigned_agent) == (CaseState.HUMAN_HANDLING, rig.agent)
        page = await browser.get(f"/cases/{rig.case_id}")
        assert 'data-field="state">HUMAN_HANDLING' in page.text


async def test_the_owner_replies_and_resolves_with_the_follow_up(rig: Rig) -> None:
    async with _signed_in(rig, rig.agent) as browser:
        page = await browser.get(f"/cases/{rig.case_id}")
        await browser.post(f"/cases/{rig.case_id}/accept", data={"csrf": _csrf(page.text)})
        page = await browser.get(f"/cases/{rig.case_id}")
        message_id = re.search(r'name="message_id" value="([^"]+)"', page.text)
        assert message_id, "no reply form for the owner"
        reply = {"csrf": _csrf(page.text), "message_id": message_id.group(1)}
        reply["text"] = "The second charge is refunded."
        for _ in range(2):  # a double submit posts once
            answer = await browser.post(f"/cases/{rig.case_id}/reply", data=reply)
            assert answer.status_code == 303
        view = await rig.view()
        replies = [m for m in view.recent_messages if m.author.value == "agent"]
        assert [m.text for m in replies] == ["The second charge is refunded."]
        form = {
            "csrf": _csrf(page.text),
            "resolution": "refunded the second charge",
            "root_cause": "billing_error",
            "escalation_necessary": "yes",
            "timing": "on_time",
            "lesson": "refund double charges at once",
        }
        bad = form | {"root_cause": ""}
        refused = await browser.post(f"/cases/{rig.case_id}/resolve", data=bad)
        assert refused.status_code == 409 and "root_cause" in refused.text
        assert (await rig.view()).state is CaseState.HUMAN_HANDLING  # nothing moved
        answer = await browser.post(f"/cases/{rig.case_id}/resolve", data=form)
        assert answer.status_code == 303
    view = await rig.view()
    assert view.state is CaseState.CLOSED and view.follow_up is not None
    assert (view.follow_up.root_cause, view.follow_up.lesson) == (
        "billing_error",
        "refund double charges at once",
    )


async def test_the_receiver_rates_the_handoff_and_the_lead_sees_its_quality(rig: Rig) -> None:
    ratings = RatingStore(rig.store.engine)
    async with _signed_in(rig, rig.agent) as browser:
        page = await browser.get(f"/cases/{rig.case_id}")
        assert "Rate this handoff" not in page.text  # not theirs yet
        await browser.post(f"/cases/{rig.case_id}/accept", data={"csrf": _csrf(page.text)})
        page = await browser.get(f"/cases/{rig.case_id}")
        assert "Rate this handoff" in page.text
        rating = {"csrf": _csrf(page.text), "package_enough": "no", "asked_again": "yes"}
        rating["missing"] = "the invoice number"
        answer = await browser.post(f"/cases/{rig.case_id}/rating", data=rating)
        assert answer.status_code == 303
    async with _signed_in(rig, rig.other) as other:
        token = _csrf((await other.get("/")).text)
        forged = {"csrf": token, "package_enough": "yes", "asked_again": "no"}
        assert (await other.post(f"/cases/{rig.case_id}/rating", data=forged)).status_code == 404
    (stored,) = ratings.ratings([rig.case_id])
    assert (stored.by, stored.package_enough, stored.asked_again, stored.missing) == (
        rig.agent,
        False,
        True,
        "the invoice number",
    )
    async with _signed_in(rig, LEAD) as lead:
        report = await lead.get("/report")
    assert 'id="handoff-quality-reason"' in report.text
    assert "explicit_human_request" in report.text


async def test_an_expert_answers_the_ais_question_in_the_desk(rig: Rig, policy: Any) -> None:
    case = new_case(subject="Export")
    await rig.client.start_case(case)
    text = "It would be great if you could add a feature to export invoices as CSV"
    message = {"message_id": "m1", "author": "customer", "text": text}
    await rig.client.post_message(case.case_id, message)
    asked = await rig.client.case(case.case_id)
    assert (asked.state, asked.consulted) == (CaseState.AI_HANDLING, ["innovation_request"])
    team = policy.path(policy.reasons["innovation_request"].path).tiers[0].team
    directory = DirectoryStore(rig.store.engine).directory()
    expert = next(a.id for a in directory.agents if a.team == team)
    AccountStore(rig.store.engine).set_password(expert, PASSWORD)
    for _ in range(100):  # the consult's record (a move to level 1) is written at once
        row = rig.store.case(case.case_id)
        if row and row.level == 1:
            break
        await asyncio.sleep(0.05)
    async with _signed_in(rig, rig.other) as outsider:
        assert (await outsider.get(f"/cases/{case.case_id}")).status_code == 404
    async with _signed_in(rig, expert) as browser:
        inbox = await browser.get("/")
        assert "Questions the AI asks your team" in inbox.text and case.case_id in inbox.text
        page = await browser.get(f"/cases/{case.case_id}")
        assert page.status_code == 200 and "export invoices" in page.text
        answer = {"csrf": _csrf(page.text), "reason": "innovation_request"}
        answer["answer"] = "CSV export ships in March; offer the beta."
        assert (
            await browser.post(f"/cases/{case.case_id}/consult", data=answer)
        ).status_code == 303
        again = await browser.get(f"/cases/{case.case_id}")
        assert "Answer the AI" not in again.text  # answered: nothing left to answer
    answered = await rig.client.case(case.case_id)
    assert [(e.by, e.answer) for e in answered.expert_input] == [
        (expert, "CSV export ships in March; offer the beta.")
    ]


async def test_another_agent_can_neither_see_nor_take_the_offer(rig: Rig) -> None:
    async with _signed_in(rig, rig.other) as browser:
        inbox = await browser.get("/")
        assert inbox.status_code == 200 and rig.case_id not in inbox.text
        page = await browser.get(f"/cases/{rig.case_id}")
        assert page.status_code == 404 and "talk to a human" not in page.text
        token = _csrf(inbox.text)
        for action in ("accept", "decline"):
            answer = await browser.post(f"/cases/{rig.case_id}/{action}", data={"csrf": token})
            assert answer.status_code == 404
    view = await rig.view()
    assert (view.state, view.offered_to) == (CaseState.HANDOFF, rig.agent)


@pytest.mark.parametrize("forgery", ["no token", "wrong token", "other origin"])
async def test_a_forged_form_is_refused_and_changes_nothing(rig: Rig, forgery: str) -> None:
    async with _signed_in(rig, rig.agent) as browser:
        token = _csrf((await browser.get("/")).text)
        data = {} if forgery == "no token" else {"csrf": token}
        if forgery == "wrong token":
            data["csrf"] = token[:-2] + "xx"
        headers = {"Origin": "https://evil.example"} if forgery == "other origin" else {}
        answer = await browser.post(f"/cases/{rig.case_id}/accept", data=data, headers=headers)
        assert answer.status_code == 403
    assert (await rig.view()).state is CaseState.HANDOFF


async def test_a_declined_offer_leaves_the_agents_inbox(rig: Rig) -> None:
    async with _signed_in(rig, rig.agent) as browser:
        page = await browser.get(f"/cases/{rig.case_id}")
        data = {"csrf": _csrf(page.text), "reason": "off sick from noon"}
        answer = await browser.post(f"/cases/{rig.case_id}/decline", data=data)
        assert answer.status_code == 303 and answer.headers["location"] == "/"
    view = await rig.view()
    assert view.offered_to != rig.agent
    assert any(e.cause and "off sick" in e.cause for e in view.history)


async def test_a_supervisor_sees_the_queue_escalates_and_sets_presence(rig: Rig) -> None:
    async with _signed_in(rig, rig.agent) as agent:
        assert (await agent.get("/team")).status_code == 403
        token = _csrf((await agent.get("/")).text)
        denied = await agent.post(
            f"/cases/{rig.case_id}/escalate", data={"csrf": token, "reason": "mine"}
        )
        assert denied.status_code == 403
        denied = await agent.post(
            "/team/presence", data={"csrf": token, "agent": rig.agent, "presence": "away"}
        )
        assert denied.status_code == 403
    directory = DirectoryStore(rig.store.engine)
    team_of = {a.id: a.team for a in directory.directory().agents}
    async with _signed_in(rig, rig.supervisor) as browser:
        queue = await browser.get("/team")
        assert queue.status_code == 200 and f'data-case="{rig.case_id}"' in queue.text
        token = _csrf(queue.text)
        answer = await browser.post(
            "/team/presence", data={"csrf": token, "agent": rig.agent, "presence": "away"}
        )
        assert answer.status_code == 303
        agent = next(a for a in directory.directory().agents if a.id == rig.agent)
        assert agent.presence.value == "away"
        supervised = {t.id for t in directory.directory().teams if t.supervisor == rig.supervisor}
        outsider = next(a for a, team in team_of.items() if team not in supervised)
        answer = await browser.post(
            "/team/presence", data={"csrf": token, "agent": outsider, "presence": "away"}
        )
        assert answer.status_code == 403
        before = await rig.view()
        answer = await browser.post(
            f"/cases/{rig.case_id}/escalate", data={"csrf": token, "reason": "needs billing"}
        )
        assert answer.status_code == 303
    after = await rig.view()
    assert after.tier != before.tier or after.level != before.level
    assert any(f"manual escalation by {rig.supervisor}" in e.cause for e in after.history)


async def test_a_page_learns_of_changes_without_a_reload(rig: Rig) -> None:
    async with httpx.AsyncClient(base_url=rig.url) as stranger:
        assert (await stranger.get("/changes", params={"page": "/"})).status_code == 401
    async with _signed_in(rig, rig.other) as other, _signed_in(rig, rig.agent) as browser:

        async def fingerprints() -> tuple[str, str]:
            mine = await browser.get("/changes", params={"page": "/"})
            theirs = await other.get("/changes", params={"page": f"/cases/{rig.case_id}"})
            return mine.json()["fingerprint"], theirs.json()["fingerprint"]

        before = await fingerprints()
        assert before == await fingerprints()  # nothing changed: the same
        await rig.client.accept(rig.case_id, rig.agent)
        for _ in range(100):
            after = await fingerprints()
            if after[0] != before[0]:
                break
            await asyncio.sleep(0.05)
        assert after[0] != before[0], "the agent's inbox never learnt of the accept"
        assert after[1] == before[1], "a case not theirs must tell another agent nothing"


async def test_in_a_browser_the_supervisors_queue_follows_the_case(rig: Rig) -> None:
    from playwright.async_api import async_playwright, expect

    from tests.test_web_ui import chromium_or_skip

    chromium_or_skip()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = await browser.new_page()
            await sign_in_page(page, rig.url, rig.supervisor)
            await page.get_by_role("link", name="Your teams").click()
            row = page.locator(f'[data-case="{rig.case_id}"]')
            await expect(row).to_contain_text("HANDOFF")
            await rig.client.accept(rig.case_id, rig.agent)  # elsewhere: no click here
            await expect(row).to_contain_text("HUMAN_HANDLING", timeout=15_000)
            await expect(row).to_contain_text(rig.agent)
        finally:
            await browser.close()


async def test_a_lead_reads_the_report_and_applies_a_proposal(rig: Rig, policy: Any) -> None:
    proposal = LearningProposal(
        version=f"{policy.version}-desk-test",
        based_on=policy.version,
        since="2026-11-01",
        until="2026-12-01",
        cases=12,
        labelled=9,
        reasons=[],
        thresholds=[],
    )
    assert learning.save(rig.store, proposal, datetime.now(UTC))
    apply_url = f"/proposals/{proposal.version}/apply"
    async with _signed_in(rig, rig.agent) as agent:
        assert (await agent.get("/report")).status_code == 403
        assert (await agent.get("/proposals")).status_code == 403
        token = _csrf((await agent.get("/")).text)
        assert (await agent.post(apply_url, data={"csrf": token})).status_code == 403
    assert rig.store.proposal(proposal.version).status == "proposed"  # type: ignore[union-attr]
    async with _signed_in(rig, LEAD) as lead:
        report = await lead.get("/report")
        assert report.status_code == 200 and "<svg" in report.text
        assert "script-src" not in report.headers["content-security-policy"]
        page = await lead.get("/proposals")
        assert f'data-proposal="{proposal.version}"' in page.text and "12 cases" in page.text
        assert (await lead.post(apply_url, data={"csrf": _csrf(page.text)})).status_code == 303
        assert (await lead.get(f"/cases/{rig.case_id}")).status_code == 404  # no cases
    assert rig.store.proposal(proposal.version).status == "active"  # type: ignore[union-attr]


async def test_an_authenticating_proxy_signs_people_in_from_its_address_only(rig: Rig) -> None:
    async with httpx.AsyncClient(base_url=rig.url, headers={IDENTITY: rig.agent}) as proxied:
        inbox = await proxied.get("/")
        assert inbox.status_code == 200 and rig.case_id in inbox.text  # no password asked
        page = await proxied.get(f"/cases/{rig.case_id}")
        answer = await proxied.post(f"/cases/{rig.case_id}/accept", data={"csrf": _csrf(page.text)})
        assert answer.status_code == 303
    assert (await rig.view()).assigned_agent == rig.agent
    async with httpx.AsyncClient(base_url=rig.url, headers={IDENTITY: "mallory"}) as stranger:
        assert (await stranger.get("/")).headers["location"] == "/login"  # nobody we know
    assert rig.desk.proxy is not None
    rig.desk.proxy = TrustedProxy(IDENTITY, frozenset({"10.9.9.9"}))  # the proxy is elsewhere
    async with httpx.AsyncClient(base_url=rig.url, headers={IDENTITY: rig.agent}) as forged:
        assert (await forged.get("/")).headers["location"] == "/login"


async def test_the_desk_speaks_german_to_a_german_browser(rig: Rig) -> None:
    async with _signed_in(rig, rig.agent, language="de-DE,de;q=0.9,en;q=0.5") as browser:
        inbox = await browser.get("/")
        assert "Fälle, die Ihnen angeboten werden" in inbox.text and 'lang="de"' in inbox.text
        assert "Annehmen" in inbox.text
    async with httpx.AsyncClient(base_url=rig.url, headers={"Accept-Language": "fr"}) as other:
        assert "Sign in" in (await other.get("/login")).text


async def test_signing_out_ends_the_session(rig: Rig) -> None:
    async with _signed_in(rig, rig.agent) as browser:
        token = _csrf((await browser.get("/")).text)
        assert (await browser.post("/logout", data={"csrf": token})).status_code == 303
        assert (await browser.get(f"/cases/{rig.case_id}")).status_code == 303


async def test_in_a_browser_an_agent_signs_in_and_accepts_the_offer(rig: Rig) -> None:
    from playwright.async_api import async_playwright, expect

    from tests.test_web_ui import chromium_or_skip

    chromium_or_skip()
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = await browser.new_page(locale="de-DE")
            await page.goto(f"{rig.url}/login")
            await page.get_by_label("Ihre Kennung").fill(rig.agent)
            await page.get_by_label("Passwort").fill(PASSWORD)
            await page.get_by_role("button", name="Anmelden").click()
            offer = page.get_by_role("link", name=rig.case_id)
            await expect(offer).to_be_visible()
            await page.screenshot(path=str(ARTIFACTS / "desk-offers.png"))
            await page.get_by_role("button", name="Annehmen").click()
            await expect(page.locator('[data-field="state"]')).to_have_text("HUMAN_HANDLING")
            await page.screenshot(path=str(ARTIFACTS / "desk-accepted.png"))
            await page.get_by_label("Ihre Nachricht").fill("Die zweite Abbuchung ist erstattet.")
            await page.get_by_role("button", name="Senden", exact=True).click()
            await expect(page.get_by_text("Die zweite Abbuchung ist erstattet.")).to_be_visible()
            await page.get_by_label("Was das Problem gelöst hat").fill("erstattet")
            await page.get_by_label("Ursache").select_option("billing_error")
            necessary = page.get_by_role("group", name="War die Übergabe an einen Menschen nötig?")
            await necessary.get_by_label("Ja").check()
            await page.get_by_label("Lehre für das nächste Mal").fill("sofort erstatten")
            await page.get_by_role("button", name="Fall lösen").click()
            await expect(page.locator('[data-field="state"]')).to_have_text("CLOSED")
            await page.screenshot(path=str(ARTIFACTS / "desk-closed.png"), full_page=True)
        finally:
            await browser.close()
    view = await rig.view()
    assert (view.state, view.assigned_agent) == (CaseState.CLOSED, rig.agent)
