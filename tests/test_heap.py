"""The worker keeps what its start built out of the garbage collector's walk, and
spaces the full collections."""

import gc
import weakref

from baton.temporal.heap import FULL_COLLECTION_SPACING, settle_heap


class _Node:
    """An object in a reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


def test_startup_objects_leave_the_walk_and_later_cycles_are_still_collected() -> None:
    built_at_start = _Node()
    thresholds = gc.get_threshold()
    try:
        frozen = settle_heap()
        assert frozen > 0
        assert all(o is not built_at_start for o in gc.get_objects())  # not walked
        later = _Node()
        freed = weakref.ref(later)
        del later
        gc.collect()
        assert freed() is None  # what cases build later is collected as before
        assert built_at_start.me is built_at_start
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_full_collections_are_spaced_and_the_younger_generations_kept() -> None:
    thresholds = gc.get_threshold()
    try:
        settle_heap()
        young, middle, oldest = gc.get_threshold()
        assert (young, middle) == thresholds[:2]
        assert oldest == FULL_COLLECTION_SPACING > thresholds[2]
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
