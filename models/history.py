"""Point-in-time reads of the read model, computed from the event log.

The state as of revision R is, for every (namespace, type, id), the last event at or before R unless
that event is a destroy. A time maps to the last revision observed at or before it (the writer keeps
``observed_at`` monotonic). Shared by ``omni-readmodel export`` and the API's ``at=`` reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from models.resource import StoredResource
from models.schema import events, meta, resources

DESTROYED = "destroyed"
_STATE_COLUMNS = ("namespace", "type", "id", "version", "phase", "owner", "created", "updated", "labels",
                  "annotations", "finalizers", "spec")


def head_revision(conn: Connection) -> int:
    return int(conn.execute(sa.select(meta.c.head_revision).where(meta.c.singleton == 1)).scalar() or 0)


def revision_at(conn: Connection, when: datetime) -> int:
    """The last revision observed at or before ``when`` (0 if none). A naive ``when`` means UTC."""
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    value = conn.execute(sa.select(sa.func.max(events.c.revision)).where(events.c.observed_at <= when)).scalar()
    return int(value or 0)


def parse_point(text: str) -> int | datetime:
    """``--at``/``at=``: a revision number or an RFC 3339 time (``Z`` accepted)."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is neither a revision number nor an RFC 3339 time") from None


def resolve_point(conn: Connection, point: int | datetime) -> int:
    return point if isinstance(point, int) else revision_at(conn, point)


def _stored(row: sa.Row) -> StoredResource:
    return StoredResource(
        row.namespace, row.type, row.id, int(row.version), row.phase, row.owner, _aware(row.created),
        _aware(row.updated), row.labels or {}, row.annotations or {}, row.finalizers or [], row.spec or {},
    )


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)  # SQLite stores naive UTC


def _filters(table: sa.Table, namespace: str | None, type_: str | None) -> list:
    clauses = []
    if namespace is not None:
        clauses.append(table.c.namespace == namespace)
    if type_ is not None:
        clauses.append(table.c.type == type_)
    return clauses


def _order(conn: Connection, table: sa.Table) -> list:
    """namespace, type, id in code-point order (PostgreSQL would otherwise sort by its locale)."""
    columns = [table.c.namespace, table.c.type, table.c.id]
    if conn.dialect.name == "postgresql":
        return [column.collate("C") for column in columns]
    return columns  # SQLite's BINARY collation is code-point order for UTF-8


def current(conn: Connection, *, namespace: str | None = None, type_: str | None = None
            ) -> Iterator[StoredResource]:
    """Current resources (the projection), sorted by namespace, type, id."""
    query = (sa.select(*[resources.c[n] for n in _STATE_COLUMNS])
             .where(*_filters(resources, namespace, type_))
             .order_by(*_order(conn, resources)))
    for row in conn.execute(query):
        yield _stored(row)


def _last_events(revision: int, namespace: str | None, type_: str | None) -> sa.Subquery:
    return (
        sa.select(sa.func.max(events.c.revision).label("revision"))
        .where(events.c.revision <= revision, *_filters(events, namespace, type_))
        .group_by(events.c.namespace, events.c.type, events.c.id)
        .subquery("last")
    )


def at_revision(conn: Connection, revision: int, *, namespace: str | None = None, type_: str | None = None
                ) -> Iterator[StoredResource]:
    """Resources as they were right after ``revision``, sorted by namespace, type, id."""
    last = _last_events(revision, namespace, type_)
    query = (sa.select(*[events.c[n] for n in _STATE_COLUMNS])
             .join(last, events.c.revision == last.c.revision)
             .where(events.c.event != DESTROYED)
             .order_by(*_order(conn, events)))
    for row in conn.execute(query):
        yield _stored(row)


def resource_at(conn: Connection, namespace: str, type_: str, id_: str, revision: int) -> StoredResource | None:
    """One resource as it was right after ``revision``; None if it did not exist then."""
    row = conn.execute(
        sa.select(events.c.event, *[events.c[n] for n in _STATE_COLUMNS])
        .where(events.c.namespace == namespace, events.c.type == type_, events.c.id == id_,
               events.c.revision <= revision)
        .order_by(events.c.revision.desc())
        .limit(1)
    ).first()
    if row is None or row.event == DESTROYED:
        return None
    return _stored(row)


def versions(conn: Connection, namespace: str, type_: str, id_: str) -> Iterator[tuple[int, str, StoredResource]]:
    """Every logged change of one resource, oldest first: (revision, event, state after it)."""
    query = (sa.select(events.c.revision, events.c.event, *[events.c[n] for n in _STATE_COLUMNS])
             .where(events.c.namespace == namespace, events.c.type == type_, events.c.id == id_)
             .order_by(events.c.revision))
    for row in conn.execute(query):
        yield int(row.revision), row.event, _stored(row)
