"""The writer on its own (no gRPC): idempotency, revisions, sweeps, fencing, documents. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from models import history, migrate
from models.db import create_engine
from models.resource import StoredResource
from omni_client.wire import resource_pb2
from watcher.decode import Decoded
from watcher.documents import Projections
from watcher.items import Bookmark, Bootstrapped, BootstrapStarted, Change, Poison, PollSnapshot, StreamNote
from watcher.service import WatchConfig, Watcher
from watcher.sql import read_json
from watcher.writer import FencedError, Writer

MACHINES = ("default", "Machines.omni.sidero.dev")
STATUSES = ("default", "MachineStatuses.omni.sidero.dev")
BACKUPS = ("external", "EtcdBackups.omni.sidero.dev")


def res(stream, id_, version, created=1_000_000, labels=None, spec=None, updated=None) -> Decoded:
    return Decoded(stream[0], stream[1], id_, version, "running", "", created,
                   updated if updated is not None else created + version,
                   {"k": "v"} if labels is None else labels, {}, [], spec if spec is not None else {"v": version})


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    engine = create_engine(db_url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def new_writer(engine, projections=None) -> Writer:
    writer = Writer(engine, projections)
    writer.take_over("test")
    return writer


def rows(engine, query: str) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(query))]


def test_revisions_idempotency_and_labels(engine) -> None:
    w = new_writer(engine)
    w.apply([BootstrapStarted(MACHINES, False), Change(MACHINES, res(MACHINES, "a", 1), False, None, False),
             Change(MACHINES, res(MACHINES, "b", 1), False, None, False), Bootstrapped(MACHINES, {"a", "b"}, b"B1")])
    # Replays of applied states change nothing, not even the head.
    assert w.apply([Change(MACHINES, res(MACHINES, "a", 1), False, None, True)]).events == 0
    w.apply([Change(MACHINES, res(MACHINES, "a", 2, labels={"x": "1"}), False, b"B2", True),
             Change(MACHINES, res(MACHINES, "b", 1), True, b"B3", True),
             Change(MACHINES, res(MACHINES, "b", 1), True, b"B3", True)])
    assert rows(engine, "SELECT revision, id, event, version FROM events ORDER BY revision") == [
        (1, "a", "created", 1), (2, "b", "created", 1), (3, "a", "updated", 2), (4, "b", "destroyed", 1)]
    assert rows(engine, "SELECT id, key, value FROM resource_labels") == [("a", "x", "1")]
    assert rows(engine, "SELECT id, version, revision FROM resources") == [("a", 2, 3)]
    assert rows(engine, "SELECT head_revision FROM meta") == [(4,)]
    assert rows(engine, "SELECT bookmark, bootstrapped, last_revision FROM streams") == [(b"B3", True, 4)]

    # A restarted writer reloads its index and still recognises what it applied.
    w.close()
    w = new_writer(engine)
    assert w.epoch == 2 and w.head == 4
    assert w.apply([Change(MACHINES, res(MACHINES, "a", 2, labels={"x": "1"}), False, b"B2", True)]).events == 0
    w.close()


def test_rebootstrap_sweeps_and_recreations(engine) -> None:
    w = new_writer(engine)
    w.apply([BootstrapStarted(MACHINES, False)] + [
        Change(MACHINES, res(MACHINES, i, 1), False, None, False) for i in "abc"
    ] + [Bootstrapped(MACHINES, set("abc"), b"B1")])
    first_bootstrap = rows(engine, "SELECT bootstrapped_at FROM streams")
    # Away: a destroyed, b re-created (new `created`, version back to 1), c unchanged, d new.
    w.apply([BootstrapStarted(MACHINES, True),
             Change(MACHINES, res(MACHINES, "b", 1, created=2_000_000), False, None, False)])
    w.apply([Change(MACHINES, res(MACHINES, "c", 1), False, None, False),
             Change(MACHINES, res(MACHINES, "d", 1), False, None, False),
             Bootstrapped(MACHINES, set("bcd"), b"B9")])
    assert rows(engine, "SELECT revision, id, event FROM events WHERE revision > 3 ORDER BY revision") == [
        (4, "b", "destroyed"), (5, "b", "created"), (6, "d", "created"), (7, "a", "destroyed")]
    assert rows(engine, "SELECT rebootstraps, bookmark, bootstrapped FROM streams") == [(1, b"B9", True)]
    # bootstrapped_at is the first bootstrap's: where point-in-time reads start (models/history.py)
    assert rows(engine, "SELECT bootstrapped_at FROM streams") == first_bootstrap
    with engine.connect() as conn:
        assert history.first_bootstrap_revision(conn) == 3
        assert [r.id for r in history.current(conn)] == ["b", "c", "d"]
        assert [r.id for r in history.at_revision(conn, 3)] == ["a", "b", "c"]
        assert history.resource_at(conn, *MACHINES, "b", 4) is None
    w.close()


def test_bootstrap_start_clears_the_bookmark(engine) -> None:
    """A crash mid re-bootstrap must not resume from the old bookmark over a half-applied snapshot."""
    w = new_writer(engine)
    w.apply([Bootstrapped(MACHINES, set(), b"B1"), Bookmark(MACHINES, b"B2")])
    assert rows(engine, "SELECT bookmark FROM streams") == [(b"B2",)]
    w.apply([BootstrapStarted(MACHINES, True), Change(MACHINES, res(MACHINES, "a", 1), False, None, False)])
    assert rows(engine, "SELECT bookmark, bootstrapped FROM streams") == [(None, False)]
    w.close()


def test_fenced_writer_cannot_commit(engine) -> None:
    old = new_writer(engine)
    old.apply([Change(MACHINES, res(MACHINES, "a", 1), False, b"B1", True)])
    new = new_writer(engine)  # takes over: epoch 2
    with pytest.raises(FencedError):
        old.apply([Change(MACHINES, res(MACHINES, "b", 1), False, b"B2", True)])
    new.apply([Change(MACHINES, res(MACHINES, "c", 1), False, b"B3", True)])
    assert rows(engine, "SELECT revision, id FROM events ORDER BY revision") == [(1, "a"), (2, "c")]
    old.close()
    new.close()


def test_poison_and_stream_notes(engine) -> None:
    w = new_writer(engine)
    w.apply([Poison(MACHINES, "bad", "3", "updated", "proto_spec is not valid", b"\xff", b"B1"),
             StreamNote(MACHINES, reconnect=True), StreamNote(MACHINES, error="UNAVAILABLE: gone")])
    assert rows(engine, "SELECT id, version, event, raw FROM poison_events") == [("bad", "3", "updated", b"\xff")]
    assert rows(engine, "SELECT poison_events, reconnects, last_error, bookmark FROM streams") == [
        (1, 1, "UNAVAILABLE: gone", b"B1")]
    assert rows(engine, "SELECT count(*) FROM events") == [(0,)]
    w.close()


def test_versionless_polled_resources_compare_by_content(engine) -> None:
    """EtcdBackups come with version "undefined" and fresh timestamps on every List."""
    w = new_writer(engine)
    first = res(BACKUPS, "c1-100", 0, created=5_000_000, spec={"size": "10"})
    w.apply([PollSnapshot(BACKUPS, [first], True, listed={"c1-100"})])
    again = res(BACKUPS, "c1-100", 0, created=9_000_000, spec={"size": "10"})
    assert w.apply([PollSnapshot(BACKUPS, [again], True, listed={"c1-100"})]).events == 0
    w.close()
    w = new_writer(engine)  # content fingerprints survive a restart
    assert w.apply([PollSnapshot(BACKUPS, [again], True, listed={"c1-100"})]).events == 0
    changed = res(BACKUPS, "c1-100", 0, created=9_500_000, spec={"size": "11"})
    w.apply([PollSnapshot(BACKUPS, [changed], True, listed={"c1-100"})])
    w.apply([PollSnapshot(BACKUPS, [], False)])  # a partial round deletes nothing
    w.apply([PollSnapshot(BACKUPS, [], True)])
    assert rows(engine, "SELECT id, event FROM events ORDER BY revision") == [
        ("c1-100", "created"), ("c1-100", "updated"), ("c1-100", "destroyed")]
    w.close()


def test_index_entries_are_ints_and_odd_values_keep_their_exact_tuples(engine) -> None:
    """The index packs each entry into one int (watcher/state.py); a created before 1970 or a negative
    version does not fit and keeps the tuple: replays, re-creations and restarts decide as before."""
    w = new_writer(engine)
    w.apply([BootstrapStarted(MACHINES, False), Change(MACHINES, res(MACHINES, "a", 3), False, None, False),
             Change(MACHINES, res(MACHINES, "old", 2, created=-5_000_000), False, None, False),
             Bootstrapped(MACHINES, {"a", "old"}, b"B1")])
    assert type(w.index[MACHINES]["a"]) is int and type(w.index[MACHINES]["old"]) is tuple
    for restarted in (False, True):
        if restarted:
            w.close()
            w = new_writer(engine)
            assert type(w.index[MACHINES]["a"]) is int and type(w.index[MACHINES]["old"]) is tuple
        # Same version and created: already applied, whatever else the replay carries.
        assert w.apply([Change(MACHINES, res(MACHINES, "a", 3, labels={"other": "x"}), False, None, True),
                        Change(MACHINES, res(MACHINES, "old", 2, created=-5_000_000), False, None, True)]).events == 0
    head = w.head
    # Another created: a re-creation (destroyed, then created), for both forms.
    w.apply([Change(MACHINES, res(MACHINES, "a", 1, created=7_000_000), False, None, True),
             Change(MACHINES, res(MACHINES, "old", 1, created=-1_000_000), False, None, True)])
    assert rows(engine, "SELECT id, event, version FROM events ORDER BY revision")[head:] == [
        ("a", "destroyed", 3), ("a", "created", 1), ("old", "destroyed", 2), ("old", "created", 1)]
    w.close()


# -- documents: the join maintenance, with a fake projection --------------------------------------------

def fake_render(resource: StoredResource, lookup) -> str | None:
    if resource.type == MACHINES[1]:
        status = lookup(STATUSES[0], STATUSES[1], resource.id)
        return json.dumps({"machine": resource.version, "status": status.version if status else None})
    if resource.type == STATUSES[1]:
        return json.dumps({"status": resource.version})
    return None


def fake_dependents(resource: StoredResource) -> list:
    return [(MACHINES[0], MACHINES[1], resource.id)] if resource.type == STATUSES[1] else []


def documents(engine) -> dict:
    return {(t.split(".")[0], i): (json.loads(d) if d else None, rev)
            for t, i, d, rev in rows(engine, "SELECT type, id, document, revision FROM resources")}


def test_documents_follow_joined_changes(engine) -> None:
    w = new_writer(engine, Projections(fake_render, fake_dependents))
    # Child before parent: nothing embeds the status yet.
    w.apply([Change(STATUSES, res(STATUSES, "m", 1), False, b"S1", True)])
    w.apply([Change(MACHINES, res(MACHINES, "m", 1), False, b"M1", True)])
    assert documents(engine)[("Machines", "m")] == ({"machine": 1, "status": 1}, 2)
    # The status changes: the machine's document is re-rendered and takes that event's revision.
    w.apply([Change(STATUSES, res(STATUSES, "m", 2), False, b"S2", True)])
    assert documents(engine)[("Machines", "m")] == ({"machine": 1, "status": 2}, 3)
    # Both in one batch: lookups see the batch's pending state, not the database's.
    w.apply([Change(STATUSES, res(STATUSES, "m", 3), False, b"S3", True),
             Change(MACHINES, res(MACHINES, "m", 2), False, b"M2", True)])
    assert documents(engine)[("Machines", "m")] == ({"machine": 2, "status": 3}, 5)
    # The status is destroyed: the machine's document drops it.
    w.apply([Change(STATUSES, res(STATUSES, "m", 3), True, b"S4", True)])
    assert documents(engine) == {("Machines", "m"): ({"machine": 2, "status": None}, 6)}
    w.close()


def test_undecodable_destroy_still_deletes(engine) -> None:
    w = new_writer(engine)
    w.apply([Change(MACHINES, res(MACHINES, "a", 1, spec={"kept": True}), False, b"B1", True)])
    wire = resource_pb2.Resource()
    wire.metadata.namespace, wire.metadata.type, wire.metadata.id = *MACHINES, "a"
    wire.metadata.version = "2"
    w.apply([Change(MACHINES, Decoded.metadata_only(wire), True, b"B2", True)])
    assert rows(engine, "SELECT id FROM resources") == []
    event, spec = rows(engine, "SELECT event, spec FROM events ORDER BY revision DESC LIMIT 1")[0]
    assert (event, read_json(spec)) == ("destroyed", {"kept": True})  # the last state we held
    w.close()


def test_time_points_map_to_revisions(engine) -> None:
    w = new_writer(engine)
    w.apply([BootstrapStarted(MACHINES, False), Change(MACHINES, res(MACHINES, "a", 1), False, None, False),
             Bootstrapped(MACHINES, {"a"}, b"B1")])  # a point before the first bootstrap completed is a 409
    between = datetime.now(UTC)
    time.sleep(0.01)
    w.apply([Change(MACHINES, res(MACHINES, "b", 1), False, b"B2", True)])
    with engine.connect() as conn:
        assert history.revision_at(conn, between) == 1
        assert history.revision_at(conn, between.replace(tzinfo=None)) == 1  # naive means UTC
        assert history.revision_at(conn, datetime(2000, 1, 1, tzinfo=UTC)) == 0
        assert history.resolve_point(conn, history.parse_point(between.isoformat().replace("+00:00", "Z"))) == 1
        assert history.resolve_point(conn, history.parse_point("2")) == 2
    w.close()


def test_data_the_database_refuses_becomes_poison_not_a_crash_loop(engine) -> None:
    """PostgreSQL's JSONB refuses NUL characters; such a change is isolated and recorded as poison."""
    watcher = Watcher(engine, lambda: None, WatchConfig(kinds=[]))
    watcher.writer = new_writer(engine)
    batch = [Change(MACHINES, res(MACHINES, "good", 1), False, b"B1", True),
             Change(MACHINES, res(MACHINES, "nul", 1, spec={"text": "a\x00b"}), False, b"B2", True),
             Change(MACHINES, res(MACHINES, "after", 1), False, b"B3", True)]
    asyncio.run(watcher._commit(batch))
    stored = {r[0] for r in rows(engine, "SELECT id FROM resources")}
    if engine.dialect.name == "postgresql":
        assert stored == {"good", "after"}
        assert rows(engine, "SELECT id FROM poison_events") == [("nul",)]
        assert rows(engine, "SELECT poison_events, bookmark FROM streams") == [(1, b"B3")]
    else:
        assert stored == {"good", "nul", "after"}
    watcher.writer.close()


