"""The read model's SQL schema (SQLAlchemy Core). It changes only through Alembic migrations.

- ``event_log``: the append-only event log. One narrow row per applied change with a global, gap-free
  ``revision`` assigned by the single writer, pointing at ``resource_keys`` (each (namespace, type, id)
  once), ``metas`` and ``specs`` (each distinct one once, content-addressed; large members in ``blobs``);
  its timestamps are ``LogTime`` (integer microseconds on SQLite).
  ``events`` is a view with the full state after each change (models/eventlog.py).
- ``resources``: the current-state projection, keyed by (namespace, type, id), with the revision that
  last touched each row and the precomputed API document.
- ``resource_labels``: one row per label of a current resource, so label selectors are index lookups.
- ``streams``: one checkpoint per watched (namespace, type), written with the events it covers.
- ``poison_events``: events that could not be decoded, recorded and skipped.
- ``kind_revisions``: per (namespace, type), the last revision that changed any row of that kind (a
  document re-rendered because of a joined kind included); ETags and the API's page cache key on it.
- ``meta``: one row: schema version, head revision, the writer epoch used for fencing and the retention
  horizon.
- ``api_tokens``: the API's bearer tokens (name, SHA-256, scopes, expiry, revocation), never the tokens.
- ``daily_counts``, ``rollup_members``, ``rollup_progress``: the per-day rollup of the fleet history the
  daily reports read, kept by the writer in each batch's transaction (models/rollup.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

SCHEMA_VERSION = 6

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# JSONB on PostgreSQL (indexable, compact), JSON text elsewhere.
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
# On SQLite an INTEGER PRIMARY KEY is the rowid itself: no second index, fastest appends.
Revision = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)


class LogTime(sa.types.TypeDecorator):
    """A UTC timestamp of the log's own tables: ``timestamptz`` on PostgreSQL (8 bytes already), integer
    microseconds since the epoch on SQLite (8 bytes instead of 26 of text, in every row and index). Python
    binds and reads ``datetime`` either way; SQL readers go through the ``events`` and reporting views,
    which turn it back into SQLAlchemy's SQLite text (``models.reporting.stamp_sql``)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.BigInteger())
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value, dialect: sa.Dialect):
        if dialect.name != "sqlite":
            return value
        return to_micros(value)

    def process_result_value(self, value, dialect: sa.Dialect):
        if dialect.name != "sqlite" or value is None:
            return value
        return from_micros(int(value))


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = datetime(1970, 1, 1)  # noqa: DTZ001 - naive UTC, as SQLAlchemy stores DATETIME on SQLite
_MICRO = timedelta(microseconds=1)


def to_micros(value: datetime | str | int | None) -> int | None:
    """Microseconds since the epoch of a ``datetime`` (naive is UTC), of SQLAlchemy's SQLite text
    (``YYYY-MM-DD HH:MM:SS[.ffffff]``, UTC) or of an integer (returned as it is)."""
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        return (value - _EPOCH_NAIVE) // _MICRO
    return (value - _EPOCH) // _MICRO


def from_micros(micros: int) -> datetime:
    """The aware UTC ``datetime`` of microseconds since the epoch."""
    return _EPOCH + timedelta(microseconds=micros)


def _resource_columns() -> list[sa.Column]:
    """The state of a resource as Omni reported it; shared by the log and the projection."""
    return [
        sa.Column("version", sa.BigInteger, nullable=False, comment="COSI per-resource version"),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("owner", sa.Text, nullable=False, server_default=""),
        sa.Column("created", Timestamp, nullable=True),
        sa.Column("updated", Timestamp, nullable=True),
        sa.Column("labels", Json, nullable=False),
        sa.Column("annotations", Json, nullable=False),
        sa.Column("finalizers", Json, nullable=False),
        sa.Column("spec", Json, nullable=False, comment="decoded spec, protobuf JSON with proto field names"),
    ]


resource_keys = sa.Table(
    "resource_keys",
    metadata,
    sa.Column("key_id", Revision, primary_key=True, autoincrement=False),
    sa.Column("namespace", sa.String(64), nullable=False),
    sa.Column("type", sa.String(128), nullable=False),
    sa.Column("id", sa.Text, nullable=False),
    sa.UniqueConstraint("namespace", "type", "id"),
)

