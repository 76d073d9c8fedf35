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


@workflow.defn(name="BenchWireFloorWorkflow")
class WireFloorWorkflow:
    """The standard case's client calls with no engine behind them: each update is
    answered at once, ``resolve`` ends the run after the bare workflow's one activity.
    What no engine can go below on this server for the scenario."""

    def __init__(self) -> None:
        """No calls yet."""
        self._calls = 0
        self._resolved = False

    @workflow.run
    async def run(self, text: str) -> str:
        """Wait for ``resolve``, then run the activity once."""
        await workflow.wait_condition(lambda: self._resolved)
        return await workflow.execute_activity(
            echo, text, start_to_close_timeout=timedelta(seconds=30)
        )

    @workflow.update(name="call")
    def call(self, name: str) -> int:
        """One of the case's updates (a message, accept, resolve): counted, answered."""
        self._calls += 1
        self._resolved = self._resolved or name == "resolve"
        return self._calls

    @workflow.signal(name="note")
    def note(self, name: str) -> None:
        """A reply sent by signal (``--replies signal``): counted, nothing to answer."""
        self._calls += 1

    @workflow.query(name="calls")
    def calls(self) -> int:
        """The case view's stand-in."""
        return self._calls
