"""The compact event log (models/eventlog.py) loses nothing: a real watcher follows a churning simulator,
and every reader answers as the old one-row-per-event layout did.

- ``at=`` states: at several heads during the churn, ``history.at_revision`` equals the projection the
  writer kept at that moment (``resources`` is written from the decoded events, not from the log);
- ``rebuild --check`` finds no difference; the export at a past revision is the projection's;
- views: the same log written into the old ``events`` table (a database at migration 0005) gives the
  same rows in every reporting view; migration 0006 then converts that database, after which its
  ``at=`` states and views equal those of the database the watcher wrote (SQLite and PostgreSQL);
- retention: pruning removes the keys, metas, specs and blobs no event needs, and a writer whose caches
  still name them re-inserts them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from models import eventlog, history, migrate, rebuild, reporting, retention
from models.db import create_engine
from models.schema import (
    blobs,
    event_log,
    kind_revisions,
    meta,
    metas,
    resource_keys,
    resource_labels,
    resources,
    specs,
    streams,
)
from tests.api_support import ReadModel as WriterModel
from tests.api_support import resource
from tests.test_reporting import view_rows
from tests.test_watcher_e2e import ReadModel, WatcherProcess, start_simulator, wait_converged

OLD_COLUMNS = eventlog.EVENT_COLUMNS


@dataclass
class Churned:
    url: str
    snapshots: dict[int, list]  # head revision -> the projection at that moment
    exports: dict[int, list[str]]


@pytest.fixture(scope="module")
def churned(tmp_path_factory) -> Iterator[Churned]:
    """A real watcher's SQLite database after a bootstrap and three rounds of churn (30 machines)."""
    tmp = tmp_path_factory.mktemp("eventlog")
    url = f"sqlite:///{tmp / 'watched.db'}"
    sim = start_simulator(machines=30, clusters=3, seed=5)
    model = ReadModel(url)
    watcher = WatcherProcess(url, sim.address, tmp)
    snapshots, exports = {}, {}
    try:
        for _ in range(3):
            wait_converged(model, sim)
            with model.engine.connect() as conn:
                head = history.head_revision(conn)
                snapshots[head] = list(history.current(conn))
            exports[head] = model.export()
            sim.call(sim.simulator.apply_churn, 150)
        wait_converged(model, sim)
        assert watcher.terminate() == 0, watcher.log()
        yield Churned(url, snapshots, exports)
    finally:
        if watcher.process.poll() is None:
            watcher.kill()
        model.dispose()
        sim.stop()


def _states(url: str, revision: int) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(history.at_revision(conn, revision))
    finally:
        engine.dispose()


