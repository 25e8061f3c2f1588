"""``omni-readmodel rebuild [--check]``: the projection recomputed from the log equals the one the writer
maintained, after random event sequences (SQLite and PostgreSQL); a corrupted row is reported and fixed."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from models import migrate, rebuild
from models.catalog import LABEL_CLUSTER, by_name
from models.db import create_engine
from tests.api_support import ROOT
from watcher.decode import Decoded
from watcher.documents import load_projections
from watcher.items import Bootstrapped, BootstrapStarted, Change
from watcher.lock import writer_lock
from watcher.writer import Writer

KINDS = ("Machine", "MachineStatus", "Cluster", "ClusterStatus", "ClusterMachine", "MachineSetNode")
IDS = ("a", "b", "c", "d")


class RandomFleet:
    """Random creates, updates, destroys, re-creations and re-bootstrap sweeps over a few ids."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.live: dict[tuple[str, str], tuple[int, int]] = {}  # (kind, id) -> (version, created)
        self.clock = 1_700_000_000_000_000

    def _state(self, kind: str, id_: str, version: int, created: int) -> Decoded:
        rng, k = self.rng, by_name(kind)
        labels = {LABEL_CLUSTER: rng.choice(("c1", "c2"))} if rng.random() < 0.7 else {}
        spec = {"talos_version": rng.choice(("v1.8.0", "v1.9.0")), "connected": rng.random() < 0.5,
                "network": {"hostname": f"h-{id_}-{rng.randint(0, 3)}"}, "phase": rng.choice(("RUNNING", "SCALING_UP"))}
        return Decoded(k.namespace, k.type, id_, version, "running", "", created, self.clock, labels, {}, [], spec)

    def change(self, kind: str | None = None, id_: str | None = None) -> Change:
        """A random change; of ``kind``/``id_`` when given (then never a destroy)."""
        rng = self.rng
        self.clock += 1_000_000
        forced = kind is not None
        kind, id_ = kind or rng.choice(KINDS), id_ or rng.choice(IDS)
        stream = by_name(kind).stream_key
        current = self.live.get((kind, id_))
        if current is not None and not forced and rng.random() < 0.25:
            del self.live[(kind, id_)]
            return Change(stream, self._state(kind, id_, *current), True, None, True)
        if current is None or rng.random() < 0.1:  # created, or re-created while the watcher was away
            version, created = 1, self.clock
        else:
            version, created = current[0] + 1, current[1]
        self.live[(kind, id_)] = (version, created)
        return Change(stream, self._state(kind, id_, version, created), False, None, True)

    def sweep(self) -> list:
        """A re-bootstrap of one kind that no longer sees some of its resources."""
        kind = self.rng.choice(KINDS)
        seen = {id_ for (k, id_) in self.live if k == kind and self.rng.random() < 0.6}
        for id_ in [id_ for (k, id_) in self.live if k == kind and id_ not in seen]:
            del self.live[(kind, id_)]
        stream = by_name(kind).stream_key
        return [BootstrapStarted(stream, True), Bootstrapped(stream, seen, b"bookmark")]


