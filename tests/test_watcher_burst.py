"""An upgrade-like burst: the simulator churns at 2,000 events/s for a few seconds while the real watcher
(a subprocess, over gRPC, signing its calls) ingests; afterwards the read model must equal the simulator's
export byte for byte, with a gap-free log, on SQLite and PostgreSQL. Nothing is timed: the burst's
length only sets how much churn there is, and the waits are safety timeouts.
"""

from __future__ import annotations

import time

import pytest

from models.db import create_engine
from tests.test_watcher_e2e import (  # noqa: F401 - reap_watchers and model are fixtures used here
    ReadModel,
    WatcherProcess,
    model,
    reap_watchers,
    start_simulator,
    wait_converged,
)
from watcher.cli import commit_without_flush
from watcher.service import WatchConfig, Watcher
from watcher.writer import BatchResult

BURST_RATE = 2000  # events/s, an upgrade wave's order of magnitude
BURST_SECONDS = 3


def test_burst_converges_to_the_simulator(db_url: str, model: ReadModel, tmp_path) -> None:  # noqa: F811
    sim = start_simulator(machines=100, clusters=5, seed=13)
    try:
        watcher = WatcherProcess(db_url, sim.address, tmp_path)
        wait_converged(model, sim)
        head = model.check_log()
        store = sim.simulator.store
        start = sim.call(lambda: store.position)
        sim.call(sim.simulator.set_churn_rate, BURST_RATE)
        time.sleep(BURST_SECONDS)
        # Pausing commits the rest of the churn's current step at once: the burst ends with a spike.
        sim.call(sim.simulator.set_churn_rate, 0)
        produced = sim.call(lambda: store.position) - start
        assert produced > 0, "the simulator produced no churn"
        wait_converged(model, sim, timeout=120)
        assert model.check_log() > head, f"{produced} churn events logged nothing"
        assert watcher.terminate() == 0, watcher.log()
        # Stopping committed nothing more than the converged state: the log is still whole.
        model.check_log()
        assert "poison" not in watcher.log().lower(), watcher.log()[-2000:]
    finally:
        sim.stop()


def _committing(watcher: Watcher, seconds: float, times: int = 30) -> float:
    for _ in range(times):
        watcher._committed(BatchResult(items=1, events=1, head=1, seconds=seconds, committed_at=0.0))
    return watcher._live_window()


def test_live_batch_window_follows_the_commit_cost() -> None:
    """Small commits (quiet) keep the window small; slow ones (a burst's big batches) widen it, up to
    the batch latency; factor 0 is the fixed window."""
    config = WatchConfig(kinds=[], batch_latency=0.020, batch_quiet=0.003, commit_factor=2.0)
    watcher = Watcher(None, lambda: None, config)
    assert watcher._live_window() == pytest.approx(0.003)  # nothing committed yet: the quiet gap
    assert _committing(watcher, 0.004) == pytest.approx(0.008, rel=0.01)
    assert _committing(watcher, 0.0005) == pytest.approx(0.003)  # never below the quiet gap
    assert _committing(watcher, 0.5) == pytest.approx(0.020)  # never beyond the latency
    assert _committing(watcher, 0.004, times=1) == pytest.approx(0.020)  # one fast commit after slow ones: still wide
    fixed = Watcher(None, lambda: None, WatchConfig(kinds=[], batch_latency=0.020, commit_factor=0))
    assert _committing(fixed, 0.001) == pytest.approx(0.020)


def test_pg_synchronous_commit_off_applies_to_every_connection(pg_url: str) -> None:
    engine = create_engine(pg_url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
        engine.dispose()
        commit_without_flush(engine, True)
        for _ in range(2):
            with engine.connect() as conn:
                assert conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "off"
                conn.rollback()  # a rollback must not undo the session setting
    finally:
        engine.dispose()
