"""Supervisors in the desk: a team's supervisor gives a case to another agent; the
supervisor an escalation to management waits for sees it, approves or denies it with a
reason on the case page or from the notification's links; nobody else can. Against
the real dev server, worker, store and (once) Chromium."""

# ruff: noqa: F811 (the tests take test_desk's ``rig`` fixture, imported by name)
from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
from playwright.async_api import async_playwright, expect

from baton.desk.links import OfferLinks
from baton.store.directory import DirectoryStore
from domain.directory import Presence
from domain.models import CaseView
from domain.states import CaseState, Tier
from tests.conftest import ask_management_approval
from tests.servers import example
from tests.test_desk import PASSWORD, Rig, _csrf, _signed_in, rig, sign_in_page  # noqa: F401
from tests.test_web_ui import ARTIFACTS, CHROMIUM, chromium_or_skip

HEAD = "head-of-service"
"""The supervisor of the customer-support path's management tier."""


async def test_the_teams_supervisor_gives_the_case_to_another_agent(rig: Rig) -> None:
    await rig.client.accept(rig.case_id, rig.agent)
    async with _signed_in(rig, rig.agent) as agent:
        page = await agent.get(f"/cases/{rig.case_id}")
        assert 'action="/cases/' + rig.case_id + '/reassign"' not in page.text
        answer = await agent.post(
            f"/cases/{rig.case_id}/reassign",
            data={"csrf": _csrf(page.text), "agent": rig.other, "reason": "mine to give"},
        )
        assert answer.status_code == 403
    async with _signed_in(rig, rig.supervisor) as supervisor:
        page = await supervisor.get(f"/cases/{rig.case_id}")
        options = re.findall(r'<option value="([^"]+)"', page.text)
        assert options and rig.agent not in options  # the holder is no choice
        chosen = options[-1]
        answer = await supervisor.post(
            f"/cases/{rig.case_id}/reassign",
            data={"csrf": _csrf(page.text), "agent": chosen, "reason": "on leave"},
        )
        assert answer.status_code == 303
    view = await rig.view()
    assert (view.state, view.offered_to) == (CaseState.HANDOFF, chosen)
    assert any(
        e.cause == f"reassigned by {rig.supervisor} to {chosen}: on leave" for e in view.history
    )


async def test_the_queue_shows_a_waiting_cases_place_in_line(rig: Rig) -> None:
    directory = DirectoryStore(rig.store.engine)
    for agent in directory.directory().agents:
        directory.set_presence(agent.id, Presence.AWAY)
    view = await rig.client.decline(rig.case_id, rig.agent, "on a call")
    assert view.offered_to is None and view.queue_position == 1
    supervisor = next(
        t.supervisor for t in directory.directory().teams if t.id == view.assigned_team
    )
    rig.desk.accounts.set_password(supervisor, PASSWORD)
    async with _signed_in(rig, supervisor) as browser:
        for _ in range(100):  # the queue reads the store
            queue = await browser.get("/team")
            if "place 1 in line" in queue.text:
                break
            await asyncio.sleep(0.05)
        row = re.search(rf'<tr data-case="{rig.case_id}">.*?</tr>', queue.text, re.S)
        assert row is not None, queue.text
        assert "waiting for an agent · place 1 in line" in row.group(0), row.group(0)


async def _waiting_for_head(rig: Rig) -> CaseView:
    """The rig's case taken by its agent, sent up to the specialists by hand, taken there,
    and sent up again: it waits for the head of service, on record."""
    view = await ask_management_approval(rig.client, rig.case_id, rig.agent)
    assert view.pending_approval is not None and view.pending_approval.supervisor == HEAD
    rig.desk.accounts.set_password(HEAD, PASSWORD)
    rig.desk.accounts.set_password("lead-specialists", PASSWORD)
    for _ in range(200):  # the approver's inbox reads the store
        row = rig.store.case(rig.case_id)
        if row is not None and row.approver == HEAD:
            return view
        await asyncio.sleep(0.05)
    raise AssertionError("the request for approval never reached the store")