metas = sa.Table(
    "metas",
    metadata,
    sa.Column("meta_id", Revision, primary_key=True, autoincrement=False),
    sa.Column("digest", sa.LargeBinary, nullable=False, comment="SHA-256 (16 bytes) of the stored values"),
    sa.Column("phase", sa.String(16), nullable=False),
    sa.Column("owner", sa.Text, nullable=False, server_default=""),
    sa.Column("labels", Json, nullable=False),
    sa.Column("annotations", Json, nullable=False),
    sa.Column("finalizers", Json, nullable=False),
    sa.UniqueConstraint("digest"),
)

specs = sa.Table(
    "specs",
    metadata,
    sa.Column("spec_id", Revision, primary_key=True, autoincrement=False),
    sa.Column("digest", sa.LargeBinary, nullable=False, comment="SHA-256 (16 bytes) of the stored values"),
    sa.Column("spec", Json, nullable=False, comment="decoded spec; members in spec_blobs hold a blob digest"),
    sa.Column("spec_blobs", Json, nullable=True, comment="member -> blobs.digest, for members stored as blobs"),
    sa.UniqueConstraint("digest"),
)

blobs = sa.Table(
    "blobs",
    metadata,
    sa.Column("digest", sa.String(32), primary_key=True, comment="hex SHA-256 (first 128 bits) of the JSON"),
    sa.Column("base", sa.String(32), nullable=True, comment="the blob whose JSON is data's zlib dictionary"),
    sa.Column("data", sa.LargeBinary, nullable=False, comment="zlib-compressed JSON of the member"),
)

event_log = sa.Table(
    "event_log",
    metadata,
    sa.Column("revision", Revision, primary_key=True, autoincrement=False),
    sa.Column("key_id", sa.BigInteger, nullable=False),
    sa.Column("meta_id", sa.BigInteger, nullable=False),
    sa.Column("spec_id", sa.BigInteger, nullable=False),
    sa.Column("event", sa.String(16), nullable=False, comment="created | updated | destroyed"),
    sa.Column("version", sa.BigInteger, nullable=False, comment="COSI per-resource version"),
    sa.Column("created", LogTime, nullable=True,
              comment="the resource's creation time (not in metas: a re-created resource would need a new one)"),
    sa.Column("updated", LogTime, nullable=True),
    sa.Column("observed_at", LogTime, nullable=False, comment="when the watcher applied it"),
    sa.CheckConstraint("event IN ('created', 'updated', 'destroyed')", name="event_kind"),
)
# History of one resource; state-as-of-time reads. No index on meta_id or spec_id (migration 0008): ~10-20
# bytes per event each, only for retention's "is this row still used", which scans once instead.
sa.Index(None, event_log.c.key_id, event_log.c.revision)
sa.Index(None, event_log.c.observed_at)

# The view over the log with every event's full state (models/eventlog.py creates it): read-only.
views = sa.MetaData()
events = sa.Table(
    "events",
    views,
    sa.Column("revision", Revision, primary_key=True),
    sa.Column("namespace", sa.String(64)),
    sa.Column("type", sa.String(128)),
    sa.Column("id", sa.Text),
    sa.Column("event", sa.String(16)),
    *_resource_columns(),
    sa.Column("observed_at", Timestamp),
    sa.Column("spec_blobs", Json),
)

resources = sa.Table(
    "resources",
    metadata,
    sa.Column("namespace", sa.String(64), primary_key=True),
    sa.Column("type", sa.String(128), primary_key=True),
    sa.Column("id", sa.Text, primary_key=True),
    *_resource_columns(),
    sa.Column("revision", sa.BigInteger, nullable=False, comment="last event revision touching the row"),
    sa.Column("document", sa.Text, nullable=True, comment="precomputed API document (JSON)"),
)
sa.Index(None, resources.c.revision)

resource_labels = sa.Table(
    "resource_labels",
    metadata,
    sa.Column("namespace", sa.String(64), primary_key=True),
    sa.Column("type", sa.String(128), primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, primary_key=True),
    sa.Column("id", sa.Text, primary_key=True),
)
# The primary key serves `key = value` and `key exists`; this one serves "labels of this resource".
sa.Index(None, resource_labels.c.namespace, resource_labels.c.type, resource_labels.c.id)