def test_a_failing_projection_costs_the_document_not_the_batch(engine) -> None:
    def broken(resource, lookup):
        if resource.id == "bad":
            raise KeyError("no such field")
        return fake_render(resource, lookup)

    w = new_writer(engine, Projections(broken, fake_dependents))
    w.apply([Change(MACHINES, res(MACHINES, "bad", 1), False, b"M1", True),
             Change(MACHINES, res(MACHINES, "ok", 1), False, b"M2", True)])
    docs = documents(engine)
    assert docs[("Machines", "bad")][0] is None and docs[("Machines", "ok")][0] == {"machine": 1, "status": None}
    w.close()


def test_a_database_error_inside_a_projection_fails_the_batch_not_the_document(engine) -> None:
    """A lookup that hits a dead or failing connection must not be mistaken for a projection bug (which
    would store the document as missing and commit): the batch fails and is retried, nothing is written."""
    driver_error = engine.dialect.loaded_dbapi.OperationalError

    def lookup_fails(resource, lookup):
        raise driver_error("the connection is lost")

    w = new_writer(engine, Projections(lookup_fails, fake_dependents))
    with pytest.raises(driver_error, match="the connection is lost"):
        w.apply([Change(MACHINES, res(MACHINES, "m", 1), False, b"M1", True)])
    assert rows(engine, "SELECT id FROM resources") == []
    assert rows(engine, "SELECT head_revision FROM meta") == [(0,)]
    w.close()


