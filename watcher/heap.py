"""Give the C heap's free pages back to the operating system now and then.

A bootstrap batch builds megabytes of short-lived objects (decoded specs, JSON text, statement
parameters, gRPC messages). CPython frees them, but glibc keeps the freed pages in its arenas (one per
thread: gRPC has its own), so the watcher's resident size stays near the peak of its largest batch.
``malloc_trim(0)`` returns those pages; it costs a few milliseconds, so it runs at most every
``interval`` seconds. On a C library without it (musl, macOS) this does nothing.

Once the snapshots are in, ``freeze_long_lived`` moves what survived (the writer's index, the id
caches: hundreds of thousands of objects) out of the cyclic garbage collector's sight.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import time
from collections.abc import Callable


def _malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None


class HeapTrimmer:
    """``maybe_trim()`` calls ``malloc_trim(0)`` when ``interval`` seconds have passed since the last."""

    def __init__(self, interval: float = 2.0, clock: Callable[[], float] = time.monotonic,
                 trim: Callable[[int], int] | None = None) -> None:
        self._trim = trim if trim is not None else _malloc_trim()
        self._interval = interval
        self._clock = clock
        self._last = clock()
        self.trims = 0

    def maybe_trim(self) -> bool:
        """True when it trimmed now."""
        if self._trim is None:
            return False
        now = self._clock()
        if now - self._last < self._interval:
            return False
        self._trim(0)
        self._last = self._clock()
        self.trims += 1
        return True


def freeze_long_lived() -> float:
    """One full collection, then ``gc.freeze()``: every object alive now goes to the permanent generation,
    which later collections skip. Otherwise each full collection walks the whole index and caches while
    the writer waits (60-230 ms at 2,000 machines, once every few seconds to minutes: the tail of
    freshness). Frozen objects are still freed when their last reference goes; only a cycle among them
    would stay. Returns the seconds it took."""
    started = time.monotonic()
    gc.collect()
    gc.freeze()
    return time.monotonic() - started
