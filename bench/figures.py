"""Where every benchmark writes its figures: ``bench/results.json``, one section per
benchmark plus the tracked figures at the top level, each with the machine and date."""

from __future__ import annotations

import json
import os
import platform
import resource
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


def cpu_seconds() -> tuple[float, float]:
    """CPU seconds (user and system) used so far by this process (worker and clients) and
    by its running child processes (the embedded Temporal server); Linux only."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    ticks = os.sysconf("SC_CLK_TCK")
    children = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it ended meanwhile
        if int(fields[1]) == os.getpid():  # its parent; utime and stime follow
            children += (int(fields[11]) + int(fields[12])) / ticks
    return usage.ru_utime + usage.ru_stime, children


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
