"""``omni-readmodel prune``: every point at or after the horizon and the current state are unchanged."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from models import history, migrate, rebuild, retention
from models.db import create_engine
from models.schema import events, streams
from tests.api_support import ROOT
from tests.reporting_history import ScriptedWriter, write_history
from tests.test_rebuild import play


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    engine = create_engine(db_url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def states(engine: sa.Engine, low: int) -> dict[int, list]:
    with engine.connect() as conn:
        head = history.head_revision(conn)
        return {r: list(history.at_revision(conn, r)) for r in range(low, head + 1)}


def cli(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "omni_readmodel", "prune", *args, "--database-url", url],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("seed", [4, 5])
def test_points_at_or_after_the_horizon_are_unchanged(engine, seed) -> None:
    play(engine, seed, batches=50)
    with engine.connect() as conn:
        head = history.head_revision(conn)
        current = list(history.current(conn))
    first, second = head // 3, 2 * head // 3
    before = states(engine, first)
    done = retention.prune(engine, first, chunk=7)
    assert done.deleted > 0 and done.horizon == first
    assert states(engine, first) == before
    # a second, later horizon also removes versions the first one had to keep
    done = retention.prune(engine, second, chunk=7)
    assert done.previous_horizon == first and done.deleted > 0
    assert states(engine, second) == {r: s for r, s in before.items() if r >= second}
    with engine.connect() as conn:
        assert list(history.current(conn)) == current
        assert retention.horizon(conn) == second
        assert list(rebuild.differences(conn, rebuild.expected(conn))) == []
        # below the horizon only states at the horizon remain: no destroys, one version per resource
        below = conn.execute(sa.text(
            "SELECT namespace, type, id, event FROM events WHERE revision < :h"), {"h": second}).fetchall()
        assert below and all(row.event != "destroyed" for row in below)
        assert len({tuple(row[:3]) for row in below}) == len(below)
        assert {tuple(row[:3]) for row in below} <= {r.key for r in history.at_revision(conn, second)}
    assert retention.prune(engine, first).deleted == 0  # an older horizon changes nothing


def test_prune_older_than_an_age_keeps_live_resources(engine, db_url) -> None:
    writer = ScriptedWriter(engine)
    writer.take_over("script")
    write_history(writer)
    writer.close()
    with engine.connect() as conn:
        live = list(history.current(conn))
        head = history.head_revision(conn)
        machines_before = conn.execute(sa.text("SELECT count(*) FROM current_machines")).scalar()
    done = cli(db_url, "--older-than", "1d")  # the scripted history ended weeks ago: all of it is old
    assert done.returncode == 0, done.stderr
    assert f"horizon now revision {head} (was 0)" in done.stdout
    with engine.connect() as conn:
        assert list(history.current(conn)) == live
        assert conn.execute(sa.text("SELECT count(*) FROM events")).scalar() == len(live)
        assert conn.execute(sa.text("SELECT count(*) FROM current_machines")).scalar() == machines_before
        assert conn.execute(sa.text("SELECT count(*) FROM history_machines WHERE valid_to IS NULL")).scalar() \
            == machines_before
    again = cli(db_url, "--older-than", "1d")
    assert again.returncode == 0 and f"horizon already at revision {head}" in again.stdout
    bad = cli(db_url, "--before", str(head + 1))
    assert bad.returncode == 2 and f"the log holds revisions 1 to {head}" in bad.stderr
    bad = cli(db_url, "--older-than", "2026-01-01")
    assert bad.returncode == 2 and "give an age such as 30d" in bad.stderr


def test_prune_while_the_watcher_ingests_loses_nothing(db_url, tmp_path) -> None:
    from tests.test_watcher_e2e import ReadModel, WatcherProcess, start_simulator, wait_converged

    sim = start_simulator(machines=30, clusters=3, seed=8)
    model = ReadModel(db_url)
    watcher = WatcherProcess(db_url, sim.address, tmp_path)
    try:
        wait_converged(model, sim)
        sim.call(sim.simulator.apply_churn, 300)
        wait_converged(model, sim)
        horizon = model.scalar("SELECT head_revision FROM meta")
        churning = threading.Thread(target=lambda: [sim.call(sim.simulator.apply_churn, 100) for _ in range(5)])
        churning.start()
        done = cli(db_url, "--before", str(horizon), "--chunk", "50")
        churning.join()
        assert done.returncode == 0, done.stderr
        wait_converged(model, sim)
        assert watcher.terminate() == 0, watcher.log()
        head = model.scalar("SELECT head_revision FROM meta")
        # every event after the horizon is still there, gap-free; the state at the head is the projection
        assert model.scalar("SELECT count(*) FROM events WHERE revision >= :h", h=horizon) == head - horizon + 1
        with model.engine.connect() as conn:
            assert list(history.at_revision(conn, head)) == list(history.current(conn))
            assert list(rebuild.differences(conn, rebuild.expected(conn))) == []
            assert retention.horizon(conn) == horizon
    finally:
        if watcher.process.poll() is None:
            watcher.kill()
        model.dispose()
        sim.stop()


def test_points_before_the_horizon_answer_410(engine, db_url) -> None:
    import httpx

    from tests.api_support import serve

    writer = ScriptedWriter(engine)
    writer.take_over("script")
    write_history(writer)
    writer.close()
    with engine.begin() as conn:
        # the scripted streams completed their first bootstrap with the first event (at= answers after it)
        first = conn.execute(sa.select(sa.func.min(events.c.observed_at))).scalar()
        conn.execute(sa.update(streams).values(bootstrapped=True, bootstrapped_at=first))
        horizon = history.revision_at(conn, history.parse_point("2026-11-03T00:00:00Z"))
    assert retention.prune(engine, horizon).deleted > 0
    with serve(db_url) as base:
        gone = httpx.get(base + "/api/v1/machines", params={"at": str(horizon - 1)}, timeout=30)
        assert gone.status_code == 410 and gone.headers["content-type"] == "application/problem+json"
        assert gone.headers["x-readmodel-horizon"] == str(horizon)
        assert f"history before revision {horizon} was pruned" in gone.json()["detail"]
        by_time = httpx.get(base + "/api/v1/machines/m1", params={"at": "2026-11-02T09:30:00Z"}, timeout=30)
        assert by_time.status_code == 410
        kept = httpx.get(base + "/api/v1/machines", params={"at": str(horizon)}, timeout=30)
        assert kept.status_code == 200 and [m["id"] for m in kept.json()] == ["m1", "m2", "m3"]
        assert httpx.get(base + "/api/v1/machines", timeout=30).status_code == 200


# -- watch --retention (watcher/pruner.py) -------------------------------------------------------------

def test_watch_with_retention_prunes_old_history_while_ingesting(sqlite_url, tmp_path) -> None:
    """The scripted history (November 2026) is older than --retention 7d: the watcher prunes it down to
    the states at the horizon, in small chunks, while it bootstraps and follows the simulator's churn."""
    from tests.test_watcher_e2e import ReadModel, WatcherProcess, start_simulator, wait_converged, wait_until

    engine = create_engine(sqlite_url)
    migrate.upgrade(engine)
    writer = ScriptedWriter(engine)
    writer.take_over("script")
    write_history(writer)
    writer.close()
    with engine.connect() as conn:
        old = history.head_revision(conn)
    engine.dispose()
    sim = start_simulator(machines=20, clusters=2, seed=3)
    model = ReadModel(sqlite_url)
    watcher = WatcherProcess(sqlite_url, sim.address, tmp_path, "--retention", "7d", "--retention-every", "0.2")
    try:
        wait_converged(model, sim)
        wait_until(lambda: model.scalar("SELECT horizon_revision FROM meta") == old, 60, "the horizon")
        wait_until(lambda: "pruned" in watcher.log(), 60, "a finished pass")
        sim.call(sim.simulator.apply_churn, 100)
        wait_converged(model, sim)
        assert watcher.terminate() == 0, watcher.log()
        with model.engine.connect() as conn:
            below = conn.execute(sa.text("SELECT namespace, type, id, event FROM events WHERE revision < :h"),
                                 {"h": old}).fetchall()
            assert len(below) < old - 1  # the scripted history had old - 1 events below the horizon
            assert len({tuple(r[:3]) for r in below}) == len(below)  # one state per resource
            assert all(r.event != "destroyed" for r in below)
            assert model.scalar("SELECT count(*) FROM events WHERE revision >= :h", h=old) == \
                history.head_revision(conn) - old + 1
            assert list(rebuild.differences(conn, rebuild.expected(conn))) == []
    finally:
        if watcher.process.poll() is None:
            watcher.kill()
        model.dispose()
        sim.stop()


