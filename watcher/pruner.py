"""``watch --retention 30d``: prune the log periodically while ingesting (models/retention.py).

A thread with its own connection, started once this process is the writer. Every ``every`` seconds it
moves the horizon to the last revision observed ``keep`` ago and deletes what that makes obsolete, in
transactions of ``chunk`` revisions with a pause between them (at least 3 times the chunk's duration).
The writer and the pruner take turns
(``turn``/``wait_turn``): a chunk that wants SQLite's write lock makes the writer's next batch wait until
it has committed (at most one chunk), and the pause lets the batches through. Without that a busy writer,
re-taking the lock right after each commit, would starve the pruner, which only polls for the lock. Each chunk's transaction first checks that this process still holds the
writer epoch it took over with (the fence of watcher/writer.py): a watcher that lost the writer role
stops pruning at once. The first pass of a process walks the whole log (it also finishes an interrupted
pass); later passes, and a retry after an error, walk only from where the last one got to.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from models import history, retention
from models.schema import meta
from watcher import metrics

log = logging.getLogger("watcher")

DEFAULT_EVERY = 300.0
DEFAULT_CHUNK = 200
DEFAULT_PAUSE = 0.02
RETRY = 5.0  # after a failed pass (a busy or unreachable database), resume this much later
SHARE = 3
TURN_WAIT = 2.0  # the longest the writer waits for one chunk (then it goes on: SQLite's busy timeout serialises)


class PrunerFenced(RuntimeError):
    """Another writer took over: this process must not prune any more."""


class Pruner:
    def __init__(self, engine: Engine, keep: timedelta, epoch: int, *, every: float = DEFAULT_EVERY,
                 chunk: int = DEFAULT_CHUNK, pause: float = DEFAULT_PAUSE) -> None:
        self.engine = engine
        self.keep = keep
        self.epoch = epoch
        self.every = every
        self.chunk = chunk
        self.pause = pause
        self.completed: int | None = None  # the horizon of the last pass that ran to the end
        self.position: int | None = None  # where the next walk starts: below it, everything was walked
        self.deleted = 0
        self.passes = 0
        self._stop = threading.Event()
        self._writer_may_go = threading.Event()
        self._writer_may_go.set()
        self._chunk_started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="pruner", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _fence(self, conn: Connection) -> None:
        epoch = conn.execute(sa.select(meta.c.writer_epoch).where(meta.c.singleton == 1)).scalar()
        if epoch != self.epoch:
            raise PrunerFenced(f"writer epoch {self.epoch} is no longer current: not pruning")

    def _between(self, position: int) -> bool:
        # Pause at least SHARE times as long as the chunk took: however slow the host, pruning holds the
        # write lock at most 1 / (SHARE + 1) of the time and the writer keeps the rest.
        chunk = time.monotonic() - self._chunk_started
        self.position = position
        stop = self._stop.wait(max(self.pause, SHARE * chunk))
        self._chunk_started = time.monotonic()
        return stop

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Around one chunk's transaction: the writer's next batch waits until it has committed."""
        self._writer_may_go.clear()
        try:
            yield
        finally:
            self._writer_may_go.set()

    def wait_turn(self) -> None:
        """Called by the writer before each batch (a no-op unless a chunk is under way)."""
        self._writer_may_go.wait(TURN_WAIT)

    def run_once(self) -> retention.Pruned | None:
        """One pass: None when there was nothing old enough."""
        with self.engine.connect() as conn:
            target = history.revision_at(conn, datetime.now(UTC) - self.keep)
        if target == 0 or (self.completed is not None and target <= self.completed):
            return None
        started = time.perf_counter()
        self._chunk_started = time.monotonic()
        done = retention.prune(self.engine, target, self.chunk, since=self.position, fence=self._fence,
                               between=self._between, turn=self.turn)
        if not self._stop.is_set():
            # a destroy at the old horizon stays until the next walk passes it: start there again
            self.completed = self.position = done.horizon
        self.deleted += done.deleted
        self.passes += 1
        metrics.PRUNED_EVENTS.inc(done.deleted)
        log.info("pruned %d events below revision %d in %.1f s", done.deleted, done.horizon,
                 time.perf_counter() - started,
                 extra={"fields": {"horizon_revision": done.horizon, "deleted": done.deleted,
                                   "seconds": round(time.perf_counter() - started, 3)}})
        return done

    def _run(self) -> None:
        while not self._stop.is_set():
            wait = self.every
            try:
                self.run_once()
            except PrunerFenced as exc:
                log.error("%s", exc)
                return
            except Exception as exc:  # the database may be back soon; ingesting goes on meanwhile
                wait = min(self.every, RETRY)
                log.warning("pruning failed (%s: %s); resuming in %.0f s", type(exc).__name__, exc, wait)
            self._stop.wait(wait)
