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


def test_database_url_redaction_and_driver() -> None:
    from models.db import database_url, redacted

    assert "s3cret" not in redacted("postgresql://user:s3cret@db/x")
    assert database_url("postgresql://user@db/x").drivername == "postgresql+psycopg"
    assert database_url("sqlite:///a.db").drivername == "sqlite"
