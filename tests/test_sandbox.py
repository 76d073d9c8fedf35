"""The worker's sandbox runner (baton/temporal/sandbox.py): the SDK's restrictions still hold, a
converter that wants a case's serialization context still gets it, and the SDK class
the runner extends still has the shape it relies on."""

from __future__ import annotations

import dataclasses
import inspect
import uuid
from collections.abc import Sequence
from datetime import datetime

import pytest
from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowFailureError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import (
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import _runner as sdk_runner

from baton.temporal.sandbox import BatonSandboxRunner, is_context_free, workflow_runner


@workflow.defn(sandboxed=True)
class ReadsTheClock:
    """Calls ``datetime.now()``, which the sandbox forbids in workflow code."""

    @workflow.run
    async def run(self) -> str:
        return datetime.now().isoformat()


@workflow.defn
class Echo:
    """Returns its input in capitals: one payload in, another out."""

    @workflow.run
    async def run(self, text: str) -> str:
        return text.upper()


class ContextRecordingCodec(PayloadCodec, WithSerializationContext):
    """Passes payloads through unchanged and records the context it was given."""

    def __init__(
        self,
        seen: list[tuple[SerializationContext, bytes]],
        context: SerializationContext | None = None,
    ) -> None:
        self.seen, self.context = seen, context

    def with_context(self, context: SerializationContext) -> ContextRecordingCodec:
        return ContextRecordingCodec(self.seen, context)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        if self.context is not None:
            self.seen.extend((self.context, p.data) for p in payloads)
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)


def test_only_a_converter_that_ignores_context_is_context_free() -> None:
    seen: list[tuple[SerializationContext, bytes]] = []
    aware = dataclasses.replace(pydantic_data_converter, payload_codec=ContextRecordingCodec(seen))
    assert is_context_free(pydantic_data_converter)
    assert workflow_runner(pydantic_data_converter).context_free
    assert not is_context_free(aware)
    assert not workflow_runner(aware).context_free


def test_the_sdk_instance_keeps_the_shape_the_runner_extends() -> None:
    """If the SDK renames or reshapes what the runner overrides, fail here, not in
    production with a case that silently runs the SDK's own code or breaks."""
    init = inspect.signature(sdk_runner._Instance.__init__).parameters
    assert list(init)[1:] == ["instance_details", "runner_class", "restrictions"]
    for name, params in {
        "_run_code": ["code", "extra_globals"],
        "get_serialization_context": ["command_info"],
        "get_external_store_context": ["command_info"],
    }.items():
        assert list(inspect.signature(getattr(sdk_runner._Instance, name)).parameters)[1:] == params
    source = inspect.getsource(sdk_runner.SandboxedWorkflowRunner.create_instance)
    assert "_Instance(det, self.runner_class, self.restrictions)" in source


async def test_the_sandbox_still_forbids_the_wall_clock(time_env: WorkflowEnvironment) -> None:
    queue = f"sandbox-{uuid.uuid4()}"
    async with Worker(
        time_env.client,
        task_queue=queue,
        workflows=[ReadsTheClock],
        workflow_runner=workflow_runner(time_env.client.data_converter),
        workflow_failure_exception_types=[Exception],
    ):
        with pytest.raises(WorkflowFailureError) as failure:
            await time_env.client.execute_workflow(
                ReadsTheClock.run, id=f"clock-{uuid.uuid4()}", task_queue=queue
            )
    assert "datetime.datetime.now" in str(failure.value.cause)


async def test_a_context_aware_codec_still_gets_the_case_context(
    time_env: WorkflowEnvironment,
) -> None:
    seen: list[tuple[SerializationContext, bytes]] = []
    converter = dataclasses.replace(
        pydantic_data_converter, payload_codec=ContextRecordingCodec(seen)
    )
    client = Client(**{**time_env.client.config(), "data_converter": converter})
    runner = workflow_runner(converter)
    assert isinstance(runner, BatonSandboxRunner) and not runner.context_free
    queue, workflow_id = f"sandbox-{uuid.uuid4()}", f"echo-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=[Echo], workflow_runner=runner):
        result = await client.execute_workflow(Echo.run, "hello", id=workflow_id, task_queue=queue)
    assert result == "HELLO"
    # Only the worker encodes the result, inside the case's workflow task.
    [(context, _)] = [(c, d) for c, d in seen if d == b'"HELLO"']
    assert isinstance(context, WorkflowSerializationContext)
    assert context.workflow_id == workflow_id
