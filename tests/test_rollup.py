"""The per-day rollup (models/rollup.py): the rollup-backed daily reports and ``daily_fleet`` answer exactly
what the same reports computed from the log answer, after random churn over many days, after a prune
(for the days after the horizon) and after more churn on the pruned log (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from models import migrate, reporting, reports, retention, rollup
from models.catalog import LABEL_CLUSTER, by_name
from models.db import create_engine
from tests.test_rebuild import RandomFleet
from watcher.decode import Decoded
from watcher.documents import load_projections
from watcher.writer import Writer

DAILY = ("machine-count", "talos-versions", "kubernetes-versions")
START = datetime(2026, 10, 1, tzinfo=UTC)


class DayFleet(RandomFleet):
    """RandomFleet with the values the daily reports count: cluster, Talos and Kubernetes versions, phase."""

    def _state(self, kind: str, id_: str, version: int, created: int) -> Decoded:
        rng, k = self.rng, by_name(kind)
        labels = {LABEL_CLUSTER: rng.choice(("c1", "c2"))} if rng.random() < 0.7 else {}
        spec = {"talos_version": rng.choice(("v1.8.0", "v1.9.0")), "kubernetes_version": rng.choice(("1.31", "1.32")),
                "phase": rng.choice(("RUNNING", "SCALING_UP"))}
        if rng.random() < 0.5:
            spec["connected"] = True
        if rng.random() < 0.7:
            spec["cluster"] = rng.choice(("c1", "c2"))
        return Decoded(k.namespace, k.type, id_, version, "running", "", created, self.clock, labels, {}, [], spec)


class DayWriter(Writer):
    """The real writer, observing each batch a few hours after the previous one."""

    now = START

    def _observed_at(self) -> datetime:
        return self.now


def churn(engine: sa.Engine, fleet: DayFleet, start: datetime, batches: int) -> datetime:
    writer = DayWriter(engine, load_projections())
    writer.take_over("days")
    writer.now = start
    for _ in range(batches):
        writer.now += timedelta(hours=fleet.rng.choice((1, 5, 11, 23)))
        items = [fleet.change() for _ in range(fleet.rng.randint(1, 6))]
        if fleet.rng.random() < 0.1:
            items += fleet.sweep()
        writer.apply(items)
    writer.close()
    return writer.now


@pytest.fixture
def churned(db_url: str) -> Iterator[sa.Engine]:
    engine = create_engine(db_url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def answers(engine: sa.Engine, sql: dict[str, str], since: datetime | None = None) -> dict:
    out = {}
    with engine.connect() as conn:
        for name in DAILY:
            report = dataclasses.replace(reports.get(name), sql=sql[name])
            for cluster in ("", "c1", "c2"):
                params = reports.Params(since=since, cluster=cluster, limit=reports.MAX_LIMIT)
                out[(name, cluster)] = reports.run(conn, report, params).rows
    return out


def fleet_rows(engine: sa.Engine, source: str, since: datetime) -> list[tuple]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT day, subject, dimension, value, count FROM ({source}) AS f"))  # noqa: S608
        return sorted((str(d)[:10], s, m, v, int(n)) for d, s, m, v, n in rows if str(d)[:10] >= f"{since:%Y-%m-%d}")


def check(engine: sa.Engine, since: datetime | None = None) -> None:
    rolled = {name: reports.get(name).sql for name in DAILY}
    from_log = answers(engine, reports.FROM_LOG, since)
    assert answers(engine, rolled, since) == from_log
    assert any(len(rows) > 20 for rows in from_log.values())  # many days, not a trivial answer
    dialect = engine.dialect.name
    day = since or START
    assert fleet_rows(engine, "SELECT * FROM daily_fleet", day) == \
        fleet_rows(engine, reporting.daily_fleet_sql(dialect), day)


def test_rollup_answers_like_the_log_after_churn_prune_and_more_churn(churned) -> None:
    engine, fleet = churned, DayFleet(11)
    end = churn(engine, fleet, START, 120)
    check(engine)

    with engine.connect() as conn:
        head = int(conn.execute(sa.text("SELECT head_revision FROM meta")).scalar())
        horizon = head // 2
        at = conn.execute(sa.text("SELECT observed_at FROM events WHERE revision = :r"), {"r": horizon}).scalar()
    horizon_time = datetime.fromisoformat(at) if isinstance(at, str) else at
    horizon_time = horizon_time.replace(tzinfo=UTC) if horizon_time.tzinfo is None else horizon_time
    assert retention.prune(engine, horizon, chunk=5).deleted > 0
    check(engine, since=horizon_time)  # daily counts from the horizon's day on: unchanged by the prune

    churn(engine, fleet, end, 40)  # folding goes on from the members' state, not from pruned history
    check(engine, since=horizon_time)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT revision FROM rollup_progress")).scalar() == \
            conn.execute(sa.text("SELECT head_revision FROM meta")).scalar()


def test_the_backfill_folds_an_existing_log_like_the_writer(tmp_path) -> None:
    """0007 on a log written before it folds the same counts the writer would have kept."""
    url = f"sqlite:///{tmp_path / 'backfill.db'}"
    engine = create_engine(url)
    try:
        migrate.upgrade(engine)
        churn(engine, DayFleet(5), START, 60)
        with engine.connect() as conn:
            kept = sorted(tuple(r) for r in conn.execute(sa.text("SELECT * FROM daily_counts WHERE n <> 0")))
        migrate.downgrade(engine, "0005")
        migrate.upgrade(engine)
        with engine.connect() as conn:
            assert sorted(tuple(r) for r in conn.execute(sa.text("SELECT * FROM daily_counts WHERE n <> 0"))) == kept
        # folding again up to the head changes nothing: every event is folded exactly once
        with engine.begin() as conn:
            assert rollup.fold(conn) == 0
    finally:
        engine.dispose()


def test_a_batch_reads_only_the_kinds_it_holds_unless_the_progress_says_otherwise(tmp_path) -> None:
    """A live batch folds by reading the events of its own kinds: none for a kind no rollup counts, one read
    for Machines; when the rollup's progress is not where the batch says its events start, every kind is
    read, so no event after the progress is missed."""
    engine = create_engine(f"sqlite:///{tmp_path / 'fold.db'}")
    try:
        migrate.upgrade(engine)
        fleet = DayFleet(3)
        writer = DayWriter(engine, load_projections())
        writer.take_over("reads")
        writer.now = START
        extracts: list[str] = []
        writer.conn.set_trace_callback(lambda sql: extracts.append(sql) if "FROM events e" in sql else None)

        writer.apply([fleet.change("MachineSetNode", "a")])
        assert extracts == []
        writer.apply([fleet.change("Machine", "a"), fleet.change("Machine", "b")])
        assert len(extracts) == 1 and "'Machines.omni.sidero.dev'" in extracts[0]

        extracts.clear()
        writer.apply([fleet.change("Cluster", "c")])
        head = writer.head
        cur = writer.conn.cursor()
        cur.execute("BEGIN")
        cur.execute("UPDATE rollup_progress SET revision = :r", {"r": head - 1})  # one event not folded
        folder = rollup.Folder(engine.dialect)
        folder.fold(cur, head, (head, set()))  # the batch claims nothing; the progress disagrees
        cur.execute("ROLLBACK")
        assert len(extracts) == 1 + len(folder.extracts)  # the Cluster batch's one read, then all of them
        writer.conn.set_trace_callback(None)
        writer.close()
        assert answers(engine, {name: reports.get(name).sql for name in DAILY}) == answers(engine, reports.FROM_LOG)
    finally:
        engine.dispose()
