"""watcher/heap.py: the periodic malloc_trim that returns a batch's freed pages to the OS."""

from __future__ import annotations

import ctypes.util
import gc
import weakref

import pytest

from watcher.heap import HeapTrimmer, _malloc_trim, freeze_long_lived
from watcher.progress import Progress


def test_trims_at_most_once_per_interval():
    now = [0.0]
    calls = []
    trimmer = HeapTrimmer(interval=2.0, clock=lambda: now[0], trim=lambda pad: calls.append(pad) or 1)
    assert not trimmer.maybe_trim()
    now[0] = 1.9
    assert not trimmer.maybe_trim()
    now[0] = 2.0
    assert trimmer.maybe_trim()
    assert not trimmer.maybe_trim()
    now[0] = 4.5
    assert trimmer.maybe_trim()
    assert calls == [0, 0] and trimmer.trims == 2


def test_real_malloc_trim_runs_on_glibc():
    if _malloc_trim() is None:
        pytest.skip(f"no malloc_trim in this C library ({ctypes.util.find_library('c')})")
    now = [0.0]
    trimmer = HeapTrimmer(interval=1.0, clock=lambda: now[0])
    blocks = [bytearray(64 * 1024) for _ in range(200)]  # ~13 MB of heap, then freed
    del blocks
    now[0] = 1.0
    assert trimmer.maybe_trim() and trimmer.trims == 1


def test_progress_trims_after_bootstrap_too():
    progress = Progress([], tty=False)
    progress.update(0, 0)  # no sources: every kind is bootstrapped, progress is done
    assert progress.done
    now = [0.0]
    progress.heap = HeapTrimmer(interval=1.0, clock=lambda: now[0], trim=lambda pad: 1)
    now[0] = 5.0
    progress.update(0, 0)
    assert progress.heap.trims == 1


def test_freeze_long_lived_hides_survivors_from_later_collections():
    class Node:
        pass

    kept = [Node() for _ in range(1000)]
    try:
        assert freeze_long_lived() >= 0
        assert gc.get_freeze_count() >= len(kept)
        young = {id(o) for generation in range(3) for o in gc.get_objects(generation=generation)}
        assert not any(id(o) in young for o in kept)
        cycle = Node()
        cycle.self = cycle  # made after the freeze: still collected
        ref = weakref.ref(cycle)
        del cycle
        gc.collect()
        assert ref() is None
    finally:
        gc.unfreeze()
