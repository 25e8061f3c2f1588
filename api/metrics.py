"""Prometheus metrics of the API: request latency per route template, responses by status.

With several uvicorn workers the values live in ``PROMETHEUS_MULTIPROC_DIR`` (``serve`` creates and
cleans it) and ``/metrics`` aggregates every worker's files; without that variable (one in-process app,
tests) the default registry is used. prometheus_client reads the variable when it is imported, so this
module must be imported after ``serve`` has set it.

Requests are tallied in plain Python first and folded into the Prometheus values once a second (a timer on
the worker's event loop) and whenever this worker answers ``/metrics``: a multiprocess value update takes
a lock and writes an mmap, several of them per observation, which costs more than serving a small
document. Another worker's figures can therefore lag by up to a second.
"""

from __future__ import annotations

import asyncio
import bisect
import os
import time
from typing import Any

from falcon.asgi import Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
STARTED = "omni_readmodel.started"  # ASGI scope key: perf_counter() when the request arrived
UNMATCHED = "unmatched"
FLUSH_SECONDS = 1.0
BUCKETS = (0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

LATENCY = Histogram("omni_readmodel_api_request_duration_seconds", "Time to answer a request, by route template.",
                    ["route", "method"], buckets=BUCKETS)
RESPONSES = Counter("omni_readmodel_api_responses_total", "Responses by route template and status code.",
                    ["route", "method", "status"])


class _Tally:
    __slots__ = ("buckets", "count", "seconds")

    def __init__(self) -> None:
        self.buckets = [0] * (len(BUCKETS) + 1)  # the last one is +Inf
        self.count = 0
        self.seconds = 0.0


class RequestMetrics:
    """Falcon middleware (``process_response`` only; the start time comes from the ASGI entry)."""

    def __init__(self) -> None:
        self._tallies: dict[tuple[str, str, int], _Tally] = {}
        self._flushed = time.perf_counter()
        self._timer: asyncio.TimerHandle | None = None

    async def process_response(self, req: Request, resp: Response, resource: object, req_succeeded: bool) -> None:
        started = req.scope.get(STARTED)
        if started is None:
            return
        now = time.perf_counter()
        key = (req.uri_template or UNMATCHED, req.method, resp.status_code)
        tally = self._tallies.get(key)
        if tally is None:
            tally = self._tallies[key] = _Tally()
        elapsed = now - started
        tally.buckets[bisect.bisect_left(BUCKETS, elapsed)] += 1
        tally.count += 1
        tally.seconds += elapsed
        if self._timer is None:  # the first request: the event loop runs now
            self._timer = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self._tick)

    def _tick(self) -> None:
        """Flush every second, also when this worker gets no more requests."""
        if self._tallies:
            self.flush()
        self._timer = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self._tick)

    def flush(self) -> None:
        """Fold the tallies into the Prometheus values (the histogram child's own value cells)."""
        self._flushed = time.perf_counter()
        tallies, self._tallies = self._tallies, {}
        for (route, method, status), tally in tallies.items():
            histogram: Any = LATENCY.labels(route, method)
            histogram._sum.inc(tally.seconds)
            for index, count in enumerate(tally.buckets):
                if count:
                    histogram._buckets[index].inc(count)
            RESPONSES.labels(route, method, str(status)).inc(tally.count)


def exposition(metrics: RequestMetrics | None = None) -> tuple[bytes, str]:
    """The Prometheus text of every worker (multiprocess mode) or of this process."""
    if metrics is not None:
        metrics.flush()
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return generate_latest(registry), CONTENT_TYPE_LATEST
