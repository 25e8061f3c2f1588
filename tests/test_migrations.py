"""Migrations on real SQLite and PostgreSQL databases: up, down, idempotence, drift, the schema gate."""

from __future__ import annotations

import subprocess
import sys

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from models import migrate
from models.db import SchemaError, create_engine
from models.schema import SCHEMA_VERSION, metadata

TABLES = {"event_log", "resource_keys", "metas", "specs", "blobs", "resources", "resource_labels", "streams",
          "poison_events", "meta", "kind_revisions", "api_tokens", "daily_counts", "rollup_members", "rollup_progress"}


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}


def test_upgrade_and_downgrade(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        migrate.upgrade(engine)
        assert _tables(engine) == TABLES
        with engine.connect() as connection:
            row = connection.execute(sa.text("SELECT schema_version, head_revision, writer_epoch FROM meta")).one()
        assert tuple(row) == (SCHEMA_VERSION, 0, 0)
        migrate.downgrade(engine)
        assert _tables(engine) == set()
        migrate.upgrade(engine)
        assert _tables(engine) == TABLES
    finally:
        engine.dispose()


def test_kind_revisions_are_backfilled_and_dropped(db_url: str) -> None:
    """0002 fills kind_revisions from a database written before it: the newest event of each kind, or a
    newer revision a row took when a joined kind re-rendered its document; downgrade drops it again."""
    engine = create_engine(db_url)
    state = {"version": 1, "phase": "running", "labels": "{}", "annotations": "{}", "finalizers": "[]",
             "spec": "{}"}
    try:
        migrate.upgrade(engine, "0001")
        with engine.begin() as connection:
            for revision, type_, id_ in ((1, "Machines", "m"), (2, "MachineStatuses", "m"), (3, "Clusters", "c"),
                                         (4, "MachineStatuses", "m")):
                connection.execute(sa.text(
                    "INSERT INTO events (revision, namespace, type, id, event, version, phase, labels, "
                    "annotations, finalizers, spec, observed_at) VALUES (:revision, 'default', :type, :id, "
                    "'updated', :version, :phase, :labels, :annotations, :finalizers, :spec, CURRENT_TIMESTAMP)"),
                    {"revision": revision, "type": type_, "id": id_, **state})
            # the machine's document was re-rendered by the status change at 4: its row carries 4
            for revision, type_, id_ in ((4, "Machines", "m"), (3, "Clusters", "c"), (4, "MachineStatuses", "m")):
                connection.execute(sa.text(
                    "INSERT INTO resources (namespace, type, id, version, phase, labels, annotations, "
                    "finalizers, spec, revision) VALUES ('default', :type, :id, :version, :phase, :labels, "
                    ":annotations, :finalizers, :spec, :revision)"),
                    {"revision": revision, "type": type_, "id": id_, **state})
        migrate.upgrade(engine)
        with engine.connect() as connection:
            kinds = connection.execute(sa.text(
                "SELECT namespace, type, revision FROM kind_revisions ORDER BY type")).all()
            version = connection.execute(sa.text("SELECT schema_version FROM meta")).scalar_one()
        assert [tuple(row) for row in kinds] == [
            ("default", "Clusters", 3), ("default", "MachineStatuses", 4), ("default", "Machines", 4)]
        assert version == SCHEMA_VERSION
        migrate.downgrade(engine, "0001")
        assert _tables(engine) == {"events", "resources", "resource_labels", "streams", "poison_events", "meta"}
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT schema_version FROM meta")).scalar_one() == 1
    finally:
        engine.dispose()


def test_models_and_migrations_do_not_drift(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        migrate.upgrade(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


def test_schema_gate(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        with pytest.raises(SchemaError, match="omni-readmodel migrate"):
            migrate.check_schema(engine)
        migrate.upgrade(engine)
        migrate.check_schema(engine)
        with engine.begin() as connection:
            connection.execute(sa.text("UPDATE alembic_version SET version_num = 'ffffffff'"))
        with pytest.raises(SchemaError, match="newer than this release"):
            migrate.check_schema(engine)
    finally:
        engine.dispose()


def test_migrate_command_twice_is_a_no_op(db_url: str) -> None:
    command = [sys.executable, "-m", "omni_readmodel", "migrate", "--database-url", db_url]
    first = subprocess.run(command, capture_output=True, text=True, check=True)
    assert "migrated empty database -> " in first.stdout
    second = subprocess.run(command, capture_output=True, text=True, check=True)
    assert "schema already at" in second.stdout
    engine = create_engine(db_url)
    try:
        assert _tables(engine) == TABLES
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT count(*) FROM meta")).scalar_one() == 1
            assert connection.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
    finally:
        engine.dispose()


def test_head_constant_names_the_newest_migration() -> None:
    """The gate's Alembic-free comparison (models/migrate.py) trusts migrations.HEAD: bump it with each migration."""
    import migrations

    assert migrations.HEAD == migrate.head_revision()


def test_upgrade_in_child_migrates_once(db_url: str) -> None:
    """The watcher's --migrate: `omni-readmodel migrate` in a child process, then nothing while current."""
    engine = create_engine(db_url)
    try:
        assert "migrated empty database -> " in migrate.upgrade_in_child(engine)
        assert _tables(engine) == TABLES
        migrate.check_schema(engine)
        assert migrate.upgrade_in_child(engine) is None
    finally:
        engine.dispose()


def test_upgrade_in_child_keeps_the_password_off_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {}

    def run(command, env, **_kwargs):
        seen.update(command=command, env=env)
        return subprocess.CompletedProcess(command, 1, "", "connection refused\n")

    monkeypatch.setattr(migrate, "_at_head", lambda _engine: False)
    monkeypatch.setattr(subprocess, "run", run)
    engine = create_engine("postgresql://reader:s3cret@127.0.0.1:1/x")
    with pytest.raises(SchemaError, match="migrate` failed: connection refused"):
        migrate.upgrade_in_child(engine)
    assert not any("s3cret" in part for part in seen["command"])
    assert "s3cret" in seen["env"]["OMNI_READMODEL_DATABASE_URL"]


def test_a_current_schema_is_checked_without_alembic(sqlite_url: str) -> None:
    """Alembic and Mako (~11 MB) stay out of the watcher and API processes once the schema is current."""
    engine = create_engine(sqlite_url)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    script = ("import sys; import watcher.cli, api.app; from models import migrate; "
              "from models.db import create_engine; "
              f"migrate.check_schema(create_engine({sqlite_url!r})); "
              "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_database_url_redaction_and_driver() -> None:
    from models.db import database_url, redacted

    assert "s3cret" not in redacted("postgresql://user:s3cret@db/x")
    assert database_url("postgresql://user@db/x").drivername == "postgresql+psycopg"
    assert database_url("sqlite:///a.db").drivername == "sqlite"


def test_0008_keeps_the_log_and_its_times(db_url: str) -> None:
    """A log written at 0007 (SQLite timestamps as text, as that code wrote them) reads the same through
    the events view and the history views after 0008 (created in event_log, metas equal but for it merged,
    integer microseconds on SQLite, meta_id / spec_id indexes gone) and again after its downgrade."""
    engine = create_engine(db_url)
    pg = engine.dialect.name == "postgresql"
    times = ["2024-02-29 23:59:59.000001", "1969-12-31 23:59:59.999999", "2026-12-04 00:00:00.500000"]

    def stamp(text: str | None) -> str | None:
        return None if text is None or not pg else text + "+00:00"

    try:
        migrate.upgrade(engine, "0007")
        with engine.begin() as connection:
            connection.execute(sa.text("INSERT INTO resource_keys (key_id, namespace, type, id) VALUES "
                                       "(1, 'default', 'Machines.omni.sidero.dev', 'm1')"))
            for meta_id, created in ((1, times[1]), (2, None)):
                connection.execute(sa.text(
                    "INSERT INTO metas (meta_id, digest, phase, owner, created, labels, annotations, finalizers) "
                    "VALUES (:id, :digest, 'running', '', :created, '{}', '{}', '[]')"),
                    {"id": meta_id, "digest": bytes([meta_id]) * 16, "created": stamp(created) if pg else created})
            connection.execute(sa.text("INSERT INTO specs (spec_id, digest, spec) VALUES (1, :d, :spec)"),
                               {"d": b"s" * 16, "spec": '{"connected": true}'})
            for revision, (meta_id, event, updated, observed) in enumerate(
                    [(1, "created", times[1], times[0]), (2, "updated", None, times[2])], start=1):
                connection.execute(sa.text(
                    "INSERT INTO event_log (revision, key_id, meta_id, spec_id, event, version, updated, observed_at) "
                    "VALUES (:revision, 1, :meta_id, 1, :event, :revision, :updated, :observed)"),
                    {"revision": revision, "meta_id": meta_id, "event": event,
                     "updated": stamp(updated) if pg else updated, "observed": stamp(observed) if pg else observed})

        def read() -> list[tuple]:
            with engine.connect() as connection:
                return [tuple(row) for row in connection.execute(sa.text(
                    "SELECT e.revision, e.created, e.updated, e.observed_at, h.valid_from, h.valid_to, h.created, "
                    "h.updated, h.observed_ms FROM events e JOIN history_machines h ON h.revision = e.revision "
                    "ORDER BY e.revision"))]

        before = read()
        assert len(before) == 2
        if not pg:
            assert [row[3] for row in before] == [times[0], times[2]] and before[0][1] == times[1]
        migrate.upgrade(engine)
        assert read() == before
        with engine.connect() as connection:  # the two metas differed only by created: one is left
            assert connection.execute(sa.text("SELECT meta_id FROM metas")).scalars().all() == [1]
        indexes = {index["name"] for index in sa.inspect(engine).get_indexes("event_log")}
        assert indexes == {"ix_event_log_key_id_revision", "ix_event_log_observed_at"}
        with engine.connect() as connection:
            if not pg:
                raw = connection.execute(sa.text("SELECT typeof(observed_at), observed_at FROM event_log "
                                                 "ORDER BY revision")).all()
                assert [tuple(row) for row in raw] == [("integer", 1709251199000001), ("integer", 1796342400500000)]
            assert connection.execute(sa.text("SELECT schema_version FROM meta")).scalar_one() == SCHEMA_VERSION
        migrate.downgrade(engine, "0007")
        assert read() == before
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT COUNT(*) FROM metas")).scalar_one() == 2
        assert "ix_event_log_meta_id" in {index["name"] for index in sa.inspect(engine).get_indexes("event_log")}
    finally:
        engine.dispose()
