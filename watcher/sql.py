"""The writer's SQL: Core statements compiled once per dialect, run on the DB-API driver directly.

Values are bound positionally in each statement's ``columns`` order. SQLite stores timestamps as
SQLAlchemy does (naive UTC ``YYYY-MM-DD HH:MM:SS.ffffff``) and JSON as text; on PostgreSQL the compiled
statements cast each placeholder (``%s::JSONB``), so JSON travels as text and timestamps as aware
datetimes. Reads accept either representation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from models.schema import kind_revisions, meta, poison_events, resource_labels, resources, streams

RESOURCE_KEY = ("namespace", "type", "id")
_ONE = sa.literal_column("1", sa.Integer)  # a constant in the SQL text, not one more bound parameter
_ZERO = sa.literal_column("0", sa.Integer)


@dataclass(frozen=True)
class Statement:
    sql: str
    columns: tuple[str, ...]


def _compile(stmt: sa.sql.ClauseElement, dialect: Dialect) -> Statement:
    compiled = stmt.compile(dialect=dialect)
    return Statement(compiled.string, tuple(compiled.positiontup or ()))


def _upsert(table: sa.Table, key: tuple[str, ...], dialect_name: str) -> sa.sql.ClauseElement:
    insert = (postgresql.insert if dialect_name == "postgresql" else sqlite.insert)(table)
    names = [c.name for c in table.c]
    insert = insert.values({name: sa.bindparam(name) for name in names})
    return insert.on_conflict_do_update(
        index_elements=list(key), set_={name: insert.excluded[name] for name in names if name not in key}
    )


def _key_clause(table: sa.Table, names: tuple[str, ...]) -> sa.sql.ColumnElement:
    return sa.and_(*(table.c[name] == sa.bindparam(name) for name in names))


class Statements:
    """Every statement the writer runs, compiled for one dialect with positional placeholders."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect_name = dialect.name
        positional = type(dialect)(paramstyle="qmark" if dialect.name == "sqlite" else "format")
        c = lambda stmt: _compile(stmt, positional)  # noqa: E731

        self.upsert_resource = c(_upsert(resources, RESOURCE_KEY, dialect.name))
        self.delete_resource = c(sa.delete(resources).where(_key_clause(resources, RESOURCE_KEY)))
        self.delete_labels = c(sa.delete(resource_labels).where(_key_clause(resource_labels, RESOURCE_KEY)))
        lb_names = [col.name for col in resource_labels.c]
        self.insert_label = c(sa.insert(resource_labels).values({n: sa.bindparam(n) for n in lb_names}))
        # PostgreSQL: a batch's new label rows in one statement, one array per column (executemany binds and
        # executes row by row; COPY, as fast, cannot run in the writer's pipeline).
        self.insert_labels_unnest = (
            f"INSERT INTO resource_labels ({', '.join(self.insert_label.columns)}) "  # noqa: S608 - our names
            f"SELECT * FROM unnest({', '.join(['%s::text[]'] * len(self.insert_label.columns))})")
        # Rows a batch reads (joined and embedding resources of its documents), many per statement.
        self.select_resources_of = (
            f"SELECT {', '.join(RESOURCE_COLUMNS)} FROM resources "  # noqa: S608 - our names; values bound
            f"WHERE namespace = {{mark}} AND type = {{mark}} AND id IN ({{marks}})")
        self.mark = "?" if dialect.name == "sqlite" else "%s"
        self.update_document = c(
            sa.update(resources)
            .where(_key_clause(resources, RESOURCE_KEY))
            .values(document=sa.bindparam("document"), revision=sa.bindparam("revision"))
        )
        self.select_resource = c(
            sa.select(*[resources.c[n] for n in RESOURCE_COLUMNS]).where(_key_clause(resources, RESOURCE_KEY))
        )
        self.select_index = c(
            sa.select(resources.c.namespace, resources.c.type, resources.c.id, resources.c.version,
                      resources.c.created, resources.c.labels)
        )
        self.select_unversioned = c(
            sa.select(*[resources.c[n] for n in RESOURCE_COLUMNS]).where(resources.c.version == _ZERO)
        )
        # Revisions only grow under the fence, so the batch's value always replaces the stored one.
        self.upsert_kind_revision = c(_upsert(kind_revisions, ("namespace", "type"), dialect.name))
        st_names = [col.name for col in streams.c]
        self.upsert_stream = c(_upsert(streams, ("namespace", "type"), dialect.name))
        self.select_streams = c(sa.select(*[streams.c[n] for n in st_names]))
        self.stream_columns = tuple(st_names)
        pe_names = [col.name for col in poison_events.c if col.name != "seq"]
        self.insert_poison = c(sa.insert(poison_events).values({n: sa.bindparam(n) for n in pe_names}))
        # Fencing: the commit only counts if this writer's epoch is still current (and the head is ours).
        self.advance_head = c(
            sa.update(meta)
            .where(meta.c.singleton == _ONE, meta.c.writer_epoch == sa.bindparam("epoch"),
                   meta.c.head_revision == sa.bindparam("old_head"))
            .values(head_revision=sa.bindparam("head"), writer_heartbeat=sa.bindparam("heartbeat"))
        )
        self.select_meta = c(sa.select(meta.c.head_revision, meta.c.writer_epoch).where(meta.c.singleton == _ONE))
        self.bump_epoch = c(
            sa.update(meta)
            .where(meta.c.singleton == _ONE)
            .values(writer_epoch=meta.c.writer_epoch + _ONE, writer_id=sa.bindparam("writer_id"),
                    writer_heartbeat=sa.bindparam("heartbeat"))
        )

    # -- values --------------------------------------------------------------------------------

    def timestamp(self, text: str | None) -> str | None:
        """A bind value for a timestamp column from naive UTC text (``decode.timestamp_text``)."""
        if text is None or self.dialect_name == "sqlite":
            return text
        return text + "+00:00"  # PostgreSQL would otherwise read it in the session's time zone

    def datetime_value(self, dt: datetime | None):
        if dt is None or self.dialect_name != "sqlite":
            return dt
        return sqlite_datetime(dt)

    def boolean(self, value: bool):
        return int(value) if self.dialect_name == "sqlite" else value


RESOURCE_COLUMNS = ("namespace", "type", "id", "version", "phase", "owner", "created", "updated", "labels",
                    "annotations", "finalizers", "spec")


def sqlite_datetime(dt: datetime) -> str:
    """SQLAlchemy's SQLite DATETIME storage format, in UTC."""
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC)
    return (f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d} "
            f"{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}.{dt.microsecond:06d}")


def read_datetime(value) -> datetime | None:
    """A timestamp column as read from either driver, as an aware UTC datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def read_micros(value) -> int | None:
    dt = read_datetime(value)
    if dt is None:
        return None
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def read_json(value):
    """A JSON column as read from either driver (psycopg parses JSONB itself; SQLite returns text)."""
    if isinstance(value, str | bytes):
        return json.loads(value)
    return value
