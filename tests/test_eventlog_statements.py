"""The appender's statements per batch (models/eventlog.py), and what it stores for them.

On PostgreSQL the writer runs a batch in pipeline mode, where every statement whose answer the appender
needs before going on is a round trip: a batch's lookups go out together, a few statements whatever its
size and mix of kinds. What is stored is what the appender stored before they were batched
(tests/eventlog_reference.py, the appender of 6d60991): the same rows in every table for the same changes,
through a bootstrap, live churn, values back to their base and an appender restarted on the log.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from models import eventlog, history, rebuild, retention
from models.schema import blobs, event_log, metas, resource_keys, specs
from tests import eventlog_reference
from tests.api_support import ReadModel, resource
from tests.conftest import new_pg_database


class _Counting:
    """A DB-API cursor counting the statements sent through it."""

    def __init__(self, cur) -> None:
        self.cur = cur
        self.statements = 0

    def execute(self, *args):
        self.statements += 1
        self.cur.execute(*args)
        return self

    def executemany(self, sql: str, rows) -> None:
        self.statements += 1
        self.cur.executemany(sql, rows)

    def fetchone(self):
        return self.cur.fetchone()

    def fetchall(self) -> list:
        return self.cur.fetchall()


@dataclass
class _Recording:
    """The writer's appender, counting each batch's statements: (events, statements) per batch."""

    appender: object
    batches: list[tuple[int, int]] = field(default_factory=list)

    def append(self, cur, rows: list[tuple], spec_values=None) -> None:
        counting = _Counting(cur)
        self.appender.append(counting, rows, spec_values)
        self.batches.append((len(rows), counting.statements))

    def reset(self) -> None:
        self.appender.reset()


MACHINES = 120


def _config(machine: int, version: int):
    text = f"version: v1alpha1\nmachine:\n  id: m{machine}\n  revision: {version}\n" + "".join(
        f"  line{n}: value {n} of m{machine}\n" for n in range(60))
    return resource("RedactedClusterMachineConfig", f"m{machine}", {"data": text})


def _status(machine: int, connected: bool = True, labels: dict | None = None):
    disks = [{"size": str(10**12 * i), "model": "NVMe " * 20, "serial": f"S{machine:020d}{i}", "bus_path": "/pci0"}
             for i in range(1, 4)]
    return resource("MachineStatus", f"m{machine}", {
        "connected": connected, "talos_version": "v1.9.0",
        "hardware": {"arch": "amd64", "processors": [{"core_count": 8, "thread_count": 16,
                                                      "manufacturer": "Intel " * 30}] * 2,
                     "blockdevices": disks},
        "network": {"hostname": f"node-{machine}", "addresses": [f"10.0.{machine}.1/24"] * 40}},
        labels=labels or {"omni.sidero.dev/arch": "amd64", "rack": f"r{machine % 4}"})


def _bootstrap() -> list:
    """A bootstrap-like batch: several kinds, each with many resources, large members among them."""
    changes = []
    for cluster in range(3):
        changes.append(resource("Cluster", f"c{cluster}", {"kubernetes_version": "1.31.1"}))
    for machine in range(MACHINES):
        changes += [_status(machine), _config(machine, 1),
                    resource("ClusterMachine", f"m{machine}", {"kubernetes_version": "1.31.1"},
                             labels={"omni.sidero.dev/cluster": f"c{machine % 3}"}),
                    resource("Machine", f"m{machine}", {"management_address": f"10.0.{machine}.1",
                                                        "connected": True})]
    return changes


def _live(round_: int) -> list:
    """A live batch: config changes, status and label flaps, a config back to its first value."""
    changes = []
    for machine in range(round_ % 5, MACHINES, 12):
        changes.append(_config(machine, round_ + 2))
        changes.append(_status(machine, connected=round_ % 2 == 0,
                               labels={"omni.sidero.dev/arch": "amd64", "rack": f"r{round_ % 3}"}))
    changes.append(_config(round_, 1))  # back to the base value
    changes += [resource("Machine", f"new{round_}", {"connected": False}),  # a machine joins: new keys
                resource("ClusterMachine", f"new{round_}", {"kubernetes_version": "1.31.1"}),
                resource("MachineSetNode", f"new{round_}", {})]
    return changes


def _run(url: str, appender_class) -> tuple[ReadModel, _Recording, list[list[tuple[int, int]]]]:
    """The scenario, through the writer with ``appender_class``: a bootstrap, live batches, a restarted
    appender's batches (its bases from the log), a delete. Returns the statement counts of each phase."""
    model = ReadModel(url)
    recording = _Recording(appender_class(model.engine.dialect))
    model.writer.log = recording
    phases = []
    model.apply(_bootstrap())
    phases.append(recording.batches)
    recording.batches = []
    for round_ in range(6):
        model.apply(_live(round_))
    phases.append(recording.batches)
    recording.batches = []
    model.writer.log = recording = _Recording(appender_class(model.engine.dialect))  # a restart: no caches
    for round_ in range(6, 9):
        model.apply(_live(round_))
    model.apply([(_config(3, 1).namespace, _config(3, 1).type, "m3")])
    model.apply([_config(3, 1), _config(4, 50)])  # re-created, and changed
    phases.append(recording.batches)
    return model, recording, phases


