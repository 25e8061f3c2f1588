"""The watcher process: writer lock, then the streams, polls and the batching writer on one event loop.

One thread: the streams and polls are grpc.aio tasks (half the CPU per message of a thread per stream),
and the writer is a task too, which on SQLite applies each batch synchronously (see watcher/inbox.py for
why not a writer thread there); on PostgreSQL, where a batch mostly waits on round trips with the GIL
released, it hands the batch to one writer thread and the streams go on reading meanwhile. They meet in
the Inbox, which bounds memory and batches: the writer takes the first item plus whatever arrives within
the batch window of it (which follows the commit cost: ``WatchConfig.commit_factor``), up to the batch
size, and applies that in one transaction. Stop (SIGTERM/SIGINT) cancels the streams, commits everything
already queued, returns 0.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

import grpc.aio
from sqlalchemy.engine import Engine

from models.catalog import Delivery, Kind
from models.db import redacted
from omni_client.wire import state_pb2_grpc
from watcher import metrics
from watcher.backoff import Backoff, BackoffPolicy
from watcher.decode import Decoder, ZstdDictionary
from watcher.documents import Projections
from watcher.heap import freeze_long_lived
from watcher.inbox import Inbox
from watcher.items import Change, Item, Poison
from watcher.lock import LockLost, WriterLock, WriterLockHeld, writer_lock
from watcher.poller import KindPoller
from watcher.progress import Progress
from watcher.pruner import DEFAULT_EVERY, Pruner
from watcher.stream import KindStream
from watcher.writer import BatchResult, FencedError, Writer

log = logging.getLogger("watcher")

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


@dataclass
class WatchConfig:
    kinds: Sequence[Kind]
    batch_items: int = 2000
    batch_latency: float = 0.020
    # While any snapshot is streaming, fuller batches matter more than latency: nothing waits on a
    # half-bootstrapped kind, and SQLite inserts 2,000 rows per commit about twice as fast as 200.
    bootstrap_latency: float = 0.250
    # Live: commit once the stream of events pauses this long (a burst still lands in one batch).
    batch_quiet: float = 0.003
    # Live: the batch window follows the cost of a commit (``commit_factor`` times its recent average,
    # between ``batch_quiet`` and ``batch_latency``). Events that queued during a commit are taken at
    # once anyway, so waiting longer than a fraction of a commit amortises little and only adds latency
    # (with 2, a 500 events/s stream waited out 20 ms windows); under a burst commits grow with their
    # batches, so the window (and the next batch) grows too, up to ``batch_latency``. 0 keeps the fixed
    # ``batch_latency`` window.
    commit_factor: float = 0.5
    # Decoded items queued for the writer; None: two batches (``2 * batch_items``): the writer takes one
    # batch at a time, so the streams can decode the next one (and more) while it applies one. When the
    # writer is the slower side (a PostgreSQL bootstrap) the inbox stays full, and each item holds its
    # decoded state (~5 KB): at 10k machines the watcher's peak RSS was 244 MB with 10,000 items, 217-220 with 4,000.
    inbox_items: int | None = None
    poll_interval: float = 60.0
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    lock_check_interval: float = 5.0
    commit_retries: int = 5
    zstd: ZstdDictionary | None = None
    tty: bool = False
    retention: timedelta | None = None  # keep this much history; older is pruned while ingesting
    retention_every: float = DEFAULT_EVERY
    # Apply batches on a writer thread while the loop keeps reading the streams. None: on PostgreSQL only,
    # where a batch mostly waits on server round trips (the driver releases the GIL meanwhile); on SQLite
    # a second busy thread slows the row steps down (watcher/inbox.py), so it applies on the loop.
    writer_thread: bool | None = None


def is_data_error(exc: BaseException) -> bool:
    """An error about the data itself (retrying cannot help), as opposed to a connection problem."""
    for module_name in ("sqlite3", "psycopg"):
        module = sys.modules.get(module_name)
        if module is not None and isinstance(exc, (module.DataError, module.IntegrityError)):
            return True
    return False


class CommitFailed(RuntimeError):
    """The database kept failing a batch through every retry: stop (a supervisor restarts the process)."""


class ProducerFailed(RuntimeError):
    """A stream or poll task died of an unexpected error (a bug): restart the process."""


class Watcher:
    def __init__(self, engine: Engine, channel_factory: Callable[[], grpc.aio.Channel], config: WatchConfig,
                 projections: Projections | None = None,
                 before_start: Callable[[], None] | None = None,
                 on_commit: Callable[[BatchResult], None] | None = None) -> None:
        self.engine = engine
        self.channel_factory = channel_factory
        self.config = config
        self.projections = projections
        self.before_start = before_start
        self.on_commit = on_commit
        self.writer: Writer | None = None
        self.pruner: Pruner | None = None
        self.producers: list[KindStream | KindPoller] = []
        self.events_applied = 0
        self.inbox = Inbox(config.inbox_items or 2 * config.batch_items)
        self._stop = threading.Event()
        self._commit_seconds = 0.0  # moving average of live commits, for the batch window
        self._executor: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    def stop(self) -> None:
        """Ask the watcher to finish. Safe from a signal handler and from other threads."""
        self._stop.set()
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:  # the loop has closed: nothing left to wake
                pass

    def run(self) -> int:
        lock = writer_lock(self.engine)
        where = redacted(self.engine.url)
        try:
            if lock is not None and not lock.acquire(
                    self._stop, lambda: log.info("standby: another watcher holds the writer lock on %s; "
                                                 "waiting to take over", where)):
                return EXIT_OK
        except WriterLockHeld as exc:
            log.error("%s", exc)
            return EXIT_CONFIG
        metrics.LEADER.set(1)
        try:
            if self.before_start is not None:
                self.before_start()
            self.writer = Writer(self.engine, self.projections)
            epoch = self.writer.take_over(f"{socket.gethostname()}:{os.getpid()}")
            log.info("writer for %s (epoch %d, head revision %d)", where, epoch, self.writer.head,
                     extra={"fields": {"epoch": epoch, "head_revision": self.writer.head}})
            if self.config.retention is not None:
                self.pruner = Pruner(self.engine, self.config.retention, epoch, every=self.config.retention_every)
                self.pruner.start()
            return asyncio.run(self._main(lock))
        except FencedError as exc:
            log.error("%s", exc)
            return EXIT_FAILED
        except LockLost as exc:
            log.error("%s; stopping so that a standby can take over", exc)
            return EXIT_FAILED
        except (ProducerFailed, CommitFailed) as exc:
            log.error("%s", exc)
            return EXIT_FAILED
        finally:
            metrics.LEADER.set(0)
            if self.pruner is not None:
                self.pruner.stop()
            if self.writer is not None:
                self.writer.close()
            if lock is not None:
                lock.release()

    async def _main(self, lock: WriterLock | None) -> int:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        if self._stop.is_set():
            return EXIT_OK
        channel = self.channel_factory()
        tasks = self._start_producers(channel)
        threaded = self.config.writer_thread
        if threaded is None:
            threaded = self.engine.dialect.name == "postgresql"
        # One thread: the writer's connection and state are only ever used by one thread at a time.
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="writer") if threaded else None
        try:
            return await self._write_until_stopped(lock, tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await channel.close()
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None

    def _start_producers(self, channel: grpc.aio.Channel) -> list[asyncio.Task]:
        stub = state_pb2_grpc.StateStub(channel)
        cfg = self.config
        for kind in cfg.kinds:
            decoder = Decoder(kind, cfg.zstd)
            state = self.writer.stream(kind.stream_key)
            if kind.delivery is Delivery.POLL:
                producer = KindPoller(kind, stub, decoder, self.inbox, self.engine, cfg.poll_interval, cfg.backoff)
            else:
                producer = KindStream(kind, stub, decoder, self.inbox, state.bookmark,
                                      state.bootstrapped_at is not None, cfg.backoff)
            self.producers.append(producer)
        metrics.STREAMS_TOTAL.set(len(self.producers))
        return [asyncio.create_task(p.run(), name=p.kind.name) for p in self.producers]

    # -- the writer ----------------------------------------------------------------------------------

    async def _write_until_stopped(self, lock: WriterLock | None, tasks: list[asyncio.Task]) -> int:
        cfg = self.config
        progress = Progress(self.producers, cfg.tty, self.events_applied)
        analyzed = False
        next_check = time.monotonic() + cfg.lock_check_interval
        wake = asyncio.create_task(self._wake.wait())
        try:
            while not self._stop.is_set():
                if self._bootstrapping():
                    latency, quiet = cfg.bootstrap_latency, 0.0
                else:
                    latency, quiet = self._live_window(), cfg.batch_quiet
                take = asyncio.ensure_future(self.inbox.take(cfg.batch_items, latency, 0.25, quiet))
                await asyncio.wait([take, wake], return_when=asyncio.FIRST_COMPLETED)
                if not take.done():
                    take.cancel()
                    break
                batch = take.result()
                if batch:
                    await self._commit(batch)
                progress.update(self._bootstrapped(), self.events_applied)
                if progress.done and not analyzed:
                    analyzed = True
                    self._analyze_in_background()
                    log.info("froze the long-lived heap in %.2f s (%d objects)", freeze_long_lived(),
                             gc.get_freeze_count())
                failed = [t for t in tasks if t.done()]
                if failed:
                    exc = None if failed[0].cancelled() else failed[0].exception()
                    raise ProducerFailed(f"{failed[0].get_name()} stopped: {exc!r}")
                now = time.monotonic()
                if now >= next_check:
                    next_check = now + cfg.lock_check_interval
                    if lock is not None:
                        lock.check()
        finally:
            wake.cancel()
            progress.close()
        # Shutdown: stop reading, then commit everything already queued.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        items = self.inbox.take_all()
        for start in range(0, len(items), cfg.batch_items):
            await self._commit(items[start:start + cfg.batch_items])
        log.info("stopped at head revision %d", self.writer.head)
        return EXIT_OK

    async def _commit(self, batch: list[Item]) -> None:
        """Apply a batch; retry what the database may do later, isolate what it never will."""
        backoff = Backoff(self.config.backoff)
        attempt = 0
        while True:
            try:
                if attempt:
                    self.writer.reconnect()  # inside the try: a database still down is one more failed attempt
                if self.pruner is not None:
                    self.pruner.wait_turn()  # a retention chunk under way commits first (watcher/pruner.py)
                result = await self._apply(batch)
                break
            except FencedError:
                raise
            except Exception as exc:
                if is_data_error(exc):
                    log.warning("the database refused a batch of %d items (%s: %s); applying them one by one",
                                len(batch), type(exc).__name__, str(exc)[:500])
                    self.writer.reconnect()
                    await self._commit_one_by_one(batch)
                    return
                attempt += 1
                if attempt > self.config.commit_retries:
                    raise CommitFailed(f"commit failed {attempt} times ({type(exc).__name__}: {exc}); "
                                       "giving up") from exc
                delay = backoff.next_delay()
                log.warning("commit failed (%s: %s); retrying in %.1f s", type(exc).__name__, exc, delay)
                await asyncio.sleep(delay)
        self._committed(result)

    async def _apply(self, batch: list[Item]) -> BatchResult | None:
        """``writer.apply`` on the writer thread (the streams go on reading meanwhile), or on the loop."""
        if self._executor is None:
            return self.writer.apply(batch)
        return await asyncio.get_running_loop().run_in_executor(self._executor, self.writer.apply, batch)

    async def _commit_one_by_one(self, batch: list[Item]) -> None:
        """The database refused the batch's data: apply its items alone, recording any item it refuses
        as a poison event (the stream goes on) instead of failing the whole batch forever."""
        for item in batch:
            try:
                result = self.writer.apply([item])
            except FencedError:
                raise
            except Exception as exc:
                if not (is_data_error(exc) and isinstance(item, Change)):
                    raise
                self.writer.reconnect()
                res = item.resource
                log.error("the database refused %s %s v%d: %s; recorded as a poison event",
                          res.type, res.id, res.version, exc)
                event = "destroyed" if item.destroyed else "updated"
                result = self.writer.apply([Poison(item.stream, res.id, str(res.version), event,
                                                   f"database refused it: {exc}"[:2000], None, item.bookmark)])
            self._committed(result)

    def _live_window(self) -> float:
        """How long a live batch may gather after its first item (see ``WatchConfig.commit_factor``)."""
        cfg = self.config
        if cfg.commit_factor <= 0:
            return cfg.batch_latency
        return min(cfg.batch_latency, max(cfg.batch_quiet, cfg.commit_factor * self._commit_seconds))

    def _committed(self, result: BatchResult | None) -> None:
        if result is None:
            return
        # Weight 1/4: one slow commit (a checkpoint, a pruner turn) moves the window, but not all the way.
        self._commit_seconds += (result.seconds - self._commit_seconds) / 4
        self.events_applied += result.events
        if self.on_commit is not None:
            self.on_commit(result)

    def _analyze_in_background(self) -> None:
        """PostgreSQL, once the snapshots are in: fresh planner statistics for the tables they filled.

        Until autovacuum gets to them (a minute or more after a bulk load), the planner takes the tables
        for nearly empty and the rollup's per-batch reads seek the log once per resource of a kind: 3 ms
        per statement instead of 0.4 at 2,000 machines. ANALYZE takes no lock that blocks the writer."""
        if self.engine.dialect.name != "postgresql":
            return

        def analyze() -> None:
            started = time.monotonic()
            try:
                with self.engine.connect() as conn:
                    conn.exec_driver_sql("ANALYZE")
                    conn.commit()
            except Exception as exc:  # statistics are an optimisation: never stop the watcher for them
                log.warning("ANALYZE after the bootstrap failed: %s", exc)
                return
            log.info("analyzed the read model's tables in %.1f s", time.monotonic() - started)

        threading.Thread(target=analyze, name="analyze", daemon=True).start()

    def _bootstrapping(self) -> bool:
        return any(p.state == "bootstrapping" for p in self.producers)

    def _bootstrapped(self) -> int:
        streams = self.writer.streams
        count = sum(1 for p in self.producers if (s := streams.get(p.key)) is not None and s.bootstrapped)
        metrics.STREAMS_BOOTSTRAPPED.set(count)
        return count
