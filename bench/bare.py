"""The throughput benchmark's yardstick: a workflow that runs one activity (its own
module, so the workflow sandbox imports nothing but Temporal)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow


@activity.defn(name="bench_echo")
def echo(text: str) -> str:
    """The bare workflow's one activity."""
    return text


@workflow.defn(name="BenchBareWorkflow")
class BareWorkflow:
    """One activity, nothing else."""

    @workflow.run
    async def run(self, text: str) -> str:
        """Run the activity once."""
        return await workflow.execute_activity(
            echo, text, start_to_close_timeout=timedelta(seconds=30)
        )