def test_bulk_paths_labels_and_prefetched_joins(engine) -> None:
    """A bootstrap's bulk paths: label rows (COPY on PostgreSQL) keep awkward values intact, and documents
    whose joined or embedding rows were committed by earlier batches (read many per statement) are the
    documents the projections render from the whole state."""
    from models import projections
    from watcher.documents import load_projections

    w = new_writer(engine, load_projections())
    awkward = {"tab": "a\tb", "newline": "a\nb", "backslash": "a\\N\\b", "quote": "it's \"q\"", "utf": "ü\u2028"}
    statuses = [res(STATUSES, f"m{i}", 1, labels=dict(awkward, n=str(i)),
                    spec={"network": {"hostname": f"host-{i}"}, "talos_version": "v1.9.2"}) for i in range(30)]
    machines = [res(MACHINES, f"m{i}", 1, spec={"management_address": f"fd00::{i}", "connected": True})
                for i in range(40)]
    w.apply([Change(STATUSES, s, False, None, False) for s in statuses[:20]])
    w.apply([Change(MACHINES, m, False, None, False) for m in machines])  # joins committed statuses
    w.apply([Change(STATUSES, s, False, None, False) for s in statuses[20:]])  # re-renders committed machines

    labels = rows(engine, "SELECT id, key, value FROM resource_labels WHERE type = 'MachineStatuses.omni.sidero.dev'")
    assert sorted(labels) == sorted((f"m{i}", k, v) for i in range(30) for k, v in dict(awkward, n=str(i)).items())
    state = {r.key: r.stored() for r in statuses + machines}
    lookup = lambda namespace, type_, id_: state.get((namespace, type_, id_))  # noqa: E731
    stored = dict(rows(engine, "SELECT id, document FROM resources WHERE type = 'Machines.omni.sidero.dev'"))
    assert len(stored) == 40
    for m in machines:
        assert stored[m.id] == projections.render(state[m.key], lookup), m.id
    assert '"hostname":"host-25"' in stored["m25"] and "hostname" not in stored["m35"]
