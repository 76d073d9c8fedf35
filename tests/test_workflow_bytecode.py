"""The worker writes its workflows' bytecode: the sandbox loads their modules per case."""

import builtins
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

import pytest

from worker import compile_workflow_modules
from workflows.case import CaseWorkflow


def _load_fresh(source: str) -> None:
    """Load the module from its file as the sandbox does for each case."""
    spec = importlib.util.spec_from_file_location("workflows.case", source)
    assert spec is not None and spec.loader is not None
    spec.loader.exec_module(importlib.util.module_from_spec(spec))


def test_a_fresh_load_reads_bytecode_instead_of_compiling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "pycache_prefix", str(tmp_path))  # nothing cached there yet
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # as PYTHONDONTWRITEBYTECODE=1
    source = inspect.getsourcefile(CaseWorkflow)
    assert source is not None
    compiled: list[str] = []
    real_compile = builtins.compile

    def counting(src: Any, filename: Any, *args: Any, **kwargs: Any) -> Any:
        compiled.append(str(filename))
        return real_compile(src, filename, *args, **kwargs)

    monkeypatch.setattr(builtins, "compile", counting)
    _load_fresh(source)
    assert source in compiled, "without bytecode every load compiles the source"

    compiled.clear()
    written = compile_workflow_modules([CaseWorkflow])
    # Every module of the workflow's package (its parts are mixed in), and the packages.
    package = [*sorted(Path(source).parent.glob("*.py")), Path(source).parents[1] / "__init__.py"]
    assert sorted(written) == sorted(Path(importlib.util.cache_from_source(p)) for p in package)
    assert all(w.is_relative_to(tmp_path) and w.stat().st_size > 0 for w in written)
    compiled.clear()
    _load_fresh(source)
    assert source not in compiled


def test_an_unwritable_cache_is_left_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setattr(sys, "pycache_prefix", str(blocker))
    assert compile_workflow_modules([CaseWorkflow]) == []
