"""Retention: remove history older than a horizon without changing any answer at or after it.

The horizon H is a revision. Pruning keeps, for every resource, its last event at or before H unless that
event is a destroy (that is the state at H), and every event after H; it deletes the rest. So the state
at any revision R >= H, the current state and every view row valid at or after H are unchanged, and each
live resource's latest version is kept whatever its age. ``meta.horizon_revision`` records H *before*
anything is deleted, so readers refuse points below it (410) instead of answering from a half-pruned log.

Deletes run in small transactions of ``chunk`` revisions each, walking the log from its oldest event (or
from where an earlier pass of the same process stopped, ``since``) up to H: for each resource changed in
the chunk every older event goes, and the chunk's destroys below H go, one statement each. Each
transaction touches only the rows of that chunk's resources through the (key_id, revision)
index, so a watcher keeps committing in between (``watch --retention`` prunes from inside the watcher
this way, see watcher/pruner.py); the watcher only ever appends above the head, which is at or above H,
so the two never touch the same rows. On SQLite each chunk takes the write lock up front (``BEGIN IMMEDIATE``) so it waits
its turn instead of failing on a stale snapshot. Freed SQLite pages are reused by later inserts (the file
does not shrink unless the database was created with ``auto_vacuum=INCREMENTAL``, in which case they are
returned with ``incremental_vacuum``).

Why the walk may start at the previous horizon: below a completed horizon each resource has at most one
event, so an event there is obsolete at the new horizon only if a newer one exists, which lies at or
above the previous horizon and is visited. The CLI walks the whole log (an interrupted pass leaves more
than one event per resource below the horizon; a full walk removes them too).

After the walk, the content-addressed rows no remaining event refers to go too (models/eventlog.py): resource keys,
metas and specs no ``event_log`` row names, then blobs no spec names and no other blob uses as its base.
``event_log`` has no index on ``meta_id`` or ``spec_id`` (it would cost more per event than the rest of
the row): unused metas and specs are found by one scan of the log per pass that deleted events. On PostgreSQL each of those
transactions first locks those tables against the writer's inserts (SHARE ROW EXCLUSIVE), so a row the
writer is about to reuse is either still there or re-inserted by it; SQLite has one writer at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from models import history
from models.schema import meta

DEFAULT_CHUNK = 5_000

# Every event older than the newest event (below the horizon) of a resource changed in [low, high) goes,
# found through the (key_id, revision) index; high <= horizon + 1.
_OLDER = sa.text("""
DELETE FROM event_log WHERE revision IN (
  SELECT o.revision FROM (
    SELECT key_id, MAX(revision) AS newest FROM event_log
    WHERE revision >= :low AND revision < :high
    GROUP BY key_id) AS c
  JOIN event_log o ON o.key_id = c.key_id AND o.revision < c.newest)
