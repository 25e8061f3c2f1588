"""Retention: remove history older than a horizon without changing any answer at or after it.

The horizon H is a revision. Pruning keeps, for every resource, its last event at or before H unless that
event is a destroy (that is the state at H), and every event after H; it deletes the rest. So the state
at any revision R >= H, the current state and every view row valid at or after H are unchanged, and each
live resource's latest version is kept whatever its age. ``meta.horizon_revision`` records H *before*
anything is deleted, so readers refuse points below it (410) instead of answering from a half-pruned log.

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
DELETE FROM events
WHERE revision >= :low AND revision < :high AND revision < :horizon
  AND NOT (event <> 'destroyed' AND revision = (
    SELECT MAX(x.revision) FROM events x
    WHERE x.namespace = events.namespace AND x.type = events.type AND x.id = events.id
      AND x.revision <= :horizon))
""")


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
        oldest = int(conn.execute(sa.text("SELECT MIN(revision) FROM events")).scalar() or new_horizon)
    deleted = 0
    for low in range(oldest, new_horizon, chunk):
        with engine.begin() as conn:
            result = conn.execute(_DELETE, {"low": low, "high": low + chunk, "horizon": new_horizon})
            deleted += result.rowcount
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            if conn.exec_driver_sql("PRAGMA auto_vacuum").scalar() == 2:
                conn.exec_driver_sql("PRAGMA incremental_vacuum")
    return Pruned(new_horizon, previous, deleted)
