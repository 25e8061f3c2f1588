"""Failure paths of the watcher: a database that stays down (commit retries run out), a poison DESTROYED
event, and poison inside a re-bootstrap (the sweep must not take what is only undecodable). Real databases,
the real simulator over gRPC and ``omni-readmodel watch`` as a subprocess."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa

from models import migrate
from models.db import create_engine
from omni_client.wire import specs_pb2
from tests.test_watcher_e2e import (  # noqa: F401 - reap_watchers is an autouse fixture
    MACHINES,
    ReadModel,
    WatcherProcess,
    reap_watchers,
    start_simulator,
    wait_converged,
    wait_until,
)
from tests.test_watcher_writer import res
from watcher.backoff import BackoffPolicy
from watcher.items import Change
from watcher.service import CommitFailed, WatchConfig, Watcher
from watcher.writer import Writer

# Bytes that are not a MachineSpec: field 1 claims a 100-byte string that is not there.
POISON = b"\x0a\x64abc"
STREAM = ("default", MACHINES)


def good_spec(address: str) -> specs_pb2.MachineSpec:
    return specs_pb2.MachineSpec(management_address=address, connected=True)


@pytest.fixture
def simulator():
    sim = start_simulator(machines=12, clusters=2, seed=21)
    yield sim
    sim.stop()


@pytest.fixture
def model(sqlite_url: str) -> Iterator[ReadModel]:
    reader = ReadModel(sqlite_url)
    yield reader
    reader.dispose()


def events_of(model: ReadModel, id_: str) -> list[tuple]:
    return model.rows("SELECT event, version FROM events WHERE type = :t AND id = :i ORDER BY revision",
                      t=MACHINES, i=id_)


def stored_version(model: ReadModel, id_: str) -> int | None:
    return model.scalar("SELECT version FROM resources WHERE type = :t AND id = :i", t=MACHINES, i=id_)


def test_commit_retries_run_out_when_the_database_stays_down(pg_url: str, caplog) -> None:
    """Every retry reconnects; a database that refuses connections throughout costs exactly
    ``commit_retries`` retries, then CommitFailed stops the watcher (exit 1, logged), nothing committed."""
    engine = create_engine(pg_url)
    migrate.upgrade(engine)
    name = engine.url.database
    watcher = Watcher(engine, lambda: None, WatchConfig(kinds=[], commit_retries=3,
                                                        backoff=BackoffPolicy(initial=0.01, maximum=0.02)))
    watcher.writer = Writer(engine)
    watcher.writer.take_over("test")
    admin = sa.create_engine(engine.url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d "
                                 "AND pid <> pg_backend_pid()"), {"d": name})
        engine.dispose()  # pooled sessions are dead too
        batch = [Change(STREAM, res(STREAM, "a", 1), False, b"B1", True)]
        with caplog.at_level(logging.WARNING, logger="watcher"), \
                pytest.raises(CommitFailed, match=r"^commit failed 4 times \(OperationalError: .*giving up$") as info:
            asyncio.run(watcher._commit(batch))
        assert isinstance(info.value.__cause__, psycopg.OperationalError)
        retries = [r for r in caplog.records if r.getMessage().startswith("commit failed (")]
        assert len(retries) == 3, [r.getMessage() for r in caplog.records]
        assert watcher.events_applied == 0
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()
    reader = create_engine(pg_url)
    with reader.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM events")).scalar() == 0
        assert conn.execute(sa.text("SELECT head_revision FROM meta")).scalar() == 0
    reader.dispose()
    engine.dispose()


def test_poison_destroyed_event_records_the_poison_and_applies_the_delete(sqlite_url, model, simulator,
                                                                          tmp_path) -> None:
    store = simulator.simulator.store
    simulator.call(store.create, "default", MACHINES, "victim", good_spec("10.9.9.9"))
    watcher = WatcherProcess(sqlite_url, simulator.address, tmp_path)
    wait_converged(model, simulator)
    assert stored_version(model, "victim") == 1
    # Omni sends a version we cannot decode, then destroys it: the delete needs no spec.
    simulator.call(lambda: store.update(store.get("default", MACHINES, "victim"), spec=POISON))
    wait_until(lambda: model.scalar("SELECT count(*) FROM poison_events"), what="the poison update")
    simulator.call(store.destroy, "default", MACHINES, "victim")
    wait_until(lambda: stored_version(model, "victim") is None, what="the delete")
    wait_converged(model, simulator)
    assert model.rows("SELECT id, version, event FROM poison_events ORDER BY id, version, event") == [
        ("victim", "2", "destroyed"), ("victim", "2", "updated")]
    # The log: created, then destroyed with the last state we could read (version 1, its address).
    assert events_of(model, "victim") == [("created", 1), ("destroyed", 1)]
    spec = model.scalar("SELECT spec FROM events WHERE id = 'victim' AND event = 'destroyed'")
    assert "10.9.9.9" in str(spec)
    assert model.streams()[MACHINES]["poison_events"] == 2
    assert watcher.terminate() == 0
    model.check_log()


def test_poison_during_a_rebootstrap_sweeps_nothing_by_mistake(sqlite_url, model, simulator, tmp_path) -> None:
    store = simulator.simulator.store
    simulator.call(store.create, "default", MACHINES, "kept", good_spec("10.8.8.1"))
    simulator.call(store.create, "default", MACHINES, "gone", good_spec("10.8.8.2"))
    watcher = WatcherProcess(sqlite_url, simulator.address, tmp_path)
    wait_converged(model, simulator)
    assert watcher.terminate() == 0
    # While the watcher is away: "kept" becomes undecodable, "gone" is destroyed, and Omni restarts, so
    # every bookmark is refused and each stream re-bootstraps from a snapshot.
    simulator.call(lambda: store.update(store.get("default", MACHINES, "kept"), spec=POISON))
    simulator.call(store.destroy, "default", MACHINES, "gone")
    simulator.call(simulator.simulator.restart)
    watcher = WatcherProcess(sqlite_url, simulator.address, tmp_path)
    wait_until(lambda: model.streams()[MACHINES]["rebootstraps"] == 1 and stored_version(model, "gone") is None,
               what="the re-bootstrap's sweep")
    wait_until(lambda: model.scalar("SELECT count(*) FROM poison_events"), what="the poison snapshot item")
    assert watcher.terminate() == 0
    # "kept" was in the snapshot, only undecodable: it keeps its last readable state, nothing destroyed.
    assert events_of(model, "kept") == [("created", 1)]
    assert stored_version(model, "kept") == 1
    assert model.rows("SELECT id, version FROM poison_events") == [("kept", "2")]
    # "gone" really was gone: the sweep recorded it.
    assert events_of(model, "gone") == [("created", 1), ("destroyed", 1)]
    model.check_log()
