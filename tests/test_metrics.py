"""The worker's Prometheus endpoint: the SDK's runtime metrics and the engine's own."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from baton.settings import Settings
from baton.temporal.server import metrics_runtime
from tests.conftest import new_case, running_worker, start_case
from tests.servers import free_port
from workflows.case import CaseWorkflow


async def _scrape(address: str, wanted: str) -> str:
    """The metrics page once it shows ``wanted`` (the exporter updates periodically)."""
    async with httpx.AsyncClient() as http:
        for _ in range(100):
            text = (await http.get(f"http://{address}/metrics")).text
            if wanted in text:
                return text
            await asyncio.sleep(0.1)
    return text


async def test_engine_and_sdk_metrics_are_exported(
    dev_env: Any, policy: Any, store: Any, executor: Any
) -> None:
    address = f"127.0.0.1:{free_port()}"
    runtime = metrics_runtime(Settings(baton_metrics_address=address))
    assert runtime is not None
    client = await Client.connect(
        dev_env.client.service_client.config.target_host,
        namespace=dev_env.client.namespace,
        data_converter=pydantic_data_converter,
        runtime=runtime,
    )
    case = new_case(customer={"id": "cust-9", "tier": "vip", "language": "en"})
    async with running_worker(client, policy, store, executor) as worker:
        handle = await start_case(client, worker, case)
        await handle.execute_update(
            CaseWorkflow.post_message,
            {"message_id": "m1", "author": "customer", "text": "I want to talk to a human"},
        )
        text = await _scrape(address, "baton_escalations")
        await handle.terminate()
    lines = text.splitlines()
    escalation = [line for line in lines if line.startswith("baton_escalations{")]
    assert escalation, text[:2000]
    assert 'reason="explicit_human_request"' in escalation[0]
    assert escalation[0].rstrip().endswith(" 1")
    assert any(
        line.startswith("baton_cases_opened{") and 'customer_tier="vip"' in line for line in lines
    )
    assert any(line.startswith("baton_time_to_handoff") for line in lines)
    assert any(
        line.startswith("temporal_workflow_completed") or "temporal_" in line for line in lines
    )
    assert Settings(baton_metrics_address="").baton_metrics_address == ""
    assert metrics_runtime(Settings(baton_metrics_address="")) is None
