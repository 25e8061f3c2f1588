"""Operator feedback: a live progress line while bootstrapping on a terminal, JSON log lines otherwise."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TextIO

log = logging.getLogger("watcher")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, msg, plus the record's ``fields`` if any."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            doc.update(fields)
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


def configure_logging(stream: TextIO = sys.stderr) -> bool:
    """JSON lines unless ``stream`` is a terminal; returns whether it is one."""
    tty = stream.isatty()
    if not tty:
        root = logging.getLogger()
        handlers = root.handlers or [logging.StreamHandler(stream)]
        for handler in handlers:
            handler.setFormatter(JsonFormatter())
        if not root.handlers:
            root.addHandler(handlers[0])
    return tty


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

    def update(self, bootstrapped: int, events: int, force: bool = False) -> None:
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
