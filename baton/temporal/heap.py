"""The worker's heap and Python's cyclic garbage collector.

A full collection walks every object the collector tracks while no other Python code
runs. A started worker holds some 190,000 such objects that live as long as the
process: modules, the policy, the detector's model, pydantic's schemas, the SDK. Each
full collection walked them again, and the slowest decisions waited 120 to 270 ms for
it (``bench/latency.py``; docs/benchmarks.md). They are frozen out of the collector's
walk once the worker is built; what the cases build later is collected as before.
"""

from __future__ import annotations

import gc


def freeze_startup_objects() -> int:
    """Collect what the start left behind, then keep every object alive now out of
    later collections (``gc.freeze``); returns how many objects are frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
