"""The workflow sandbox as Baton's worker runs it: the SDK's, without two per-call costs.

Every call from the worker into a sandboxed case goes through the SDK's
``_Instance._run_code``, which compiles a short source string and ``exec``s it. Two of
those calls come for every payload of every workflow task, even when nothing uses their
answer: after each activation the SDK visits the completion's payloads three times and
asks the case, in the sandbox, for its serialization context (and once for its external
storage context) per payload, to hand codecs and converters that care. Baton's data
converter (pydantic JSON, no codec, no external storage) cares for neither.

In the timer storm of ``bench/scale.py`` (SDK 1.35) those questions took a fifth of the
worker's interpreter, and compiling the strings another twelfth (py-spy, GIL samples;
docs/benchmarks.md). This runner compiles each string once and, only when the data
converter is proven context-free, answers the two questions outside the sandbox with
what the SDK would do with the sandbox's answer. It keeps the SDK's restrictions and
import rules as they are. It leans on the SDK's private ``_Instance``;
``tests/test_sandbox.py`` fails the build when that class changes shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from types import CodeType
from typing import Any

from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    SerializationContext,
    WorkflowSerializationContext,
)
from temporalio.converter._extstore import StorageDriverStoreContext
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import _runner as sdk_runner

_PROBES: tuple[SerializationContext, ...] = (
    WorkflowSerializationContext(namespace="probe", workflow_id="probe"),
    ActivitySerializationContext(
        namespace="probe",
        activity_id="probe",
        activity_type="probe",
        activity_task_queue="probe",
        workflow_id="probe",
        workflow_type="probe",
        is_local=False,
    ),
)


def is_context_free(converter: DataConverter) -> bool:
    """Whether ``converter`` is the same whatever serialization context it is given, and
    stores no payloads externally: then a case's context changes nothing it does."""
    return converter.external_storage is None and all(
        converter.with_context(probe) is converter for probe in _PROBES
    )


@lru_cache(maxsize=32)
def _compiled(code: str) -> CodeType:
    # The SDK's strings are a handful of constants: each is compiled once per process.
    return compile(code, "<temporal-sandbox>", "exec")


class _CompiledInstance(sdk_runner._Instance):
    """A sandboxed case whose calls into the sandbox reuse compiled code."""

    def _run_code(self, code: str, **extra_globals: Any) -> None:
        super()._run_code(_compiled(code), **extra_globals)  # type: ignore[arg-type]


class _ContextFreeInstance(_CompiledInstance):
    """A sandboxed case for a context-free data converter: the payload visits do not go
    into the sandbox. ``None`` makes the SDK use the worker's own converter, which is
    what any context would give (``is_context_free``)."""

    def get_serialization_context(self, command_info: Any) -> SerializationContext | None:
        """No context: the converter would ignore it."""
        return None

    def get_external_store_context(self, command_info: Any) -> StorageDriverStoreContext:
        """The SDK's answer when nothing is stored externally."""
        return StorageDriverStoreContext(target=None)


@dataclass(frozen=True)
class BatonSandboxRunner(SandboxedWorkflowRunner):
    """The SDK's sandboxed runner with compiled calls; ``context_free`` (set only after
    ``is_context_free`` holds for the worker's converter) also skips the payload visits'
    trips into the sandbox."""

    context_free: bool = False

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        """A sandboxed case, as the SDK makes one, with the shortcuts above."""
        kind = _ContextFreeInstance if self.context_free else _CompiledInstance
        return kind(det, self.runner_class, self.restrictions)


def workflow_runner(converter: DataConverter) -> BatonSandboxRunner:
    """The runner for a worker whose client uses ``converter``."""
    return BatonSandboxRunner(context_free=is_context_free(converter))
