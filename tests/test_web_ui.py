"""The real Temporal Web UI in headless Chromium (Debian's, installed by `make test`;
Playwright only drives it, it downloads nothing): the case list filtered by CaseState
shows a started case, and its page shows the summary and current details. Screenshots
are kept in tests/artifacts/."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from baton.temporal.client import BatonClient
from baton.temporal.server import dev_server_args, installed_binary
from tests.conftest import new_case, running_worker
from tests.servers import free_port
from workflows import search_attributes

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"


def chromium_or_skip() -> None:
    """Browser tests need Debian's Chromium: missing under CI is a failure (`make test`
    installs it), elsewhere they skip."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            raise AssertionError("chromium is missing: `make test` installs Debian's package")
        pytest.skip("chromium is not installed (make test installs it)")


@pytest.fixture
async def ui_env() -> AsyncIterator[tuple[WorkflowEnvironment, int]]:
    """The dev server with its Web UI on free loopback ports."""
    chromium_or_skip()
    for attempt in range(3):
        # free_port keeps below the ephemeral range, but a port can still be taken
        # before the server binds it (by another program): then start again on new ones.
        ui_port = free_port()
        try:
            env = await WorkflowEnvironment.start_local(
                data_converter=pydantic_data_converter,
                ip="127.0.0.1",
                port=free_port(),
                ui=True,
                ui_port=ui_port,
                search_attributes=search_attributes.ALL,
                dev_server_existing_path=installed_binary("temporal"),
                dev_server_extra_args=dev_server_args(),
            )
            break
        except RuntimeError:
            if attempt == 2:
                raise
    yield env, ui_port
    await env.shutdown()


async def test_the_web_ui_tells_the_case_at_a_glance(
    ui_env: tuple[WorkflowEnvironment, int], policy: Any, store: Any, executor: Any
) -> None:
    from playwright.async_api import async_playwright, expect

    env, ui_port = ui_env
    ARTIFACTS.mkdir(exist_ok=True)
    case = new_case(
        customer={"id": "c-ui", "tier": "vip", "language": "de"},
        subject="Zahlung doppelt abgebucht",
    )
    async with running_worker(env.client, policy, store, executor) as worker:
        client = BatonClient(env.client, worker.task_queue)
        await client.start_case(case)
        text = "Ich möchte einen Mitarbeiter sprechen"
        await client.post_message(
            case.case_id, {"message_id": "m1", "author": "customer", "text": text}
        )
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox"]
            )
            page = await browser.new_page(viewport={"width": 1400, "height": 900})
            query = quote('CaseState = "HANDOFF"')
            base = f"http://127.0.0.1:{ui_port}/namespaces/default"
            await page.goto(f"{base}/workflows?query={query}")
            link = page.get_by_role("link", name=f"case-{case.case_id}")
            await expect(link).to_be_visible(timeout=30_000)
            await page.screenshot(path=str(ARTIFACTS / "ui-cases-in-handoff.png"))

            await link.click()
            await page.get_by_role("tab", name="User Metadata").click()
            # The UI renders user metadata (Markdown) in sandboxed frames.
            summary = f"{case.case_id} · vip · chat · Zahlung doppelt abgebucht"
            details = ("HANDOFF · level 2 · high", "tier: frontline · team: support-frontline")
            static = page.frame_locator("#user-metadata-summary")
            current = page.frame_locator("#user-metadata-current-details")
            await expect(static.get_by_text(summary)).to_be_visible(timeout=30_000)
            for line in details:
                await expect(current.get_by_text(line)).to_be_visible()
            next_deadline = current.get_by_text(
                "next: acceptance timeout, high: 5 min", exact=False
            )
            await expect(next_deadline).to_be_visible()
            await page.screenshot(path=str(ARTIFACTS / "ui-case-summary.png"))
            await browser.close()
        await env.client.get_workflow_handle(f"case-{case.case_id}").terminate()
    assert (ARTIFACTS / "ui-case-summary.png").stat().st_size > 10_000