def test_a_fenced_pruner_deletes_nothing(engine) -> None:
    from datetime import timedelta

    from watcher.pruner import Pruner, PrunerFenced

    play(engine, 6, batches=30)
    with engine.connect() as conn:
        epoch = conn.execute(sa.text("SELECT writer_epoch FROM meta")).scalar()
        count = conn.execute(sa.text("SELECT count(*) FROM events")).scalar()
    with pytest.raises(PrunerFenced):
        Pruner(engine, timedelta(seconds=-3600), epoch - 1).run_once()  # a takeover happened since
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM events")).scalar() == count
        assert retention.horizon(conn) == 0
    # the current writer's pruner prunes; a second pass from its own horizon finds nothing new
    pruner = Pruner(engine, timedelta(seconds=-3600), epoch, pause=0)
    assert pruner.run_once().deleted > 0
    assert pruner.run_once() is None


def test_watch_retention_takes_only_a_positive_age() -> None:
    from datetime import timedelta

    from watcher.cli import _retention

    assert _retention("30d", 300) == timedelta(days=30)
    assert _retention(None, 300) is None
    for bad in ("2026-01-01", "30", "0d"):
        with pytest.raises(ValueError, match="--retention"):
            _retention(bad, 300)
    with pytest.raises(ValueError, match="--retention-every"):
        _retention("1d", 0)


def test_an_interrupted_walk_resumes_where_it_stopped(engine) -> None:
    play(engine, 7, batches=40)
    with engine.connect() as conn:
        target = 2 * history.head_revision(conn) // 3
    before = states(engine, target)
    stops: list[int] = []
    retention.prune(engine, target, chunk=5, between=lambda low: stops.append(low) or len(stops) == 3)
    assert len(stops) == 3
    retention.prune(engine, target, chunk=5, since=stops[-1])
    assert states(engine, target) == before
    with engine.connect() as conn:
        below = conn.execute(sa.text("SELECT namespace, type, id, event FROM events WHERE revision < :h"),
                             {"h": target}).fetchall()
    assert all(r.event != "destroyed" for r in below) and len({tuple(r[:3]) for r in below}) == len(below)