async def test_the_approver_decides_and_nobody_else_can(rig: Rig) -> None:
    waiting = await _waiting_for_head(rig)
    specialist = waiting.assigned_agent
    assert specialist is not None
    rig.desk.accounts.set_password(specialist, PASSWORD)
    async with _signed_in(rig, "lead-specialists") as asker:
        for _ in range(100):
            queue = await asker.get("/team")
            if f"waits for {HEAD}" in queue.text:
                break
            await asyncio.sleep(0.05)
        assert f"The escalation to support-management waits for {HEAD}" in queue.text
    for person in (specialist, "lead-specialists"):
        async with _signed_in(rig, person) as other:
            page = await other.get(f"/cases/{rig.case_id}")
            assert page.status_code == 200
            assert f"waits for {HEAD}" in page.text and 'value="approve"' not in page.text
            token = _csrf(page.text)
            answer = await other.post(
                f"/cases/{rig.case_id}/approval", data={"csrf": token, "decision": "approve"}
            )
            assert answer.status_code == 403
    async with _signed_in(rig, HEAD) as head:
        inbox = await head.get("/")
        assert "Escalations waiting for your approval" in inbox.text
        assert f'href="/cases/{rig.case_id}"' in inbox.text
        page = await head.get(f"/cases/{rig.case_id}")
        token = _csrf(page.text)
        answer = await head.post(
            f"/cases/{rig.case_id}/approval", data={"csrf": token, "decision": "deny"}
        )
        assert answer.status_code == 409 and "needs a reason" in answer.text
        answer = await head.post(
            f"/cases/{rig.case_id}/approval", data={"csrf": token, "decision": "maybe"}
        )
        assert answer.status_code == 409 and "approve or deny" in answer.text
        assert (await rig.view()).pending_approval is not None  # refused: nothing changed
        answer = await head.post(
            f"/cases/{rig.case_id}/approval",
            data={"csrf": token, "decision": "deny", "reason": "offer a voucher first"},
        )
        assert answer.status_code == 303 and answer.headers["location"] == "/"
        # Denied, the case stays with the specialists: no longer the head's to see.
        assert (await head.get(f"/cases/{rig.case_id}")).status_code == 404
    view = await rig.view()
    assert (view.state, view.tier, view.assigned_agent) == (
        CaseState.HUMAN_HANDLING,
        Tier.SPECIALIST,
        specialist,
    )
    assert view.history[-1].cause == f"denied by {HEAD}: offer a voucher first"


async def test_the_notifications_links_approve_once_and_deny_only_with_a_reason(
    rig: Rig, policy: Any
) -> None:
    await _waiting_for_head(rig)
    links = OfferLinks("l" * 48, rig.url)
    rig.desk.links = links
    asking = example(policy, "approval_requested").model_copy(
        update={"case_id": rig.case_id, "recipient": HEAD, "key": f"{rig.case_id}/9/a/{HEAD}"}
    )
    made = links.for_notification(asking)
    assert made is not None
    async with httpx.AsyncClient() as browser:
        page = await browser.get(made["deny"])
        assert page.status_code == 200 and "required" in page.text
        answer = await browser.post(made["deny"], data={"csrf": _csrf(page.text)})
        assert answer.status_code == 400 and "A denial needs a reason." in answer.text
        assert (await rig.view()).pending_approval is not None
        page = await browser.get(made["approve"])
        answer = await browser.post(made["approve"], data={"csrf": _csrf(page.text)})
        assert answer.status_code == 200 and "the case goes up to management" in answer.text
        assert (await browser.get(made["approve"])).status_code == 410  # used
        page = await browser.get(made["deny"])  # unused, but nothing waits any more
        answer = await browser.post(
            made["deny"], data={"csrf": _csrf(page.text), "reason": "too late"}
        )
        assert answer.status_code == 409 and "no longer waits" in answer.text
    view = await rig.view()
    assert (view.tier, view.pending_approval) == (Tier.MANAGEMENT, None)
    assert any(e.cause == f"approved by {HEAD}" for e in view.history)


async def test_in_a_browser_a_supervisor_approves_a_management_escalation(rig: Rig) -> None:
    chromium_or_skip()
    await _waiting_for_head(rig)
    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = await browser.new_page(locale="en-GB")
            await sign_in_page(page, rig.url, HEAD)
            waiting = page.get_by_role("region", name="Escalations waiting for your approval")
            await expect(waiting).to_contain_text("refund above my limit")
            await page.screenshot(path=str(ARTIFACTS / "desk-approvals.png"))
            await waiting.get_by_role("link", name=rig.case_id).click()
            await expect(page.get_by_text(f"waits for {HEAD}'s approval")).to_be_visible()
            await page.get_by_label("Reason (required to deny)").fill("large refund, agreed")
            await page.screenshot(path=str(ARTIFACTS / "desk-approval.png"), full_page=True)
            await page.get_by_role("button", name="Approve").click()
            await expect(page).to_have_url(f"{rig.url}/")
        finally:
            await browser.close()
    view = await rig.view()
    assert (view.tier, view.assigned_team, view.pending_approval) == (
        Tier.MANAGEMENT,
        "support-management",
        None,
    )
    assert any(e.cause == f"approved by {HEAD}: large refund, agreed" for e in view.history)
