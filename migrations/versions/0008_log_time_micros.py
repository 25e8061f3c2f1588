"""the log's timestamps as integer microseconds on SQLite; no event_log index on meta_id / spec_id

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 00:00:00

On SQLite ``event_log.updated``, ``event_log.observed_at`` and ``metas.created`` become integer
microseconds since the epoch (``models.schema.LogTime``: 8 bytes instead of 26 of text, in every row and
in the observed_at index). Both tables are rebuilt (rows copied in revision / id order, converted by
``schema.to_micros`` registered as a SQL function), then the ``events`` view and every reporting view are
re-created: they turn the integers back into the text they read before (``reporting.stamp_sql``), so
readers see the same values. PostgreSQL already stores ``timestamptz`` in 8 bytes: nothing changes there.
On both, ``event_log``'s indexes on ``meta_id`` and ``spec_id`` go: only retention's "is this row still
used" read them, and it now finds unused metas and specs with one scan of the log (models/retention.py).
Migrations 0006-0007 still write text (``Appender(micros=False)``, views with ``micros=False``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from models import eventlog, reporting, rollup
from models.schema import to_micros

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Json = sa.JSON()
Id = sa.Integer()
LOG_COLUMNS = "revision, key_id, meta_id, spec_id, event, version, {updated}, {observed_at}"
META_COLUMNS = "meta_id, digest, phase, owner, {created}, labels, annotations, finalizers"
_INDEXES = (("ix_event_log_key_id_revision", ["key_id", "revision"]), ("ix_event_log_observed_at", ["observed_at"]))
# Only retention used these ("is this meta / spec still used"); it now scans the log once per pass.
_UNINDEXED = ("ix_event_log_meta_id", "ix_event_log_spec_id")
_INDEXES_0007 = (*_INDEXES, *((name, [name.removeprefix("ix_event_log_")]) for name in _UNINDEXED))


def _drop_views() -> None:
    for statement in [*rollup.drop_statements(), *reporting.drop_statements(), "DROP VIEW IF EXISTS events"]:
        op.execute(sa.text(statement))


def _create_views(dialect: str, micros: bool) -> None:
    op.execute(sa.text(eventlog.events_view_sql(dialect, micros)))
    for statement in reporting.statements(dialect, compact=True, micros=micros):
        op.execute(sa.text(statement))
    op.execute(sa.text("DROP VIEW IF EXISTS daily_fleet"))  # 0007's daily_fleet reads the rollup
    for statement in rollup.view_statements(dialect, micros):
        op.execute(sa.text(statement))


def _rebuild(time_type: sa.types.TypeEngine, convert: str, indexes) -> None:
    """Copy ``event_log`` (with ``indexes``) and ``metas`` into tables whose timestamp columns are
    ``time_type``, each timestamp through ``convert`` (SQL with ``{}`` for the column)."""
    for name in {name for name, _ in _INDEXES_0007}:
        op.execute(sa.text(f"DROP INDEX IF EXISTS {name}"))
    op.rename_table("event_log", "event_log_old")
    op.create_table(
        "event_log",
        sa.Column("revision", Id, autoincrement=False, nullable=False),
        sa.Column("key_id", sa.BigInteger(), nullable=False),
        sa.Column("meta_id", sa.BigInteger(), nullable=False),
        sa.Column("spec_id", sa.BigInteger(), nullable=False),
        sa.Column("event", sa.String(16), nullable=False, comment="created | updated | destroyed"),
        sa.Column("version", sa.BigInteger(), nullable=False, comment="COSI per-resource version"),
        sa.Column("updated", time_type, nullable=True),
        sa.Column("observed_at", time_type, nullable=False, comment="when the watcher applied it"),
        sa.CheckConstraint("event IN ('created', 'updated', 'destroyed')", name=op.f("ck_event_log_event_kind")),
        sa.PrimaryKeyConstraint("revision", name=op.f("pk_event_log")),
    )
    columns = LOG_COLUMNS.format(updated="updated", observed_at="observed_at")
    values = LOG_COLUMNS.format(updated=convert.replace("{}", "updated"), observed_at=convert.replace("{}", "observed_at"))
    op.execute(sa.text(f"INSERT INTO event_log ({columns}) SELECT {values} FROM event_log_old "  # noqa: S608
                       "ORDER BY revision"))
    op.drop_table("event_log_old")
    for name, index_columns in indexes:
        op.create_index(name, "event_log", index_columns)

    op.rename_table("metas", "metas_old")
    op.create_table(
        "metas",
        sa.Column("meta_id", Id, autoincrement=False, nullable=False),
        sa.Column("digest", sa.LargeBinary(), nullable=False, comment="SHA-256 (16 bytes) of the stored values"),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("owner", sa.Text(), server_default="", nullable=False),
        sa.Column("created", time_type, nullable=True),
        sa.Column("labels", Json, nullable=False),
        sa.Column("annotations", Json, nullable=False),
        sa.Column("finalizers", Json, nullable=False),
        sa.PrimaryKeyConstraint("meta_id", name=op.f("pk_metas")),
        sa.UniqueConstraint("digest", name=op.f("uq_metas_digest")),
    )
    columns = META_COLUMNS.format(created="created")
    values = META_COLUMNS.format(created=convert.replace("{}", "created"))
    op.execute(sa.text(f"INSERT INTO metas ({columns}) SELECT {values} FROM metas_old ORDER BY meta_id"))  # noqa: S608
    op.drop_table("metas_old")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _drop_views()
        # Exact (julianday arithmetic is not, to the microsecond); integers are left as they are.
        bind.connection.driver_connection.create_function("log_time_micros", 1, to_micros, deterministic=True)
        _rebuild(sa.BigInteger(), "log_time_micros({})", _INDEXES)
        _create_views(bind.dialect.name, micros=True)
    else:
        for name in _UNINDEXED:
            op.drop_index(name, table_name="event_log")
    op.execute(sa.text("UPDATE meta SET schema_version = 6 WHERE singleton = 1"))


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _drop_views()
        _rebuild(sa.DateTime(timezone=True), reporting.stamp_sql(reporting.SQLITE, "{}"), _INDEXES_0007)
        _create_views(bind.dialect.name, micros=False)
    else:
        for name in _UNINDEXED:
            op.create_index(name, "event_log", [name.removeprefix("ix_event_log_")])
    op.execute(sa.text("UPDATE meta SET schema_version = 5 WHERE singleton = 1"))