def play(engine: sa.Engine, seed: int, batches: int = 60) -> None:
    fleet = RandomFleet(seed)
    writer = Writer(engine, load_projections())
    writer.take_over("random")
    for _ in range(batches):
        items = [fleet.change() for _ in range(fleet.rng.randint(1, 6))]
        if fleet.rng.random() < 0.1:
            items += fleet.sweep()
        writer.apply(items)
    # A machine and then its status in one batch: the writer does not bump the machine's revision for a
    # status change of the batch that wrote the machine itself.
    writer.apply([fleet.change("Machine", "a"), fleet.change("MachineStatus", "a")])
    writer.close()


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    engine = create_engine(db_url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def differences(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return list(rebuild.differences(conn, rebuild.expected(conn)))


def projection(engine: sa.Engine) -> tuple[list, list]:
    with engine.connect() as conn:
        return (sorted(tuple(r) for r in conn.execute(sa.text(
                    "SELECT namespace, type, id, version, revision, CAST(spec AS TEXT), document FROM resources"))),
                sorted(tuple(r) for r in conn.execute(sa.text("SELECT * FROM resource_labels"))))


def cli(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "omni_readmodel", "rebuild", *args, "--database-url", url],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_log_rebuilds_the_projection_after_random_events(engine, seed) -> None:
    play(engine, seed)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM events WHERE event = 'destroyed'")).scalar() > 5
        assert conn.execute(sa.text("SELECT count(*) FROM resources WHERE document IS NOT NULL")).scalar() > 3
    assert differences(engine) == []


def test_check_reports_corruption_and_rebuild_repairs_it(engine, db_url) -> None:
    play(engine, 7)
    before = projection(engine)
    done = cli(db_url, "--check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "projection matches the log" in done.stdout
    with engine.begin() as conn:
        row = conn.execute(sa.text("SELECT namespace, type, id FROM resources WHERE document IS NOT NULL "
                                   "ORDER BY type, id LIMIT 1")).one()
        conn.execute(sa.text("UPDATE resources SET document = '{}', version = version + 5 "
                             "WHERE namespace = :ns AND type = :t AND id = :id"),
                     {"ns": row[0], "t": row[1], "id": row[2]})
        label = conn.execute(sa.text("SELECT namespace, type, key, value, id FROM resource_labels "
                                     "ORDER BY type, id LIMIT 1")).one()
        conn.execute(sa.text("DELETE FROM resource_labels WHERE namespace = :ns AND type = :t AND key = :k "
                             "AND value = :v AND id = :id"),
                     dict(zip(("ns", "t", "k", "v", "id"), label, strict=True)))
        conn.execute(sa.text("INSERT INTO resources (namespace, type, id, version, phase, owner, labels, "
                             "annotations, finalizers, spec, revision) VALUES ('default', "
                             "'Machines.omni.sidero.dev', 'ghost', 1, 'running', '', '{}', '{}', '[]', '{}', 1)"))
    done = cli(db_url, "--check")
    assert done.returncode == 1
    assert done.stdout.splitlines() == sorted([
        f"differs {row[0]}/{row[1]}/{row[2]}: version, document",
        "extra default/Machines.omni.sidero.dev/ghost: in the projection, destroyed or never in the log",
    ]) + [f"missing label {label[0]}/{label[1]}/{label[4]}: {label[2]}={label[3]}"]
    assert "3 differences from the log" in done.stderr
    done = cli(db_url)
    assert done.returncode == 0, done.stderr
    assert "(3 differences fixed)" in done.stdout
    # the repaired row takes the head revision (its ETag moves); everything else is as the writer left it
    with engine.connect() as conn:
        head = conn.execute(sa.text("SELECT head_revision FROM meta")).scalar()
    rows, labels = before
    assert projection(engine) == ([r if r[:3] != tuple(row) else (*r[:4], head, *r[5:]) for r in rows], labels)
    assert cli(db_url, "--check").returncode == 0


def test_rebuild_refuses_while_a_watcher_holds_the_writer_lock(db_url, engine) -> None:
    # SQLite refuses at once (flock); PostgreSQL waits --lock-wait for the advisory lock, then gives up.
    refusal = {"sqlite": "is already writing to this SQLite database",
               "postgresql": "a watcher holds the writer lock"}[engine.dialect.name]
    lock = writer_lock(engine)
    assert lock.acquire(threading.Event())
    try:
        done = cli(db_url, "--lock-wait", "0.5")
        assert done.returncode == 2
        assert refusal in done.stderr
    finally:
        lock.release()
    assert cli(db_url).returncode == 0


def test_a_stale_kind_revision_is_reported_and_restored(engine, db_url) -> None:
    play(engine, 9)
    with engine.begin() as conn:
        kind, revision = conn.execute(sa.text(
            "SELECT type, revision FROM kind_revisions ORDER BY type LIMIT 1")).one()
        conn.execute(sa.text("UPDATE kind_revisions SET revision = 0 WHERE type = :t"), {"t": kind})
    found = differences(engine)
    assert found == [f"stale kind revision default/{kind}: 0, log says {revision}"]
    assert cli(db_url).returncode == 0
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT revision FROM kind_revisions WHERE type = :t"), {"t": kind}).scalar() \
            == revision
    assert differences(engine) == []


def daily_counts(engine: sa.Engine) -> list[tuple]:
    with engine.connect() as conn:
        return sorted(tuple(str(v) for v in r) for r in conn.execute(sa.text(
            "SELECT subject, dimension, day, grp, value, n FROM daily_counts WHERE n <> 0")))


def test_the_rollup_is_checked_against_a_fresh_fold_and_folded_again(engine, db_url) -> None:
    play(engine, 11)
    before = daily_counts(engine)
    assert {r[0] for r in before} == {"machines", "clusters"}
    done = cli(db_url, "--check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"rollup matches the log: {len(before)} daily counts" in done.stdout
    with engine.begin() as conn:
        wrong = conn.execute(sa.text("SELECT subject, dimension, day, grp, value, n FROM daily_counts "
                                     "WHERE n <> 0 ORDER BY subject, dimension, value LIMIT 1")).one()
        conn.execute(sa.text("UPDATE daily_counts SET n = n + 2 WHERE subject = :s AND dimension = :d "
                             "AND day = :day AND grp = :g AND value = :v"),
                     dict(zip(("s", "d", "day", "g", "v"), wrong[:5], strict=True)))
        conn.execute(sa.text("INSERT INTO daily_counts (subject, dimension, day, grp, value, n) "
                             "VALUES ('machines', 'talos_version', '2001-01-01', '', 'v0.0.1', 1)"))
    done = cli(db_url, "--check")
    assert done.returncode == 1
    grp = wrong[3] or "-"
    assert done.stdout.splitlines() == [
        f"rollup {wrong[0]}/{wrong[1]} {wrong[2]} {grp} {wrong[4]!r}: {wrong[5] + 2}, log says {wrong[5]}",
        "rollup machines/talos_version 2001-01-01 - 'v0.0.1': 1, log says 0"]
    done = cli(db_url)
    assert done.returncode == 0, done.stderr
    assert "daily rollup folded again" in done.stdout
    assert daily_counts(engine) == before
    assert cli(db_url, "--check").returncode == 0


def test_after_pruning_the_rollup_is_neither_checked_nor_refolded(engine, db_url) -> None:
    play(engine, 12)
    before = daily_counts(engine)
    with engine.connect() as conn:
        head = conn.execute(sa.text("SELECT head_revision FROM meta")).scalar()
    pruned = subprocess.run([sys.executable, "-m", "omni_readmodel", "prune", "--before", str(head - 5),
                             "--database-url", db_url], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert pruned.returncode == 0, pruned.stderr
    done = cli(db_url, "--check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rollup not checked: the log was pruned" in done.stdout
    done = cli(db_url)
    assert done.returncode == 0, done.stderr
    assert "daily rollup kept: the log was pruned" in done.stdout
    assert daily_counts(engine) == before
