"""``python -m bench._machine_flaps``: a simulator whose only churn is machines flapping.

Machines disconnect and reconnect, go not ready and ready again, at ``--rate`` events/s: each flap writes
the machine, its status, its cluster machine status and the statuses of its cluster and machine set, but
never a Cluster. That is the "machines churn" a dashboard of clusters should not notice. Uses the
simulator's own flap actions (private methods of its churn; a bench-only helper).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from pathlib import Path

from simulator.app import Simulator
from simulator.auth import AioSignatureInterceptor, SignatureVerifier


async def _flap(simulator: Simulator, rate: float) -> None:
    churn = simulator.churn
    actions = (churn._disconnect, churn._reconnect, churn._not_ready, churn._ready)
    store = simulator.store
    started, first = time.monotonic(), store.position
    while True:
        due = first + rate * (time.monotonic() - started)
        for _ in range(1000):  # bounded: an action can find nothing to flip
            if store.position >= due:
                break
            churn.rng.choice(actions)()
        await asyncio.sleep(0.005)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--machines", type=int, required=True)
    parser.add_argument("--clusters", type=int, required=True)
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--service-account-public-key", type=Path, required=True)
    args = parser.parse_args()
    verifier = SignatureVerifier([args.service_account_public_key.read_bytes()])
    simulator = Simulator(seed=1, clusters=args.clusters, machines=args.machines,
                          interceptors=[AioSignatureInterceptor(verifier)])
    simulator.warm()
    port = await simulator.start("127.0.0.1:0")
    print(f"listening on 127.0.0.1:{port} control none", flush=True)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    flaps: list[asyncio.Task] = []  # SIGUSR1 starts the flaps (once the watcher has bootstrapped)
    loop.add_signal_handler(signal.SIGUSR1, lambda: flaps or flaps.append(loop.create_task(_flap(simulator,
                                                                                                 args.rate))))
    await stop.wait()
    for task in flaps:
        task.cancel()
    await simulator.stop()


if __name__ == "__main__":
    asyncio.run(main())
