"""``watch --retention 30d``: prune the log periodically while ingesting (models/retention.py).

A thread with its own connection, started once this process is the writer. Every ``every`` seconds it
moves the horizon to the last revision observed ``keep`` ago and deletes what that makes obsolete, in
transactions of ``chunk`` revisions with a pause between them, so the writer's batches (which wait for
SQLite's write lock, or for nothing on PostgreSQL) get in between: a chunk is a few milliseconds, a
batch waits at most one chunk. Each chunk's transaction first checks that this process still holds the
writer epoch it took over with (the fence of watcher/writer.py): a watcher that lost the writer role
stops pruning at once. The first pass of a process walks the whole log (it also finishes an interrupted
pass); later passes walk only from the previous horizon up.
"""

from __future__ import annotations

import logging
import threading
import time
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
        self.deleted = 0
        self.passes = 0
        self._stop = threading.Event()
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

    def _between(self) -> bool:
        return self._stop.wait(self.pause)

    def run_once(self) -> retention.Pruned | None:
        """One pass: None when there was nothing old enough."""
        with self.engine.connect() as conn:
            target = history.revision_at(conn, datetime.now(UTC) - self.keep)
        if target == 0 or (self.completed is not None and target <= self.completed):
            return None
        started = time.perf_counter()
        done = retention.prune(self.engine, target, self.chunk, since=self.completed, fence=self._fence,
                               between=self._between)
        if not self._stop.is_set():
            self.completed = done.horizon
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
            try:
                self.run_once()
            except PrunerFenced as exc:
                log.error("%s", exc)
                return
            except Exception as exc:  # the database may be back next time; ingesting goes on meanwhile
                log.warning("pruning failed (%s: %s); retrying in %.0f s", type(exc).__name__, exc, self.every)
            self._stop.wait(self.every)
