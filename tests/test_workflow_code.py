"""The sandbox's workflow modules come from code read once per process
(``baton.temporal.sandbox.WorkflowCode``), yet each load still runs them afresh."""

import importlib.util
from importlib.machinery import SourceFileLoader
from typing import Any

import pytest

import workflows.case
from baton.temporal.sandbox import WorkflowCode, serve_workflow_code
from workflows.case import CaseWorkflow
from workflows.retention import RetentionWorkflow


def _load(finder: WorkflowCode, name: str, path: list[str] | None) -> Any:
    """Load ``name`` through ``finder`` into a new module, as the sandbox does per case."""
    spec = finder.find_spec(name, path)
    assert spec is not None and spec.loader is finder
    module = importlib.util.module_from_spec(spec)
    finder.exec_module(module)
    return module


def test_each_load_runs_the_module_afresh_from_code_read_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads: list[str] = []
    real_get_code = SourceFileLoader.get_code

    def counting(self: SourceFileLoader, fullname: str) -> Any:
        reads.append(fullname)
        return real_get_code(self, fullname)

    monkeypatch.setattr(SourceFileLoader, "get_code", counting)
    finder = WorkflowCode({"workflows"})
    path = list(workflows.case.__path__)
    first = _load(finder, "workflows.case.workflow", path)
    second = _load(finder, "workflows.case.workflow", path)
    assert reads == ["workflows.case.workflow"]
    # Two modules, two classes (a case's state stays its own), one code object.
    assert first is not second and first.CaseWorkflow is not second.CaseWorkflow
    assert first.CaseWorkflow.run.__code__ is second.CaseWorkflow.run.__code__
    assert first.__file__ == workflows.case.workflow.__file__


def test_a_package_keeps_its_search_path() -> None:
    finder = WorkflowCode({"workflows"})
    package = _load(finder, "workflows.case", list(workflows.__path__))
    assert list(package.__path__) == list(workflows.case.__path__)
    assert package.CaseWorkflow.__name__ == "CaseWorkflow"


def test_only_the_workflows_own_modules_are_served() -> None:
    finder = WorkflowCode({"workflows"})
    assert finder.find_spec("domain.models", None) is None
    assert finder.find_spec("workflowsx", None) is None
    assert finder.find_spec("workflows.no_such_module", list(workflows.__path__)) is None


def test_serving_is_installed_once_per_package() -> None:
    finder = serve_workflow_code([CaseWorkflow, RetentionWorkflow])
    assert finder.packages == {"workflows"}
    assert serve_workflow_code([CaseWorkflow]) is finder
