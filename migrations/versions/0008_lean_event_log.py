"""compact log, second step: created moves from metas to event_log; SQLite timestamps as integer microseconds;
no event_log index on meta_id / spec_id

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 00:00:00

- ``created`` moves from ``metas`` to ``event_log``: a re-created resource got a new meta for its new
  creation time alone (on the churn mix 4 of 5 new metas); metas equal but for it are merged (the digest
  no longer covers it) and the events re-pointed.
- On SQLite ``event_log.created``, ``updated`` and ``observed_at`` become integer microseconds since the
  epoch (``models.schema.LogTime``: 8 bytes instead of 26 of text, in the rows and the observed_at index),
  converted exactly by ``schema.to_micros`` registered as a SQL function. PostgreSQL keeps ``timestamptz``.
- ``event_log``'s indexes on ``meta_id`` and ``spec_id`` go: only retention's "is this row still used"
  read them; it now finds unused metas and specs with one scan of the log (models/retention.py).

The ``events`` view and every reporting view are re-created: they give readers the same values as before
(``reporting.stamp_sql`` turns the integers back into SQLAlchemy's SQLite text). Migrations 0006-0007
still build the layout they built (``Appender(legacy=True)``, views with ``legacy=True``). On SQLite both
tables are rebuilt; on PostgreSQL they are altered in place.
"""

# ruff: noqa: S608 - the SQL below names our own tables; values are bound
import json
from collections.abc import Iterator, Sequence

import sqlalchemy as sa
from alembic import op

from models import eventlog, reporting, rollup
from models.schema import from_micros, to_micros

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Json = sa.JSON()
Id = sa.Integer()
Timestamp = sa.DateTime(timezone=True)
BATCH = 5_000
CREATED_COMMENT = "the resource's creation time (not in metas: a re-created resource would need a new one)"
MAP = "meta_map_0008"
_INDEXES = (("ix_event_log_key_id_revision", ["key_id", "revision"]), ("ix_event_log_observed_at", ["observed_at"]))
# Only retention used these ("is this meta / spec still used"); it now scans the log once per pass.
_UNINDEXED = (("ix_event_log_meta_id", ["meta_id"]), ("ix_event_log_spec_id", ["spec_id"]))
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _text(value) -> str | None:
    """JSON as the appender digests it (SQLite returns the stored text; PostgreSQL a decoded value)."""
    return value if value is None or isinstance(value, str) else _encode(value)


def _drop_views() -> None:
    for statement in [*rollup.drop_statements(), *reporting.drop_statements(), "DROP VIEW IF EXISTS events"]:
        op.execute(sa.text(statement))


def _create_views(dialect: str, legacy: bool) -> None:
    op.execute(sa.text(eventlog.events_view_sql(dialect, legacy)))
    for statement in reporting.statements(dialect, compact=True, legacy=legacy):
        op.execute(sa.text(statement))
    op.execute(sa.text("DROP VIEW IF EXISTS daily_fleet"))  # 0007's daily_fleet reads the rollup
    for statement in rollup.view_statements(dialect, legacy):
        op.execute(sa.text(statement))


def _create_map(created_type: sa.types.TypeEngine | None) -> sa.Table:
    """old meta_id (-> and its created, on the way down) -> new meta_id with its digest."""
    columns = [sa.Column("old_id", sa.BigInteger(), nullable=False), sa.Column("new_id", sa.BigInteger(), nullable=False),
               sa.Column("digest", sa.LargeBinary(), nullable=False)]
    if created_type is not None:
        columns.append(sa.Column("created", created_type, nullable=True))
    return op.create_table(MAP, *columns)


def _fill(table: sa.Table, rows: Iterator[dict]) -> None:
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            op.get_bind().execute(table.insert(), batch)
            batch = []
    if batch:
        op.get_bind().execute(table.insert(), batch)


def _merged_metas() -> Iterator[dict]:
    """Each meta -> the first meta equal to it but for ``created`` (the new digest leaves it out)."""
    first: dict[bytes, int] = {}
    rows = op.get_bind().execute(sa.text(
        "SELECT meta_id, phase, owner, labels, annotations, finalizers FROM metas ORDER BY meta_id")).all()
    for meta_id, phase, owner, labels, notes, finalizers in rows:
        digest = eventlog.state_digest((phase, owner, _text(labels), _text(notes), _text(finalizers)))
        yield {"old_id": meta_id, "new_id": first.setdefault(digest, meta_id), "digest": digest}


