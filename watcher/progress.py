"""Operator feedback: a live progress line while bootstrapping on a terminal, log records otherwise
(the log format itself is models/logs.py)."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from watcher.heap import HeapTrimmer

log = logging.getLogger("watcher")


class Progress:
    """Reports bootstrap progress: a redrawn status line on a TTY, periodic log records otherwise.

    ``sources`` are the stream and poll objects (``kind``, ``state``, ``snapshot_count``); ``update``
    gets how many kinds have a committed snapshot.
    """

    def __init__(self, sources: Sequence, tty: bool, events: int = 0, stream: TextIO = sys.stderr,
                 clock=time.monotonic) -> None:
        self._sources = sources
        self._tty = tty
        self._stream = stream
        self._clock = clock
        self._started = clock()
        self._last = 0.0
        self._interval = 0.25 if tty else 5.0
        self._events_at_start = events
        self.done = False
        # Called after every batch for the life of the watcher, so the heap trim rides along (watcher/heap.py).
        self.heap = HeapTrimmer()

    def update(self, bootstrapped: int, events: int, force: bool = False) -> None:
        self.heap.maybe_trim()
        if self.done:
            return
        now = self._clock()
        total = len(self._sources)
        if bootstrapped >= total:
            self._finish(total, events, now)
            return
        if not force and now - self._last < self._interval:
            return
        self._last = now
        received = sum(getattr(s, "snapshot_count", 0) for s in self._sources)
        elapsed = max(now - self._started, 1e-9)
        rate = (events - self._events_at_start) / elapsed
        if self._tty:
            pending = [s.kind.name for s in self._sources if getattr(s, "state", "") != "live"][:3]
            line = (f"bootstrapping: {bootstrapped}/{total} kinds, {received:,} resources received, "
                    f"{rate:,.0f} events/s" + (f"  (waiting: {', '.join(pending)})" if pending else ""))
            self._stream.write("\r\x1b[K" + line[:200])
            self._stream.flush()
        else:
            log.info("bootstrapping", extra={"fields": {
                "kinds_bootstrapped": bootstrapped, "kinds": total, "resources_received": received,
                "events_per_second": round(rate)}})

    def close(self) -> None:
        """Clear an unfinished status line (shutdown during a bootstrap)."""
        if self._tty and not self.done:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
        self.done = True

    def _finish(self, total: int, events: int, now: float) -> None:
        self.done = True
        seconds = now - self._started
        applied = events - self._events_at_start
        if self._tty:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
        log.info("all streams bootstrapped: %d kinds, %d events in %.1f s", total, applied, seconds,
                 extra={"fields": {
            "kinds": total, "events": applied, "seconds": round(seconds, 3),
            "events_per_second": round(applied / seconds) if seconds > 0 else None}})