def _tables(engine: sa.Engine) -> dict[str, list]:
    """Every row the appender writes (observed_at aside: the writer's clock)."""
    out = {}
    with engine.connect() as conn:
        for table, order in ((resource_keys, "key_id"), (metas, "meta_id"), (specs, "spec_id"),
                             (blobs, "digest"), (event_log, "revision")):
            columns = [c for c in table.c if c.name != "observed_at"]
            rows = conn.execute(sa.select(*columns).order_by(table.c[order])).all()
            out[table.name] = [tuple(bytes(v) if isinstance(v, memoryview) else
                                     json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v
                                     for v in row) for row in rows]
    return out


def _resolved_events(engine: sa.Engine) -> list[tuple]:
    with engine.connect() as conn:
        read = eventlog.BlobReader(conn)
        rows = conn.execute(sa.text(
            "SELECT revision, namespace, type, id, event, version, phase, owner, labels, annotations, "
            "finalizers, spec, spec_blobs FROM events ORDER BY revision")).all()
        out = []
        for row in rows:
            spec = json.loads(row.spec) if isinstance(row.spec, str) else row.spec
            refs = json.loads(row.spec_blobs) if isinstance(row.spec_blobs, str) else row.spec_blobs
            out.append((*row[:8], *(json.dumps(v if not isinstance(v, str) else json.loads(v), sort_keys=True)
                                    for v in row[8:11]),
                        json.dumps(eventlog.resolve_spec(spec, refs, read), sort_keys=True)))
        return out


@pytest.fixture
def reference_url(db_url: str, tmp_path) -> Iterator[str]:
    """A second, empty database of the same kind as ``db_url``, for the reference appender."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'reference.db'}"
        return
    with new_pg_database(db_url, f"{make_url(db_url).database}_reference") as url:
        yield url


def test_batches_take_a_few_statements_and_store_what_the_old_appender_stored(db_url: str,
                                                                                 reference_url: str) -> None:
    model, _, phases = _run(db_url, eventlog.Appender)
    reference, _, old_phases = _run(reference_url, eventlog_reference.Appender)
    try:
        print("statements per batch (events, statements): new", phases, "old", old_phases)  # noqa: T201
        (bootstrap,), live, restarted = phases
        assert bootstrap[0] == 4 * MACHINES + 3
        # one lookup (keys, metas, specs; the next ids), then the inserts: keys, metas, specs, blobs, log
        assert bootstrap[1] <= 6, phases
        assert all(statements <= 7 for _, statements in live), phases  # + the bases' blobs
        # + the last logged bases of the resources not seen since the restart (their blobs: the same query)
        assert all(statements <= 8 for _, statements in restarted), phases
        assert old_phases[0][0][1] > 50 * bootstrap[1], old_phases
        assert sum(s for _, s in old_phases[1]) > sum(s for _, s in live), old_phases
        assert sum(s for _, s in old_phases[2]) > 5 * sum(s for _, s in restarted), old_phases
        assert model.engine.url != reference.engine.url
        assert _tables(model.engine) == _tables(reference.engine)
        assert _resolved_events(model.engine) == _resolved_events(reference.engine)
        with model.engine.connect() as conn:
            assert list(rebuild.differences(conn, rebuild.expected(conn))) == []
    finally:
        model.close()
        reference.close()


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, separators=(",", ":")).encode()).hexdigest()[:32]


def test_a_value_whose_cached_base_retention_removed_is_stored_whole(db_url: str) -> None:
    """The appender caches each member's base digest only; a base no longer in ``blobs`` is not brought
    back: the new value is stored whole and is the base of the values after it."""
    model = ReadModel(db_url)
    try:
        def config(n: int):
            return resource("RedactedClusterMachineConfig", "m1", {"data": f"version: {n}\n" + "x: y\n" * 80})

        def blob_rows() -> dict:
            with model.engine.connect() as conn:
                return {d: b for d, b in conn.execute(sa.select(blobs.c.digest, blobs.c.base))}

        one, two, three, four = (_digest(config(n).spec["data"]) for n in (1, 2, 3, 4))
        model.apply([config(1)])
        model.apply([config(2)])
        assert blob_rows() == {one: None, two: one}
        model.apply([(config(1).namespace, config(1).type, "m1")])
        horizon = model.apply([resource("Cluster", "other", {})])
        retention.prune(model.engine, horizon)  # m1 was destroyed below the horizon: its blobs go
        retention.collect_unused(model.engine)  # version 1 (version 2's base until the pass removed that)
        assert blob_rows() == {}
        model.apply([config(3)])  # the writer still has m1's base (version 1) cached
        assert blob_rows() == {three: None}
        model.apply([config(4)])
        assert blob_rows() == {three: None, four: three}
        with model.engine.connect() as conn:
            assert list(rebuild.differences(conn, rebuild.expected(conn))) == []
            spec = history.resource_at(conn, config(4).namespace, config(4).type, "m1", model.revision).spec
            assert spec == config(4).spec
    finally:
        model.close()


def test_sqlite_lookups_split_at_its_parameter_limit(sqlite_url: str, tmp_path, monkeypatch) -> None:
    """SQLite binds each value as a parameter: a batch whose lookups need more than its limit takes several
    statements (here a limit of 50: 16 keys, or 50 digests, a statement) and stores the same."""
    monkeypatch.setattr(eventlog, "_variables_per_statement", lambda: 50)
    model, _, phases = _run(sqlite_url, eventlog.Appender)
    reference, _, _ = _run(f"sqlite:///{tmp_path / 'reference.db'}", eventlog_reference.Appender)
    try:
        (bootstrap,), _live, _restarted = phases
        assert bootstrap[1] > (4 * MACHINES + 3) // 16, phases
        assert _tables(model.engine) == _tables(reference.engine)
        assert _resolved_events(model.engine) == _resolved_events(reference.engine)
    finally:
        model.close()
        reference.close()
