"""The single writer: applies queued items to the read model in one transaction per batch.

Each batch appends ``events`` rows with gap-free revisions (head+1, head+2, ...), upserts/deletes
``resources`` and ``resource_labels``, re-renders affected documents, moves the ``kind_revisions`` of
every kind whose rows or documents changed, writes the touched ``streams`` checkpoints, advances
``meta.head_revision`` and folds the new events into the per-day rollup (models/rollup.py), all in one
transaction. The ``meta`` update is the fence: it names this writer's epoch and the head it started
from, and unless it hits exactly one row the transaction is rolled back and the writer stops (another
writer has taken over).

Idempotency: the writer keeps an index of every current resource's (version, created, labels), packed
into one int each (watcher/state.py). A state equal in version and created to the stored one changes
nothing, so replays and re-bootstraps never duplicate a row. A state with another ``created`` is a re-creation: the old incarnation is recorded as
destroyed first. Nothing in memory changes until the commit succeeds.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from models.eventlog import Appender
from models.resource import Key, StoredResource
from models.rollup import Folder
from watcher import metrics
from watcher.checkpoint import Checkpointer
from watcher.decode import labels_key
from watcher.documents import Projections
from watcher.items import Item, StreamKey
from watcher.plan import Plan
from watcher.sql import Statements, read_datetime, read_json, read_micros
from watcher.state import Entry, StreamState, decoded_from_stored, entry_of, pack, stored_from_row

log = logging.getLogger(__name__)

def is_database_error(exc: BaseException) -> bool:
    """An error raised by the database driver (sqlite3 or psycopg)."""
    for module_name in ("sqlite3", "psycopg"):
        module = sys.modules.get(module_name)
        if module is not None and isinstance(exc, module.Error):
            return True
    return False


class FreshCursors:
    """The DB-API cursor calls the writer makes, each statement on a psycopg cursor of its own.

    In pipeline mode an answer is attached to the cursor that sent its statement when it arrives, and
    the cursor takes it for the answer to whatever it runs by then: the late answers to one cursor's
    executemany() INSERTs became the "rows" of the SELECT it ran next ("the last operation didn't
    produce records (command status: INSERT 0 1)", at 50,000 machines under load)."""

    def __init__(self, connection) -> None:
        self.connection = connection
        self._last = None

    def execute(self, sql: str, params=None) -> FreshCursors:
        self._last = self.connection.cursor()
        self._last.execute(sql, params)
        return self

    def executemany(self, sql: str, rows) -> None:
        self._last = self.connection.cursor()
        self._last.executemany(sql, rows)

    def fetchone(self):
        return self._last.fetchone()

    def fetchall(self) -> list:
        return self._last.fetchall()

    def __iter__(self):
        return iter(self._last)

    @property
    def rowcount(self) -> int:
        return self._last.rowcount

    def close(self) -> None:
        self._last = None


class FencedError(RuntimeError):
    """Another writer took over: this one must not commit anything more."""


@dataclass
class BatchResult:
    items: int
    events: int
    head: int
    seconds: float
    committed_at: float  # time.time() right after the commit


_KEY = ("namespace", "type", "id")
_RESOURCE_COLUMNS = ("namespace", "type", "id", "version", "phase", "owner", "created", "updated", "labels",
                     "annotations", "finalizers", "spec", "revision", "document")


class Writer:
    """Owns the write connection, the resource index, the stream checkpoints and the head revision."""

    def __init__(self, engine: Engine, projections: Projections | None = None) -> None:
        self.engine = engine
        self.sql = Statements(engine.dialect)
        # Hot-path rows are built as plain tuples: make sure they match the compiled statements.
        expected = {
            "upsert_resource": _RESOURCE_COLUMNS,
            "delete_resource": _KEY, "delete_labels": _KEY, "select_resource": _KEY,
            "insert_label": ("namespace", "type", "key", "value", "id"),
            "upsert_kind_revision": ("namespace", "type", "revision"),
        }
        for name, columns in expected.items():
            if getattr(self.sql, name).columns != columns:
                raise RuntimeError(f"{name} binds {getattr(self.sql, name).columns}, not {columns}")
        self.log = Appender(engine.dialect)  # event rows go to the compact log (models/eventlog.py)
        self.projections = projections
        self.rollup = Folder(engine.dialect)
        self.sqlite = engine.dialect.name == "sqlite"
        database = engine.url.database if self.sqlite else None
        self._checkpointer = Checkpointer(database) if database and database != ":memory:" else None
        self._connect()
        if self._checkpointer is not None:
            self._checkpointer.start()
        self.epoch = 0
        self.head = 0
        self.index: dict[StreamKey, dict[str, Entry]] = {}
        self.streams: dict[StreamKey, StreamState] = {}
        self._last_observed = datetime.fromtimestamp(0, UTC)
        self._projection_errors: set[tuple[str, str]] = set()

    def _connect(self) -> None:
        self._fairy = self.engine.raw_connection()
        self.conn = self._fairy.dbapi_connection
        if self.sqlite:
            self.conn.isolation_level = None  # explicit BEGIN IMMEDIATE / COMMIT
            if self._checkpointer is not None:
                self.conn.execute("PRAGMA wal_autocheckpoint=0")  # see watcher/checkpoint.py

    # -- start-up ----------------------------------------------------------------------------------

    def take_over(self, writer_id: str) -> int:
        """Become the writer: bump the fencing epoch, then load the state as of that moment."""
        cur = self.conn.cursor()
        self._begin(cur)
        try:
            cur.execute(self.sql.bump_epoch.sql,
                        self._bind(self.sql.bump_epoch, writer_id=writer_id, heartbeat=self._now_value()))
            cur.execute(self.sql.select_meta.sql)
            self.head, self.epoch = cur.fetchone()
            self.conn.commit()
        except BaseException:
            self.conn.rollback()
            raise
        self._load()
        return self.epoch

    def _load(self) -> None:
        cur = self.conn.cursor()
        cur.execute(self.sql.select_streams.sql)
        names = self.sql.stream_columns
        self.streams = {}
        for row in cur.fetchall():
            values = dict(zip(names, row, strict=True))
            for name in ("bootstrapped_at", "last_event_at", "last_error_at"):
                values[name] = read_datetime(values[name])
            values["bootstrapped"] = bool(values["bootstrapped"])
            if values["bookmark"] is not None:
                values["bookmark"] = bytes(values["bookmark"])
            state = StreamState(**values)
            self.streams[state.key] = state
        cur.execute(self.sql.select_index.sql)
        index: dict[StreamKey, dict[str, Entry]] = {}
        for namespace, type_, id_, version, created, labels in cur:
            index.setdefault((namespace, type_), {})[sys.intern(id_)] = pack(  # interned: as watcher/decode.py
                version, read_micros(created), labels_key(read_json(labels)), 0)
        cur.execute(self.sql.select_unversioned.sql)
        for row in cur.fetchall():
            res = decoded_from_stored(stored_from_row(row))
            index[(res.namespace, res.type)][res.id] = entry_of(res)
        self.index = index
        self.conn.commit()
        metrics.HEAD_REVISION.set(self.head)

    def stream(self, key: StreamKey) -> StreamState:
        """The committed checkpoint of a stream (a fresh one if never written)."""
        return self.streams.get(key) or StreamState(*key)

    def reconnect(self) -> None:
        """A fresh write connection after a database error (the old one may be dead)."""
        if self._fairy is not None:
            try:
                self._fairy.invalidate()
            except Exception:  # noqa: S110 - it is being thrown away either way
                pass
            self._fairy = None  # invalidated once, even if the new connection fails
        self._connect()

    def close(self) -> None:
        try:
            self.conn.rollback()
        except Exception as exc:  # a dead connection must not hide why the writer stops
            log.debug("rollback on close failed: %s", exc)
        finally:
            if self._fairy is not None:
                self._fairy.close()
            if self._checkpointer is not None:
                self._checkpointer.stop()

    # -- applying ----------------------------------------------------------------------------------

    def apply(self, items: Iterable[Item]) -> BatchResult | None:
        """Apply ``items`` in one transaction. None when they changed nothing at all."""
        started = time.perf_counter()
        cur = self.conn.cursor() if self.sqlite else FreshCursors(self.conn)
        self._begin(cur)
        try:
            # On PostgreSQL the whole batch runs in pipeline mode: statements go out without waiting for
            # their answers, so only the reads cost a round trip (a live batch made ~40 of them before).
            with self._pipeline():
                plan = Plan(self, cur, self._observed_at())
                count = 0
                for item in items:
                    plan.add(item)
                    count += 1
                fence = None
                if not plan.empty:
                    plan.render_documents()
                    fence = self._write(cur, plan)
            if fence is None:
                self.conn.rollback()
                return None
            if fence.rowcount != 1:
                raise FencedError(
                    f"writer epoch {self.epoch} is no longer current (or the head moved): another watcher "
                    "has taken over; this one stops without committing")
            self.conn.commit()
        except BaseException:
            self.conn.rollback()
            self.log.reset()  # ids it allocated in this transaction were not committed
            raise
        committed_at = time.time()
        plan.publish()
        seconds = time.perf_counter() - started
        metrics.BATCH_SECONDS.observe(seconds)
        metrics.BATCH_ITEMS.observe(count)
        return BatchResult(count, len(plan.events), self.head, seconds, committed_at)

    def _pipeline(self) -> AbstractContextManager:
        return nullcontext() if self.sqlite else self.conn.pipeline()

    def _write(self, cur, plan: Plan):
        """Write the plan's rows; returns the cursor of the fence, whose rowcount the caller checks once
        the statements have been answered (before the commit)."""
        sql = self.sql
        # The fence first: it also takes the meta row lock on PostgreSQL, serialising with a takeover.
        fence = self.conn.cursor()
        fence.execute(sql.advance_head.sql, self._bind(
            sql.advance_head, epoch=self.epoch, old_head=self.head, head=plan.head, heartbeat=plan.observed))
        if plan.events:
            progress = self.rollup.progress(cur)  # answered with the log's look-ups (one round trip fewer)
            self.log.append(cur, plan.events, plan.event_specs)
            # the per-day counts, in the same transaction (models/rollup.py), reading only the batch's kinds
            self.rollup.fold(cur, plan.head, (self.head, {(event[1], event[2]) for event in plan.events}), progress)
        if plan.deleted:
            cur.executemany(sql.delete_resource.sql, plan.deleted)
        if plan.label_deletes:
            cur.executemany(sql.delete_labels.sql, plan.label_deletes)
        if plan.upserts:
            cur.executemany(sql.upsert_resource.sql, plan.upserts)
        if plan.label_inserts:
            self._insert_labels(cur, plan.label_inserts)
        if plan.document_updates:
            cur.executemany(sql.update_document.sql, plan.document_updates)
        if plan.kind_revisions:
            cur.executemany(sql.upsert_kind_revision.sql,
                            [(*kind, revision) for kind, revision in plan.kind_revisions.items()])
        if plan.poison:
            cur.executemany(sql.insert_poison.sql, plan.poison)
        if plan.streams:
            cur.executemany(sql.upsert_stream.sql, [self._stream_row(s) for s in plan.streams.values()])
        return fence

    def _insert_labels(self, cur, rows: list[tuple]) -> None:
        if self.sqlite:
            cur.executemany(self.sql.insert_label.sql, rows)
            return
        # A bootstrap batch inserts thousands of label rows: one statement takes them all, a column per array.
        cur.execute(self.sql.insert_labels_unnest, [list(column) for column in zip(*rows, strict=True)])

    def _stream_row(self, state: StreamState) -> tuple:
        sql = self.sql
        values = {
            "namespace": state.namespace, "type": state.type, "bookmark": state.bookmark,
            "bootstrapped": sql.boolean(state.bootstrapped),
            "bootstrapped_at": sql.datetime_value(state.bootstrapped_at),
            "last_revision": state.last_revision, "last_event_at": sql.datetime_value(state.last_event_at),
            "reconnects": state.reconnects, "rebootstraps": state.rebootstraps,
            "poison_events": state.poison_events, "last_error": state.last_error,
            "last_error_at": sql.datetime_value(state.last_error_at),
        }
        return tuple(values[name] for name in sql.upsert_stream.columns)

    def _begin(self, cur) -> None:
        if self.sqlite:
            cur.execute("BEGIN IMMEDIATE")

    @staticmethod
    def _bind(statement, **values) -> tuple:
        return tuple(values[name] for name in statement.columns)

    def _observed_at(self) -> datetime:
        # Monotonic even if the wall clock steps back: `--at TIME` maps times to revisions by it.
        now = datetime.now(UTC)
        if now <= self._last_observed:
            now = self._last_observed
        self._last_observed = now
        return now

    def _now_value(self):
        return self.sql.datetime_value(datetime.now(UTC))

    def guarded(self, function):
        """``function`` (a projection) made safe: an exception means no document, logged once per
        kind and error, never a failed batch (a bug there must not stop the read model)."""
        def call(resource: StoredResource, *args):
            try:
                return function(resource, *args)
            except Exception as exc:
                if is_database_error(exc):
                    raise  # a lookup's database failure fails the batch (and is retried), not the document
                seen = (resource.type, type(exc).__name__)
                if seen not in self._projection_errors:
                    self._projection_errors.add(seen)
                    log.exception("projection %s failed for %s %s", function.__name__, resource.type, resource.id)
                metrics.PROJECTION_ERRORS.labels(resource.type).inc()
                return None
        return call

    # -- reads inside the batch's transaction -----------------------------------------------------

    def read_resource(self, cur, key: Key) -> StoredResource | None:
        cur.execute(self.sql.select_resource.sql, key)
        row = cur.fetchone()
        return None if row is None else stored_from_row(row)

    def read_resources(self, cur, keys: Iterable[Key], chunk: int = 500) -> dict[Key, StoredResource | None]:
        """The stored rows of ``keys`` (None for a key not stored), a few hundred ids per statement: a
        bootstrap batch renders thousands of documents whose joined rows were committed earlier."""
        by_kind: dict[tuple[str, str], list[str]] = {}
        for namespace, type_, id_ in set(keys):
            by_kind.setdefault((namespace, type_), []).append(id_)
        found: dict[Key, StoredResource | None] = {}
        mark = self.sql.mark
        for (namespace, type_), ids in by_kind.items():
            for start in range(0, len(ids), chunk):
                part = ids[start:start + chunk]
                for id_ in part:
                    found[(namespace, type_, id_)] = None
                cur.execute(self.sql.select_resources_of.format(mark=mark, marks=", ".join([mark] * len(part))),
                            (namespace, type_, *part))
                for row in cur.fetchall():
                    found[(row[0], row[1], row[2])] = stored_from_row(row)
        return found