""")
# And a destroy below the horizon leaves no state to keep.
_DESTROYS = sa.text("""
DELETE FROM event_log WHERE revision >= :low AND revision < :high AND revision < :horizon AND event = 'destroyed'
""")
# Content-addressed rows nothing refers to any more, one id range (or digest prefix) per transaction.
_KEYS = ("resource_keys", "key_id")  # event_log's (key_id, revision) index answers "still used"
_SCANNED = ("metas", "meta_id"), ("specs", "spec_id")  # no index: one scan finds the candidates
_BLOB_REFERENCES = {
    "sqlite": "SELECT j.value FROM specs s, json_each(s.spec_blobs) j WHERE s.spec_blobs IS NOT NULL",
    "postgresql": "SELECT j.value FROM specs s, jsonb_each_text(s.spec_blobs) j WHERE s.spec_blobs IS NOT NULL",
}
_LOCK = "LOCK TABLE resource_keys, metas, specs, blobs IN SHARE ROW EXCLUSIVE MODE"
_HEX = "0123456789abcdef"


class RetentionError(ValueError):
    pass


@dataclass(frozen=True)
class Pruned:
    horizon: int
    previous_horizon: int
    deleted: int


horizon = history.retention_horizon


def horizon_for(conn: Connection, *, before: int | None = None, older_than: datetime | None = None) -> int:
    """The horizon for ``--before REVISION`` or ``--older-than`` (the last revision observed before then)."""
    head = history.head_revision(conn)
    if before is not None:
        if before < 1 or before > head:
            raise RetentionError(f"--before {before}: the log holds revisions 1 to {head}")
        return before
    if older_than is None:
        raise RetentionError("give --before REVISION or --older-than AGE")
    return history.revision_at(conn, older_than)


def prune(engine: Engine, new_horizon: int, chunk: int = DEFAULT_CHUNK, *, since: int | None = None,
          fence: Callable[[Connection], None] | None = None, between: Callable[[int], bool] | None = None,
          turn: Callable[[], AbstractContextManager] | None = None) -> Pruned:
    """Move the horizon to ``new_horizon`` and delete what it makes obsolete, ``chunk`` revisions per
    transaction. ``since``: start the walk there instead of at the oldest event (a horizon this process
    completed, or where an interrupted walk stopped: everything below it was already walked).
    ``fence(conn)`` runs first in every transaction and raises to stop (the watcher's epoch check);
    ``between(next_low)`` runs between transactions and returns True to stop early (the horizon is then
    recorded but rows below it remain: a walk from ``next_low`` finishes the job); ``turn()`` is entered
    around every transaction (the watcher's turn-taking with its writer)."""
    with _transaction(engine, turn) as conn:
        if fence is not None:
            fence(conn)
        previous = horizon(conn)
        if new_horizon <= previous and since is None:
            return Pruned(previous, previous, 0)
        if new_horizon > previous:
            conn.execute(sa.update(meta).where(meta.c.singleton == 1).values(horizon_revision=new_horizon))
        new_horizon = max(new_horizon, previous)
    with engine.connect() as conn:
        oldest = history.oldest_revision(conn)
    low = max(since or 0, oldest or new_horizon)
    deleted = 0
    while low <= new_horizon:
        high = min(low + chunk, new_horizon + 1)
        with _transaction(engine, turn) as conn:
            if fence is not None:
                fence(conn)
            deleted += conn.execute(_OLDER, {"low": low, "high": high}).rowcount
            deleted += conn.execute(_DESTROYS, {"low": low, "high": high, "horizon": new_horizon}).rowcount
        low = high
        if between is not None and low <= new_horizon and between(low):
            break
    else:
        # Only deleted events orphan keys, metas, specs and blobs: a pass that deleted nothing (the
        # watcher's passes between horizon moves) skips the scans. A pass stopped early leaves them to
        # the next pass that deletes.
        if deleted:
            collect_unused(engine, chunk, turn)
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            if conn.exec_driver_sql("PRAGMA auto_vacuum").scalar() == 2:
                conn.exec_driver_sql("PRAGMA incremental_vacuum")
    return Pruned(new_horizon, previous, deleted)


def collect_unused(engine: Engine, chunk: int = DEFAULT_CHUNK,
                   turn: Callable[[], AbstractContextManager] | None = None) -> int:
    """Delete resource keys, metas, specs and blobs that nothing refers to; returns how many rows went."""
    pg = engine.dialect.name == "postgresql"
    removed = 0

    def locked(conn: Connection) -> None:
        if pg:
            conn.exec_driver_sql(_LOCK)

    table, column = _KEYS
    with engine.connect() as conn:
        top = int(conn.execute(sa.text(f"SELECT COALESCE(MAX({column}), 0) FROM {table}")).scalar())  # noqa: S608
    unused = sa.text(f"DELETE FROM {table} WHERE {column} >= :low AND {column} < :high "  # noqa: S608
                     f"AND NOT EXISTS (SELECT 1 FROM event_log l WHERE l.{column} = {table}.{column})")
    for low in range(1, top + 1, chunk):
        with _transaction(engine, turn) as conn:
            locked(conn)
            removed += conn.execute(unused, {"low": low, "high": low + chunk}).rowcount
    for table, column in _SCANNED:
        # Candidates: rows no event up to ``seen`` names, found by one scan without a write lock. Events at
        # or below ``seen`` are only ever deleted (the writer appends above the head), so a candidate stays
        # unused unless an event appended since names it: each delete checks those, a range of the
        # primary key, in the transaction (PostgreSQL: under the lock that orders it with the writer's).
        with engine.connect() as conn:
            seen = int(conn.execute(sa.text("SELECT COALESCE(MAX(revision), 0) FROM event_log")).scalar())
            candidates = [int(row[0]) for row in conn.execute(sa.text(
                f"SELECT {column} FROM {table} EXCEPT SELECT {column} FROM event_log"))]  # noqa: S608
        gone = sa.text(f"DELETE FROM {table} WHERE {column} IN :ids AND {column} NOT IN "  # noqa: S608
                       f"(SELECT l.{column} FROM event_log l WHERE l.revision > :seen)"
                       ).bindparams(sa.bindparam("ids", expanding=True))
        step = min(chunk, 1_000)  # bound parameters per statement
        for start in range(0, len(candidates), step):
            with _transaction(engine, turn) as conn:
                locked(conn)
                removed += conn.execute(gone, {"ids": candidates[start:start + step], "seen": seen}).rowcount
    # Blobs by first hex digit: 16 bounded transactions, each comparing against the states that name blobs.
    references = _BLOB_REFERENCES[engine.dialect.name]
    for prefix in _HEX:
        with _transaction(engine, turn) as conn:
            locked(conn)
            removed += conn.execute(sa.text(
                f"DELETE FROM blobs WHERE digest >= :low AND digest < :high AND digest NOT IN ({references}) "  # noqa: S608
                "AND digest NOT IN (SELECT d.base FROM blobs d WHERE d.base IS NOT NULL)"),
                {"low": prefix, "high": prefix + "g"}).rowcount
    return removed


@contextmanager
def _transaction(engine: Engine, turn: Callable[[], AbstractContextManager] | None = None) -> Iterator[Connection]:
    """``engine.begin()``, on SQLite with the write lock taken first (a deferred transaction that reads
    before it writes fails at once if a writer committed in between, instead of waiting)."""
    with turn() if turn is not None else nullcontext(), engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield conn
