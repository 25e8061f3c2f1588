"""An upgrade-like burst: the simulator churns at 2,000 events/s for a few seconds while the real watcher
(a subprocess, over gRPC, signing its calls) ingests; afterwards the read model must equal the simulator's
export byte for byte, with a gap-free log, on SQLite and PostgreSQL. Nothing is timed: the burst's
length only sets how much churn there is, and the waits are safety timeouts.
"""

from __future__ import annotations

import time

from tests.test_watcher_e2e import (  # noqa: F401 - reap_watchers and model are fixtures used here
    ReadModel,
    WatcherProcess,
    model,
    reap_watchers,
    start_simulator,
    wait_converged,
)

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
