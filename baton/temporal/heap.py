"""The worker's heap and Python's cyclic garbage collector.

A full collection walks every object the collector tracks while no other Python code
runs. Two kinds of objects make that walk long, and the worker settles both once it is
built (:func:`settle_heap`):

- What the start built and the process keeps: some 190,000 objects (modules, the policy,
  the detector's model, pydantic's schemas, the SDK). Each full collection walked them
  again, and the slowest decisions waited 120 to 270 ms for it (``bench/latency.py``).
  They are frozen out of the walk.
- The cases the worker holds (``BATON_CACHED_CASES``, some 700 tracked objects each):
  with 1,000 held a full collection takes up to a second. A case replayed after
  it left the cache leaves its old sandbox behind as cycles that only a full collection
  frees, and Python starts one whenever what reached the oldest generation since the
  last one exceeds a quarter of what that one walked: in a storm of replayed timers, a
  pause of about a second every ten seconds, with tasks timing out on the sticky queue
  behind it. Full collections are spaced :data:`FULL_COLLECTION_SPACING`
  middle-generation collections apart instead of ten (docs/benchmarks.md has storms
  measured both ways).
"""

from __future__ import annotations

import gc

FULL_COLLECTION_SPACING = 100
"""Middle-generation collections (one per 7,000 or so new container objects) before a
full collection is considered; Python's default is 10. What waits for the next full
collection is bounded by it: some 700,000 container objects (about 90 MiB more in the
storms measured)."""


def settle_heap() -> int:
    """Collect what the start left behind, keep every object alive now out of later
    collections (``gc.freeze``) and space the full collections; returns how many
    objects are frozen. Called once, when the worker is built."""
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_COLLECTION_SPACING)
    return gc.get_freeze_count()