def test_point_in_time_states_equal_the_projection_kept_then(churned: Churned) -> None:
    engine = create_engine(churned.url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(blobs)).scalar() > 0  # blobs were used
            for head, projection in churned.snapshots.items():
                assert list(history.at_revision(conn, head)) == projection, head
                one = projection[len(projection) // 2]
                assert history.resource_at(conn, *one.key, head) == one
            assert list(rebuild.differences(conn, rebuild.expected(conn))) == []
        first = min(churned.exports)
        assert ReadModel(churned.url).export(at=str(first)) == churned.exports[first]
    finally:
        engine.dispose()


def _copy_as_old_layout(source_url: str, target_url: str) -> None:
    """The source's log and projection written into a database at 0005 (one full row per event)."""
    source, target = create_engine(source_url), create_engine(target_url)
    try:
        migrate.upgrade(target, "0005")
        with source.connect() as conn, target.begin() as out:
            rows = []
            for revision, event, res, observed in history.log_rows(conn, 0, history.head_revision(conn)):
                rows.append({"revision": revision, "namespace": res.namespace, "type": res.type, "id": res.id,
                             "event": event, "version": res.version, "phase": res.phase, "owner": res.owner,
                             "created": res.created, "updated": res.updated, "labels": res.labels,
                             "annotations": res.annotations, "finalizers": res.finalizers, "spec": res.spec,
                             "observed_at": observed})
            typed = sa.Table("events", sa.MetaData(), *[
                sa.Column(c, (sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")
                              if c in ("labels", "annotations", "finalizers", "spec") else
                              sa.DateTime(timezone=True) if c in ("created", "updated", "observed_at") else
                              sa.Text() if c in ("namespace", "type", "id", "event", "phase", "owner") else
                              sa.BigInteger())) for c in OLD_COLUMNS])
            out.execute(typed.insert(), rows)
            for table in (resources, resource_labels, streams, kind_revisions):
                values = [dict(r._mapping) for r in conn.execute(sa.select(table))]
                if values:
                    out.execute(table.insert(), values)
            head, horizon = conn.execute(sa.select(meta.c.head_revision, meta.c.horizon_revision)).one()
            out.execute(sa.update(meta).values(head_revision=head, horizon_revision=horizon))
    finally:
        source.dispose()
        target.dispose()


@pytest.mark.parametrize("target", ["sqlite_url", pytest.param("pg_url", marks=pytest.mark.postgres)])
def test_views_and_states_survive_the_old_layout_and_migration_0006(churned: Churned, target: str,
                                                                    request) -> None:
    url = request.getfixturevalue(target)
    _copy_as_old_layout(churned.url, url)
    names = reporting.view_names()
    old, new = create_engine(url), create_engine(churned.url)
    try:
        before = {name: view_rows(old, name) for name in names}
        if target == "sqlite_url":  # the views read the compact log as they read the old table
            for name in names:
                assert view_rows(new, name) == before[name], name
        assert len(before["history_machines"]) > 30
        migrate.upgrade(old)  # 0006 converts the old rows
        for name in names:
            assert view_rows(old, name) == before[name], name
        with old.connect() as conn:
            assert list(rebuild.differences(conn, rebuild.expected(conn))) == []
            for head in churned.snapshots:
                assert list(history.at_revision(conn, head)) == _states(churned.url, head), head
        migrate.downgrade(old, "0005")  # and back: the full rows again
        for name in names:
            assert view_rows(old, name) == before[name], name
    finally:
        old.dispose()
        new.dispose()


# -- units -------------------------------------------------------------------------------------------------

def test_large_members_leave_the_spec_unless_a_view_reads_them() -> None:
    text = "".join(f"key{i}: {hashlib.sha256(str(i).encode()).hexdigest()}\n" for i in range(40))
    spec = json.dumps({"cluster_machine_config_version": "3", "data": text}, separators=(",", ":"))
    stored, refs, members = eventlog.split_spec("RedactedClusterMachineConfigs.omni.sidero.dev", spec)
    assert json.loads(stored)["cluster_machine_config_version"] == "3"
    assert list(json.loads(refs)) == ["data"] and list(members) == ["data"]
    digest, data = members["data"]
    assert json.loads(stored)["data"] == digest and json.loads(data) == text
    resolved = eventlog.resolve_spec(json.loads(stored), json.loads(refs), lambda d: json.loads(members["data"][1]))
    assert json.dumps(resolved, separators=(",", ":")) == spec  # same members, same order
    patch = json.dumps({"data": text}, separators=(",", ":"))  # ConfigPatch data: configpatches.data_length
    assert eventlog.split_spec("ConfigPatches.omni.sidero.dev", patch) == (patch, None, {})
    base = text.encode()
    later = (text + "extra: 1\n").encode()
    assert len(eventlog.compress(later, base)) < len(eventlog.compress(later)) / 4
    assert eventlog.inflate(eventlog.compress(later, base), base) == later


def _count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar())


def test_prune_collects_unused_rows_and_the_writer_brings_back_what_it_reuses(db_url: str) -> None:
    model = WriterModel(db_url)
    try:
        def config(n: int, id_: str = "m1"):
            return resource("RedactedClusterMachineConfig", id_, {"data": f"version: {n}\n" + "x: y\n" * 80})

        model.apply([config(1), config(1, "m2")])
        model.apply([config(2)])
        model.apply([config(3)])
        model.apply([resource("Cluster", "gone", {})])
        model.apply([("default", resource("Cluster", "gone").type, "gone")])
        horizon = model.apply([config(4)])
        before = _states(db_url, horizon)
        assert _count(model.engine, blobs) == 4  # four texts (m2's equals m1's first)
        retention.prune(model.engine, horizon)
        assert _states(db_url, horizon) == before
        assert _count(model.engine, blobs) == 2  # texts 2 and 3 went; 1 (m2's, and 4's base) and 4 stay
        # one meta: m1 and m2 differ only by their creation time, which the log row holds
        assert _count(model.engine, specs) == 2 and _count(model.engine, metas) == 1
        with model.engine.connect() as conn:
            assert conn.execute(sa.select(resource_keys.c.id).order_by(resource_keys.c.id)).scalars().all() == [
                "m1", "m2"]
        # The writer's caches still name version 2's spec and the Cluster's key: using them again re-inserts.
        model.apply([config(2), resource("Cluster", "gone", {})])
        with model.engine.connect() as conn:
            assert list(rebuild.differences(conn, rebuild.expected(conn))) == []
            assert history.resource_at(conn, "default", config(2).type, "m1", model.revision).spec == config(2).spec
    finally:
        model.close()