streams = sa.Table(
    "streams",
    metadata,
    sa.Column("namespace", sa.String(64), primary_key=True),
    sa.Column("type", sa.String(128), primary_key=True),
    sa.Column("bookmark", sa.LargeBinary, nullable=True),
    sa.Column("bootstrapped", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("bootstrapped_at", Timestamp, nullable=True),
    sa.Column("last_revision", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("last_event_at", Timestamp, nullable=True),
    sa.Column("reconnects", sa.Integer, nullable=False, server_default="0"),
    sa.Column("rebootstraps", sa.Integer, nullable=False, server_default="0"),
    sa.Column("poison_events", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("last_error_at", Timestamp, nullable=True),
)

poison_events = sa.Table(
    "poison_events",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("namespace", sa.String(64), nullable=False),
    sa.Column("type", sa.String(128), nullable=False),
    sa.Column("id", sa.Text, nullable=False),
    sa.Column("version", sa.Text, nullable=True),
    sa.Column("event", sa.String(16), nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("raw", sa.LargeBinary, nullable=True, comment="the undecodable proto_spec bytes"),
    sa.Column("observed_at", Timestamp, nullable=False),
)

kind_revisions = sa.Table(
    "kind_revisions",
    metadata,
    sa.Column("namespace", sa.String(64), primary_key=True),
    sa.Column("type", sa.String(128), primary_key=True),
    sa.Column("revision", sa.BigInteger, nullable=False,
              comment="last revision that changed a row (or a rendered document) of this kind"),
)

meta = sa.Table(
    "meta",
    metadata,
    sa.Column("singleton", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("schema_version", sa.Integer, nullable=False),
    sa.Column("head_revision", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("writer_epoch", sa.BigInteger, nullable=False, server_default="0",
              comment="bumped by each writer that takes over; commits check it (fencing)"),
    sa.Column("writer_id", sa.Text, nullable=True),
    sa.Column("horizon_revision", sa.BigInteger, nullable=False, server_default="0",
              comment="retention horizon: history before this revision was pruned (models/retention.py)"),
    sa.Column("writer_heartbeat", Timestamp, nullable=True),
    sa.CheckConstraint("singleton = 1", name="one_row"),
)

# -- API bearer tokens (``omni-readmodel token``) ----------------------------------------------------
# Only the SHA-256 of each token is stored; the token itself is printed once when it is created.
api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False, comment="hex SHA-256 of the token"),
    sa.Column("scopes", sa.Text, nullable=False, comment="space-separated scopes"),
    sa.Column("created", Timestamp, nullable=False),
    sa.Column("expires", Timestamp, nullable=True, comment="NULL: never"),
    sa.Column("revoked", Timestamp, nullable=True, comment="when it was revoked; NULL: not revoked"),
)
sa.Index(None, api_tokens.c.sha256, unique=True)


# -- per-day rollup of the history views (models/rollup.py) -----------------------------------------
daily_counts = sa.Table(
    "daily_counts",
    metadata,
    sa.Column("subject", sa.String(32), primary_key=True, comment="machines | clusters"),
    sa.Column("dimension", sa.String(32), primary_key=True, comment="total | connected | talos_version | ..."),
    sa.Column("day", sa.Date, primary_key=True, comment="UTC day of the versions counted"),
    sa.Column("grp", sa.Text, primary_key=True, comment="the cluster of a machine ('' for clusters, or free)"),
    sa.Column("value", sa.Text, primary_key=True),
    sa.Column("n", sa.BigInteger, nullable=False,
              comment="versions entering (value, grp) that day minus versions leaving it"),
)

rollup_members = sa.Table(
    "rollup_members",
    metadata,
    sa.Column("subject", sa.String(32), primary_key=True),
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("state", sa.Text, nullable=False, comment="JSON: last values per kind and the last version's counts"),
)

rollup_progress = sa.Table(
    "rollup_progress",
    metadata,
    sa.Column("singleton", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("revision", sa.BigInteger, nullable=False, server_default="0",
              comment="the log is folded into daily_counts up to this revision"),
    sa.CheckConstraint("singleton = 1", name="one_row"),
)
