"""compact event log: resource_keys, content-addressed metas, specs and blobs, event_log; events becomes a view

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 20:30:00

Every old ``events`` row is re-appended, in revision order, through ``models.eventlog.Appender`` (the
watcher's own path), then the table is dropped and ``events`` re-created as a view with the same columns
(plus ``spec_blobs``). The reporting views are re-created over the log's own tables (the history views
join ``event_log`` with ``resource_keys``, ``metas`` and ``specs``: ``reporting.history_sql``). The downgrade
writes the full rows back (blob members resolved).
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from models import eventlog, reporting
from models.eventlog import EVENT_COLUMNS

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)
BATCH = 5_000
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _json_text(value):
    return value if value is None or isinstance(value, str) else _encode(value)


def _drop_views() -> None:
    for statement in reporting.drop_statements():
        op.execute(sa.text(statement))


def _create_reporting_views(dialect: str, compact: bool) -> None:
    for statement in reporting.statements(dialect, compact, legacy=True):  # 0008 makes them integers
        op.execute(sa.text(statement))


def upgrade() -> None:
    bind = op.get_bind()
    _drop_views()
    op.create_table(
        "resource_keys",
        sa.Column("key_id", Id, autoincrement=False, nullable=False),
        sa.Column("namespace", sa.String(64), nullable=False),
        sa.Column("type", sa.String(128), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_resource_keys")),
        sa.UniqueConstraint("namespace", "type", "id", name=op.f("uq_resource_keys_namespace_type_id")),
    )
    op.create_table(
        "metas",
        sa.Column("meta_id", Id, autoincrement=False, nullable=False),
        sa.Column("digest", sa.LargeBinary(), nullable=False, comment="SHA-256 (16 bytes) of the stored values"),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("owner", sa.Text(), server_default="", nullable=False),
        sa.Column("created", Timestamp, nullable=True),
        sa.Column("labels", Json, nullable=False),
        sa.Column("annotations", Json, nullable=False),
        sa.Column("finalizers", Json, nullable=False),
        sa.PrimaryKeyConstraint("meta_id", name=op.f("pk_metas")),
        sa.UniqueConstraint("digest", name=op.f("uq_metas_digest")),
    )
    op.create_table(
        "specs",
        sa.Column("spec_id", Id, autoincrement=False, nullable=False),
        sa.Column("digest", sa.LargeBinary(), nullable=False, comment="SHA-256 (16 bytes) of the stored values"),
        sa.Column("spec", Json, nullable=False, comment="decoded spec; members in spec_blobs hold a blob digest"),
        sa.Column("spec_blobs", Json, nullable=True, comment="member -> blobs.digest, for members stored as blobs"),
        sa.PrimaryKeyConstraint("spec_id", name=op.f("pk_specs")),
        sa.UniqueConstraint("digest", name=op.f("uq_specs_digest")),
    )
    op.create_table(
        "blobs",
        sa.Column("digest", sa.String(32), nullable=False, comment="hex SHA-256 (first 128 bits) of the JSON"),
        sa.Column("base", sa.String(32), nullable=True, comment="the blob whose JSON is data's zlib dictionary"),
        sa.Column("data", sa.LargeBinary(), nullable=False, comment="zlib-compressed JSON of the member"),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_blobs")),
    )
    op.create_table(
        "event_log",
        sa.Column("revision", Id, autoincrement=False, nullable=False),
        sa.Column("key_id", sa.BigInteger(), nullable=False),
        sa.Column("meta_id", sa.BigInteger(), nullable=False),
        sa.Column("spec_id", sa.BigInteger(), nullable=False),
        sa.Column("event", sa.String(16), nullable=False, comment="created | updated | destroyed"),
        sa.Column("version", sa.BigInteger(), nullable=False, comment="COSI per-resource version"),
        sa.Column("updated", Timestamp, nullable=True),
        sa.Column("observed_at", Timestamp, nullable=False, comment="when the watcher applied it"),
        sa.CheckConstraint("event IN ('created', 'updated', 'destroyed')", name=op.f("ck_event_log_event_kind")),
        sa.PrimaryKeyConstraint("revision", name=op.f("pk_event_log")),
    )
    op.create_index(op.f("ix_event_log_key_id_revision"), "event_log", ["key_id", "revision"])
    op.create_index(op.f("ix_event_log_observed_at"), "event_log", ["observed_at"])
    op.create_index(op.f("ix_event_log_meta_id"), "event_log", ["meta_id"])
    op.create_index(op.f("ix_event_log_spec_id"), "event_log", ["spec_id"])

    appender = eventlog.Appender(bind.dialect, legacy=True)  # text timestamps until 0008
    cursor = bind.connection.cursor()
    columns = ", ".join(EVENT_COLUMNS)
    low = -1
    while True:  # in revision order, one bounded batch at a time
        rows = bind.execute(sa.text(f"SELECT {columns} FROM events WHERE revision > :low "  # noqa: S608
                                    "ORDER BY revision LIMIT :n"), {"low": low, "n": BATCH}).all()
        if not rows:
            break
        appender.append(cursor, [(*row[:10], *(_json_text(v) for v in row[10:14]), row[14]) for row in rows])
        low = rows[-1][0]
    op.drop_index("ix_events_observed_at", table_name="events")
    op.drop_index("ix_events_namespace_type_id_revision", table_name="events")
    op.drop_table("events")
    op.execute(sa.text(eventlog.events_view_sql(bind.dialect.name, legacy=True)))
    _create_reporting_views(bind.dialect.name, compact=True)
    op.execute(sa.text("UPDATE meta SET schema_version = 4 WHERE singleton = 1"))


def downgrade() -> None:
    bind = op.get_bind()
    _drop_views()
    op.create_table(
        "events_full",
        sa.Column("revision", Id, autoincrement=False, nullable=False),
        sa.Column("namespace", sa.String(64), nullable=False),
        sa.Column("type", sa.String(128), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("event", sa.String(16), nullable=False, comment="created | updated | destroyed"),
        sa.Column("version", sa.BigInteger(), nullable=False, comment="COSI per-resource version"),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("owner", sa.Text(), server_default="", nullable=False),
        sa.Column("created", Timestamp, nullable=True),
        sa.Column("updated", Timestamp, nullable=True),
        sa.Column("labels", Json, nullable=False),
        sa.Column("annotations", Json, nullable=False),
        sa.Column("finalizers", Json, nullable=False),
        sa.Column("spec", Json, nullable=False, comment="decoded spec, protobuf JSON with proto field names"),
        sa.Column("observed_at", Timestamp, nullable=False, comment="when the watcher applied it"),
        sa.CheckConstraint("event IN ('created', 'updated', 'destroyed')", name=op.f("ck_events_event_kind")),
        sa.PrimaryKeyConstraint("revision", name=op.f("pk_events")),
    )
    full = sa.table("events_full", *[sa.column(c) for c in EVENT_COLUMNS])
    blobs = eventlog.BlobReader(bind)
    columns = ", ".join(EVENT_COLUMNS)
    low = -1
    while True:
        rows = bind.execute(sa.text(f"SELECT {columns}, spec_blobs FROM events WHERE revision > :low "  # noqa: S608
                                    "ORDER BY revision LIMIT :n"), {"low": low, "n": BATCH}).mappings().all()
        if not rows:
            break
        out = []
        for row in rows:
            values = {c: row[c] for c in EVENT_COLUMNS}
            spec_blobs = row["spec_blobs"]
            if spec_blobs is not None:
                spec = values["spec"]
                spec = json.loads(spec) if isinstance(spec, str) else spec
                spec_blobs = json.loads(spec_blobs) if isinstance(spec_blobs, str) else spec_blobs
                values["spec"] = _encode(eventlog.resolve_spec(spec, spec_blobs, blobs))
            for name in ("labels", "annotations", "finalizers", "spec"):
                values[name] = _json_text(values[name])
            out.append(values)
        bind.execute(full.insert(), out)
        low = rows[-1]["revision"]
    op.execute(sa.text("DROP VIEW events"))
    op.drop_table("event_log")
    op.drop_table("blobs")
    op.drop_table("specs")
    op.drop_table("metas")
    op.drop_table("resource_keys")
    op.rename_table("events_full", "events")
    op.create_index(op.f("ix_events_namespace_type_id_revision"), "events", ["namespace", "type", "id", "revision"])
    op.create_index(op.f("ix_events_observed_at"), "events", ["observed_at"])
    _create_reporting_views(bind.dialect.name, compact=False)
    op.execute(sa.text("UPDATE meta SET schema_version = 3 WHERE singleton = 1"))