def _log_table(created_type: sa.types.TypeEngine | None, time_type: sa.types.TypeEngine) -> None:
    columns = [
        sa.Column("revision", Id, autoincrement=False, nullable=False),
        sa.Column("key_id", sa.BigInteger(), nullable=False),
        sa.Column("meta_id", sa.BigInteger(), nullable=False),
        sa.Column("spec_id", sa.BigInteger(), nullable=False),
        sa.Column("event", sa.String(16), nullable=False, comment="created | updated | destroyed"),
        sa.Column("version", sa.BigInteger(), nullable=False, comment="COSI per-resource version"),
    ]
    if created_type is not None:
        columns.append(sa.Column("created", created_type, nullable=True, comment=CREATED_COMMENT))
    op.create_table(
        "event_log", *columns,
        sa.Column("updated", time_type, nullable=True),
        sa.Column("observed_at", time_type, nullable=False, comment="when the watcher applied it"),
        sa.CheckConstraint("event IN ('created', 'updated', 'destroyed')", name=op.f("ck_event_log_event_kind")),
        sa.PrimaryKeyConstraint("revision", name=op.f("pk_event_log")),
    )


def _metas_table(created_type: sa.types.TypeEngine | None) -> None:
    op.create_table(
        "metas",
        sa.Column("meta_id", Id, autoincrement=False, nullable=False),
        sa.Column("digest", sa.LargeBinary(), nullable=False, comment="SHA-256 (16 bytes) of the stored values"),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("owner", sa.Text(), server_default="", nullable=False),
        *([sa.Column("created", created_type, nullable=True)] if created_type is not None else []),
        sa.Column("labels", Json, nullable=False),
        sa.Column("annotations", Json, nullable=False),
        sa.Column("finalizers", Json, nullable=False),
        sa.PrimaryKeyConstraint("meta_id", name=op.f("pk_metas")),
        sa.UniqueConstraint("digest", name=op.f("uq_metas_digest")),
    )


def _rename_old() -> None:
    for name, _ in (*_INDEXES, *_UNINDEXED):
        op.execute(sa.text(f"DROP INDEX IF EXISTS {name}"))
    op.rename_table("event_log", "event_log_old")
    op.rename_table("metas", "metas_old")


def _drop_old(indexes) -> None:
    op.drop_table("event_log_old")
    op.drop_table("metas_old")
    for name, columns in indexes:
        op.create_index(name, "event_log", columns)


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    _drop_views()
    mapping = _create_map(None)
    _fill(mapping, _merged_metas())
    op.create_index("ix_meta_map_0008_old_id", MAP, ["old_id"], unique=True)
    if sqlite:
        # Exact (julianday arithmetic is not, to the microsecond).
        bind.connection.driver_connection.create_function("log_time_micros", 1, to_micros, deterministic=True)
        _rename_old()
        _log_table(sa.BigInteger(), sa.BigInteger())
        op.execute(sa.text(
            "INSERT INTO event_log (revision, key_id, meta_id, spec_id, event, version, created, updated, observed_at) "
            "SELECT l.revision, l.key_id, mm.new_id, l.spec_id, l.event, l.version, log_time_micros(m.created), "
            "log_time_micros(l.updated), log_time_micros(l.observed_at) FROM event_log_old l "
            f"JOIN metas_old m ON m.meta_id = l.meta_id JOIN {MAP} mm ON mm.old_id = l.meta_id ORDER BY l.revision"))
        _metas_table(None)
        op.execute(sa.text(
            "INSERT INTO metas (meta_id, digest, phase, owner, labels, annotations, finalizers) "
            "SELECT m.meta_id, mm.digest, m.phase, m.owner, m.labels, m.annotations, m.finalizers FROM metas_old m "
            f"JOIN {MAP} mm ON mm.old_id = m.meta_id WHERE mm.new_id = mm.old_id ORDER BY m.meta_id"))
        _drop_old(_INDEXES)
    else:
        for name, _ in _UNINDEXED:
            op.drop_index(name, table_name="event_log")
        op.add_column("event_log", sa.Column("created", Timestamp, nullable=True, comment=CREATED_COMMENT))
        op.execute(sa.text(
            f"UPDATE event_log l SET created = m.created, meta_id = mm.new_id FROM metas m JOIN {MAP} mm "
            "ON mm.old_id = m.meta_id WHERE m.meta_id = l.meta_id"))
        op.execute(sa.text(f"DELETE FROM metas WHERE meta_id IN (SELECT old_id FROM {MAP} WHERE new_id <> old_id)"))
        op.execute(sa.text(f"UPDATE metas m SET digest = mm.digest FROM {MAP} mm WHERE mm.old_id = m.meta_id"))
        op.drop_column("metas", "created")
    op.drop_table(MAP)
    _create_views(bind.dialect.name, legacy=False)
    op.execute(sa.text("UPDATE meta SET schema_version = 6 WHERE singleton = 1"))


