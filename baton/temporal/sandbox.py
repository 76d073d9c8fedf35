"""The workflow sandbox as Baton's worker runs it: the SDK's, without three repeated costs.

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

The third cost is loading the workflows' own modules, which the sandbox runs afresh for
every case it starts or replays: :class:`WorkflowCode` reads each one's code once per
process instead of once per case.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib.abc import Loader, MetaPathFinder
from importlib.machinery import ModuleSpec, PathFinder, SourceFileLoader
from types import CodeType, ModuleType
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


class WorkflowCode(MetaPathFinder, Loader):
    """Serves the code of the workflows' own modules from memory.

    The sandbox runs a workflow's modules afresh for every case it starts or replays, so
    their state stays the case's own; by default each run finds the file again, reads its
    bytecode (or compiles the source, under ``PYTHONDONTWRITEBYTECODE``) and unmarshals
    it, about a quarter of a new sandbox's cost. This finder reads each module once per
    process and hands out its code object: every import still executes the module into
    a new namespace, inside the sandbox's restrictions.
    """

    def __init__(self, packages: Iterable[str]) -> None:
        """Serve the modules of the top-level ``packages`` (and the packages themselves)."""
        self.packages = frozenset(packages)
        self._code: dict[str, tuple[ModuleSpec, CodeType]] = {}

    def serves(self, name: str) -> bool:
        """Whether the module ``name`` is one of the workflows' own."""
        return name.partition(".")[0] in self.packages

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        """A spec whose loader is this finder, for a module it serves; else ``None``."""
        if not self.serves(fullname):
            return None
        found = self._code.get(fullname) or self._read(fullname, path)
        if found is None:
            return None
        on_disk = found[0]
        spec = ModuleSpec(fullname, self, origin=on_disk.origin)
        spec.submodule_search_locations = on_disk.submodule_search_locations
        spec.has_location = True
        return spec

    def _read(
        self, fullname: str, path: Sequence[str] | None
    ) -> tuple[ModuleSpec, CodeType] | None:
        spec = PathFinder.find_spec(fullname, path)
        if spec is None or not isinstance(spec.loader, SourceFileLoader):
            return None  # not plain source: left to the usual finders
        code = spec.loader.get_code(fullname)
        if code is None:
            return None
        self._code[fullname] = (spec, code)
        return spec, code

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        """The default module object."""
        return None

    def exec_module(self, module: ModuleType) -> None:
        """Run the module's code in its new namespace."""
        exec(self._code[module.__name__][1], module.__dict__)


def serve_workflow_code(workflows: Iterable[type]) -> WorkflowCode:
    """Serve the code of the top-level packages ``workflows`` are defined in (their
    parts live beside them) from memory, from now on in this process
    (:class:`WorkflowCode`); the finder doing it."""
    packages = {wf.__module__.partition(".")[0] for wf in workflows}
    for finder in sys.meta_path:
        if isinstance(finder, WorkflowCode) and packages <= finder.packages:
            return finder
    finder = WorkflowCode(packages)
    sys.meta_path.insert(0, finder)
    return finder
