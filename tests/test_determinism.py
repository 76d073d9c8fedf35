"""Operators query cases while messages stream in: that must never break replay.

With detection as a local activity beside other local activities this scenario
reproduced a non-determinism error in about two runs of three (the SDK resolves
concurrent local activities in another order on replay, temporalio/sdk-python#1578).
Cases now run their local activities one at a time, 20 in a row at most before a
regular one, and the burst's history replays.
"""

import asyncio

from domain.models import IncomingMessage
from tests.conftest import case_replayer, running_worker, start_case
from workflows.case import CaseWorkflow


async def test_queries_during_a_message_burst_keep_replay_deterministic(
    dev_env, policy, store, executor
) -> None:
    client = dev_env.client
    messages = 300
    async with running_worker(client, policy, store, executor) as worker:
        handle = await start_case(client, worker)
        for i in range(messages):
            author = "customer" if i % 2 == 0 else "ai"
            await handle.signal(
                CaseWorkflow.message,
                IncomingMessage(message_id=f"m{i}", author=author, text=f"order {i}?"),
            )
        for _ in range(400):
            if (await handle.query(CaseWorkflow.state)).message_count == messages:
                break
            await asyncio.sleep(0.02)
        history = await handle.fetch_history()
        await handle.terminate("test finished")
    replayer = case_replayer()
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is None
