"""Retention: remove history older than a horizon without changing any answer at or after it.

The horizon H is a revision. Pruning keeps, for every resource, its last event at or before H unless that
event is a destroy (that is the state at H), and every event after H; it deletes the rest. So the state
at any revision R >= H, the current state and every view row valid at or after H are unchanged, and each
live resource's latest version is kept whatever its age. ``meta.horizon_revision`` records H *before*
anything is deleted, so readers refuse points below it (410) instead of answering from a half-pruned log.

Then the content-addressed rows no remaining event refers to go too (models/eventlog.py): resource keys,
metas and specs no ``event_log`` row names, then blobs no spec names and no other blob uses as its base. On PostgreSQL each of those
transactions first locks those tables against the writer's inserts (SHARE ROW EXCLUSIVE), so a row the
writer is about to reuse is either still there or re-inserted by it; SQLite has one writer at a time.

Deletes run in small transactions (``chunk`` revisions each) so a watcher keeps committing in between;
the watcher only ever appends above the head, which is at or above H, so the two never touch the same
rows. Freed SQLite pages are reused by later inserts (the file does not shrink unless the database was
created with ``auto_vacuum=INCREMENTAL``, in which case they are returned with ``incremental_vacuum``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from models import history
from models.schema import meta

DEFAULT_CHUNK = 5_000

# An event older than the horizon goes unless it is its resource's state at the horizon.
_DELETE = sa.text("""
DELETE FROM event_log
WHERE revision >= :low AND revision < :high AND revision < :horizon
  AND NOT (event <> 'destroyed' AND revision = (
    SELECT MAX(x.revision) FROM event_log x WHERE x.key_id = event_log.key_id AND x.revision <= :horizon))
""")
# Content-addressed rows nothing refers to any more, one id range (or digest prefix) per transaction.
_INTERNED = ("resource_keys", "key_id"), ("metas", "meta_id"), ("specs", "spec_id")
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


def prune(engine: Engine, new_horizon: int, chunk: int = DEFAULT_CHUNK) -> Pruned:
    with engine.begin() as conn:
        previous = horizon(conn)
        if new_horizon <= previous:
            return Pruned(previous, previous, 0)
        conn.execute(sa.update(meta).where(meta.c.singleton == 1).values(horizon_revision=new_horizon))
    with engine.connect() as conn:
        oldest = int(conn.execute(sa.text("SELECT MIN(revision) FROM event_log")).scalar() or new_horizon)
    deleted = 0
    for low in range(oldest, new_horizon, chunk):
        with engine.begin() as conn:
            result = conn.execute(_DELETE, {"low": low, "high": low + chunk, "horizon": new_horizon})
            deleted += result.rowcount
    collect_unused(engine, chunk)
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            if conn.exec_driver_sql("PRAGMA auto_vacuum").scalar() == 2:
                conn.exec_driver_sql("PRAGMA incremental_vacuum")
    return Pruned(new_horizon, previous, deleted)


def collect_unused(engine: Engine, chunk: int = DEFAULT_CHUNK) -> int:
    """Delete resource keys, metas, specs and blobs that nothing refers to; returns how many rows went."""
    pg = engine.dialect.name == "postgresql"
    removed = 0

    def locked(conn: Connection) -> None:
        if pg:
            conn.exec_driver_sql(_LOCK)

    for table, column in _INTERNED:
        with engine.connect() as conn:
            top = int(conn.execute(sa.text(f"SELECT COALESCE(MAX({column}), 0) FROM {table}")).scalar())  # noqa: S608
        unused = sa.text(f"DELETE FROM {table} WHERE {column} >= :low AND {column} < :high "  # noqa: S608
                         f"AND NOT EXISTS (SELECT 1 FROM event_log l WHERE l.{column} = {table}.{column})")
        for low in range(1, top + 1, chunk):
            with engine.begin() as conn:
                locked(conn)
                removed += conn.execute(unused, {"low": low, "high": low + chunk}).rowcount
    # Blobs by first hex digit: 16 bounded transactions, each comparing against the states that name blobs.
    references = _BLOB_REFERENCES[engine.dialect.name]
    for prefix in _HEX:
        with engine.begin() as conn:
            locked(conn)
            removed += conn.execute(sa.text(
                f"DELETE FROM blobs WHERE digest >= :low AND digest < :high AND digest NOT IN ({references}) "  # noqa: S608
                "AND digest NOT IN (SELECT d.base FROM blobs d WHERE d.base IS NOT NULL)"),
                {"low": prefix, "high": prefix + "g"}).rowcount
    return removed
