"""The simulator as one object: state, fleet, churn, fault injection and the gRPC server's lifecycle.

Every method must be called on the event loop that runs the server (``SimulatorThread`` in
``tests/simulator_fixtures.py`` shows how to drive it from another thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable

import grpc.aio

from simulator import fleet as fleetgen
from simulator import management
from simulator.churn import Churn
from simulator.faults import Faults
from simulator.server import StateService, build_server
from simulator.store import DEFAULT_HISTORY, Store

DEFAULT_ERROR = "simulated error: watch aborted by fault injection"


class Simulator:
    """An Omni stand-in: build it (generates the fleet), ``await start(...)``, ``await stop()``."""

    def __init__(self, *, seed: int = 0, clusters: int = 50, machines: int = 1000, churn_rate: float = 0.0,
                 history: int = DEFAULT_HISTORY, now: int | None = None, clock: Callable[[], int] | None = None,
                 interceptors: Iterable[grpc.aio.ServerInterceptor] = ()) -> None:
        self.store = Store(history=history, clock=clock or time.time_ns)
        self.faults = Faults()
        # The initial fleet's timestamps come from the seed and a fixed epoch (``now`` overrides it), never
        # from the clock: a restart with the same seed serves the same resources.
        self.fleet = fleetgen.build(self.store, seed=seed, clusters=clusters, machines=machines, now=now)
        self.churn = Churn(self.store, self.fleet, seed)
        self.churn_rate = churn_rate
        self.service = StateService(self.store, self.faults)
        self.management = management.ManagementService(self.store)
        self._interceptors = tuple(interceptors)
        self._server: grpc.aio.Server | None = None
        self._churn_task: asyncio.Task | None = None
        self.port: int | None = None

    def warm(self) -> None:
        """Serialise every resource now, so the first bootstraps stream cached bytes."""
        for res in self.store.all_resources():
            res.wire  # noqa: B018 - computing the cached property is the point

    async def start(self, listen: str = "127.0.0.1:0") -> int:
        """Listen (``host:port``, port 0 picks one) and start churning; returns the bound port."""
        self._server = build_server(self.service, self._interceptors,
                                    (management.generic_handler(self.management),))
        try:
            self.port = self._server.add_insecure_port(listen)
        except RuntimeError as exc:  # grpc's way of reporting a failed bind
            raise OSError(f"cannot listen on {listen}: {exc}") from None
        await self._server.start()
        self._churn_task = asyncio.get_running_loop().create_task(self.churn.run(lambda: self.churn_rate))
        return self.port

    async def stop(self, grace: float = 0.2) -> None:
        if self._churn_task is not None:
            self._churn_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._churn_task
            self._churn_task = None
        self.drop_streams()
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None

    # -- control -------------------------------------------------------------------------------------

    def set_churn_rate(self, rate: float) -> None:
        self.churn_rate = max(0.0, rate)

    def apply_churn(self, events: int) -> int:
        """Produce at least ``events`` churn events right now; returns how many were produced."""
        return self.churn.apply_n(events)

    def drop_streams(self) -> int:
        """End every open Watch with UNAVAILABLE (as a lost connection would); returns how many."""
        watchers = list(self.store.watchers)
        for watcher in watchers:
            watcher.drop()
        return len(watchers)

    def restart(self) -> int:
        """A simulated Omni restart: new bookmark cookie (every bookmark is now refused), history
        discarded, every stream dropped. Resources and versions survive (they live in etcd)."""
        self.store.restart()
        return self.drop_streams()

    def inject_errored(self, type_: str | None = None, message: str = DEFAULT_ERROR) -> int:
        """Send ERRORED to open streams (of one type, or all); they then stay open and silent."""
        hit = [w for w in self.store.watchers if type_ is None or w.type == type_]
        for watcher in hit:
            watcher.fail(message)
        return len(hit)

    def set_slow_consumer(self, type_: str | None, buffer: int, delay: float = 0.0) -> None:
        self.faults.set_slow_consumer(type_, buffer, delay)
        for watcher in self.store.watchers:
            watcher.wake()

    def clear_faults(self) -> None:
        self.faults.clear()

    def state(self) -> dict:
        counts = {f"{coll.namespace}/{coll.type}": len(coll.items)
                  for coll in sorted(self.store.collections.values(), key=lambda c: (c.namespace, c.type))
                  if coll.items}
        return {
            "revision": self.store.position,
            "cookie": self.store.cookie.hex(),
            "resources": sum(counts.values()),
            "counts": counts,
            "streams": len(self.store.watchers),
            "churn_rate": self.churn_rate,
            "churn_steps": self.churn.steps,
            "clusters": len(self.fleet.clusters),
            "machines": len(self.fleet.machines),
        }