def _split_metas(sqlite: bool) -> Iterator[dict]:
    """Each (meta, created) the log uses -> a meta of its own (the first keeps the id), digest as 0006's."""
    bind = op.get_bind()
    top = int(bind.execute(sa.text("SELECT COALESCE(MAX(meta_id), 0) FROM metas")).scalar())
    rows = bind.execute(sa.text(
        "SELECT u.meta_id, u.created, m.phase, m.owner, m.labels, m.annotations, m.finalizers FROM "
        "(SELECT DISTINCT meta_id, created FROM event_log) AS u JOIN metas m ON m.meta_id = u.meta_id "
        "ORDER BY u.meta_id")).all()
    kept: set[int] = set()
    for meta_id, created, phase, owner, labels, notes, finalizers in rows:
        if sqlite and created is not None:
            created = from_micros(int(created)).replace(tzinfo=None).isoformat(" ", "microseconds")
        created_text = created if created is None or isinstance(created, str) else created.isoformat()
        if meta_id in kept:
            top += 1
            new_id = top
        else:
            kept.add(meta_id)
            new_id = meta_id
        digest = eventlog.state_digest((phase, owner, created_text, _text(labels), _text(notes), _text(finalizers)))
        yield {"old_id": meta_id, "new_id": new_id, "digest": digest, "created": created}


def downgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    _drop_views()
    mapping = _create_map(sa.Text() if sqlite else Timestamp)  # SQLite: created as the text 0007 stored
    _fill(mapping, _split_metas(sqlite))
    op.create_index("ix_meta_map_0008_old_id", MAP, ["old_id"])
    if sqlite:
        stamp = reporting.stamp_sql(reporting.SQLITE, "{}")
        _rename_old()
        _log_table(None, Timestamp)
        op.execute(sa.text(
            "INSERT INTO event_log (revision, key_id, meta_id, spec_id, event, version, updated, observed_at) "
            "SELECT l.revision, l.key_id, mm.new_id, l.spec_id, l.event, l.version, "
            f"{stamp.replace('{}', 'l.updated')}, {stamp.replace('{}', 'l.observed_at')} FROM event_log_old l "
            f"JOIN {MAP} mm ON mm.old_id = l.meta_id AND mm.created IS {stamp.replace('{}', 'l.created')} "
            "ORDER BY l.revision"))
        _metas_table(Timestamp)
        op.execute(sa.text(
            "INSERT INTO metas (meta_id, digest, phase, owner, created, labels, annotations, finalizers) "
            "SELECT mm.new_id, mm.digest, m.phase, m.owner, mm.created, m.labels, m.annotations, m.finalizers "
            f"FROM {MAP} mm JOIN metas_old m ON m.meta_id = mm.old_id ORDER BY mm.new_id"))
        _drop_old((*_INDEXES, *_UNINDEXED))
    else:
        op.add_column("metas", sa.Column("created", Timestamp, nullable=True))
        op.execute(sa.text(
            "INSERT INTO metas (meta_id, digest, phase, owner, created, labels, annotations, finalizers) "
            "SELECT mm.new_id, mm.digest, m.phase, m.owner, mm.created, m.labels, m.annotations, m.finalizers "
            f"FROM {MAP} mm JOIN metas m ON m.meta_id = mm.old_id WHERE mm.new_id <> mm.old_id"))
        op.execute(sa.text(f"UPDATE metas m SET created = mm.created, digest = mm.digest FROM {MAP} mm "
                           "WHERE mm.old_id = m.meta_id AND mm.new_id = mm.old_id"))
        op.execute(sa.text(f"UPDATE event_log l SET meta_id = mm.new_id FROM {MAP} mm WHERE mm.old_id = l.meta_id "
                           "AND mm.created IS NOT DISTINCT FROM l.created AND mm.new_id <> mm.old_id"))
        op.execute(sa.text(f"DELETE FROM metas m WHERE NOT EXISTS (SELECT 1 FROM {MAP} mm WHERE mm.new_id = m.meta_id)"))
        op.drop_column("event_log", "created")
        for name, columns in _UNINDEXED:
            op.create_index(name, "event_log", columns)
    op.drop_table(MAP)
    _create_views(bind.dialect.name, legacy=True)
    op.execute(sa.text("UPDATE meta SET schema_version = 5 WHERE singleton = 1"))
