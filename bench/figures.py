"""Where every benchmark writes its figures: ``bench/results.json``, one section per
benchmark plus the tracked figures at the top level, each with the machine and date."""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results.json"


def _cpu_model() -> str:
    """The processor's name (Linux: ``/proc/cpuinfo``): machines of one kind differ."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor()
    names = (line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    return next(names, platform.processor())


def machine() -> dict[str, Any]:
    """The machine and moment the figures were measured on."""
    return {
        "machine": f"{platform.machine()} {_cpu_model()}".strip(),
        "cpus": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def save(section: str, figures: dict[str, Any], *tracked: str, **renamed: str) -> None:
    """Print ``figures`` as a table and store them under ``section``; the ``tracked``
    figures (and the ``renamed`` ones, top-level name = figure) are repeated at the top
    level, where they are followed from run to run."""
    width = max(map(len, figures))
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[section] = figures | machine()
    for top, key in ({name: name for name in tracked} | renamed).items():
        results[top] = figures.get(key)
    results |= machine()
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