def test_collect_unused_keeps_a_spec_an_event_appended_after_its_scan_names(db_url: str) -> None:
    """event_log has no spec_id index: unused specs are found by one scan, then each delete re-checks the
    events appended since. An event logged between the scan and the delete keeps its spec."""
    model = WriterModel(db_url)
    try:
        def config(n: int):
            return resource("RedactedClusterMachineConfig", "m1", {"data": f"version: {n}\n"})

        model.apply([config(1)])
        second = model.apply([config(2)])
        model.apply([config(3)])
        with model.engine.begin() as conn:  # version 2's event goes: its spec is unused now
            conn.execute(sa.delete(event_log).where(event_log.c.revision == second))
        transactions = []

        def turn():
            transactions.append(len(transactions))
            if len(transactions) == 2:  # 1: the keys; 2: the first spec delete, after the scan
                model.apply([config(2)])  # the writer logs version 2 again, naming the candidate
            return nullcontext()

        assert _count(model.engine, specs) == 3
        retention.collect_unused(model.engine, chunk=1_000_000, turn=turn)
        assert _count(model.engine, specs) == 3
        with model.engine.connect() as conn:
            assert list(rebuild.differences(conn, rebuild.expected(conn))) == []
            assert history.resource_at(conn, "default", config(2).type, "m1", model.revision).spec == config(2).spec
        # Without the late event, the spec goes.
        with model.engine.begin() as conn:
            conn.execute(sa.delete(event_log).where(event_log.c.revision == model.revision))
        retention.collect_unused(model.engine)
        assert _count(model.engine, specs) == 2
    finally:
        model.close()


def test_a_member_a_view_reads_part_of_is_a_blob_and_its_shadow_keeps_those_parts() -> None:
    type_ = "MachineStatuses.omni.sidero.dev"
    disks = [{"size": str(10**12 * i), "model": "NVMe " * 20, "serial": f"S{i:030d}", "bus_path": "/pci0"}
             for i in range(1, 4)]
    spec = {"connected": True, "talos_version": "v1.9.0",
            "hardware": {"arch": "amd64", "processors": [{"core_count": 8, "thread_count": 16,
                                                          "manufacturer": "Intel " * 30}] * 2,
                         "memory_modules": [{"size_mb": 16384, "description": "DIMM " * 30}],
                         "blockdevices": disks},
            "network": {"hostname": "node-1", "addresses": ["10.0.0.1/24"] * 40}}
    stored_json, refs_json, members = eventlog.split_spec(type_, json.dumps(spec))
    stored, refs = json.loads(stored_json), json.loads(refs_json)
    assert set(refs) == {"hardware", "network"} == set(members)
    assert stored["hardware"] == {"arch": "amd64",
                                  "processors": [{"core_count": 8, "thread_count": 16}] * 2,
                                  "memory_modules": [{"size_mb": 16384}],
                                  "blockdevices": [{"size": d["size"]} for d in disks]}  # count and sizes
    assert stored["network"] == {"hostname": "node-1"}
    assert stored["connected"] is True and len(stored_json) * 4 < len(json.dumps(spec))
    values = {digest: json.loads(data) for digest, data in members.values()}
    assert eventlog.resolve_spec(stored, refs, values.__getitem__) == spec
    # a member read whole by a view, or whose read part is most of it, stays in the spec
    small = {"hardware": {"arch": "amd64", "processors": [{"core_count": 8, "thread_count": 16}] * 12}}
    assert eventlog.split_spec(type_, json.dumps(small))[1] is None
    # the decoder's dict instead of parsing the text: the same split, and the dict is left as it was
    text = json.dumps(spec, separators=(",", ":"), ensure_ascii=False)
    before = json.dumps(spec)
    assert eventlog.split_spec(type_, text, spec) == eventlog.split_spec(type_, text)
    assert json.dumps(spec) == before


@pytest.mark.parametrize("target", ["sqlite_url", pytest.param("pg_url", marks=pytest.mark.postgres)])
def test_a_batch_larger_than_the_id_cache_stores_each_meta_once(target, request, monkeypatch) -> None:
    """The id caches make room before a batch, never during one: a meta allocated early in a batch and met
    again after the cache was emptied got a second id, and the batch failed on the digest's unique index."""
    monkeypatch.setattr(eventlog, "CACHE_ENTRIES", 8)
    model = WriterModel(request.getfixturevalue(target))
    try:
        model.apply([resource("Cluster", f"c{i}", {"kubernetes_version": f"1.31.{i % 12}"},
                              labels={"ring": str(i % 10)}) for i in range(40)])
        with model.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM events")).scalar() == 40
            assert conn.execute(sa.text("SELECT count(*) FROM metas")).scalar() == 10
            assert conn.execute(sa.text("SELECT count(*) FROM specs")).scalar() == 12
    finally:
        model.close()
