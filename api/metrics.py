"""Prometheus metrics of the API: request latency per route template, responses by status, requests in
flight, database errors by kind, the head revision and how long ago the watcher last committed, and the
standard process metrics of every worker.

With several uvicorn workers the values live in ``PROMETHEUS_MULTIPROC_DIR`` (``serve`` creates and
cleans it) and ``/metrics`` aggregates every worker's files; without that variable (one in-process app,
tests) the default registry is used. prometheus_client reads the variable when it is imported, so this
module must be imported after ``serve`` has set it.

Requests are tallied in plain Python first and folded into the Prometheus values once a second (a timer on
the worker's event loop) and whenever this worker answers ``/metrics``: a multiprocess value update takes
a lock and writes an mmap, several of them per observation, which costs more than serving a small
document. Another worker's figures can therefore lag by up to a second. The head revision and commit
lag are read from the database when ``/metrics`` is answered. In multiprocess mode prometheus_client
exports no process metrics, so each worker copies its own into per-pid gauges every second.
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
    Gauge,
    Histogram,
    ProcessCollector,
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
IN_FLIGHT = Gauge("omni_readmodel_api_requests_in_flight", "Requests being answered (sampled every second).",
                  multiprocess_mode="livesum")
DATABASE_ERRORS = Counter("omni_readmodel_api_database_errors_total",
                          "Database errors by kind: unreachable (503), timeout (503, query cancelled), error (500).",
                          ["kind"])
QUERY_THREADS_BUSY = Gauge("omni_readmodel_api_query_threads_busy",
                           "Query threads running a read now (list pages, at= reads); at --query-threads "
                           "the worker is saturated.", multiprocess_mode="livesum")
HEAD_REVISION = Gauge("omni_readmodel_api_head_revision", "The newest revision the API can read.",
                      multiprocess_mode="livemax")
LAST_COMMIT = Gauge("omni_readmodel_api_last_commit_timestamp_seconds",
                    "When the watcher made its last commit visible to the API (Unix time).",
                    multiprocess_mode="livemax")
COMMIT_LAG = Gauge("omni_readmodel_api_commit_lag_seconds",
                   "Seconds since the watcher's last commit visible to the API (grows while nothing changes, "
                   "or when the watcher or replication stalls).", multiprocess_mode="livemostrecent")
DATABASE_ERROR_KINDS = ("unreachable", "timeout", "error")
for _kind in DATABASE_ERROR_KINDS:
    DATABASE_ERRORS.labels(_kind)  # exported as 0 from the start
_PROCESS = ProcessCollector(registry=None)
_process_gauges: dict[str, Gauge] = {}


class DatabaseMetrics:
    """The database's observer (``api.database.Observer``); called from query threads too."""

    def error(self, kind: str) -> None:
        DATABASE_ERRORS.labels(kind).inc()

    def busy(self, delta: int) -> None:
        QUERY_THREADS_BUSY.inc(delta)


def commit_state(head: int, last_commit: float | None) -> None:
    """Record what the database says about the watcher (read when /metrics is answered)."""
    HEAD_REVISION.set(head)
    if last_commit is not None:
        LAST_COMMIT.set(last_commit)
        COMMIT_LAG.set(max(0.0, time.time() - last_commit))


def _copy_process_metrics() -> None:
    """Multiprocess mode only: this worker's process_* samples as per-pid gauges."""
    for family in _PROCESS.collect():
        for sample in family.samples:
            gauge = _process_gauges.get(sample.name)
            if gauge is None:
                gauge = _process_gauges[sample.name] = Gauge(sample.name, family.documentation,
                                                             multiprocess_mode="liveall", registry=None)
            gauge.set(sample.value)


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
        self.in_flight = 0  # counted by the ASGI entry
        self._flushed = time.perf_counter()
        self._timer: asyncio.TimerHandle | None = None

    async def process_response(self, req: Request, resp: Response, resource: object, req_succeeded: bool) -> None:
        started = req.scope.get(STARTED)
        if started is None:
            return
        self.record(req.uri_template or UNMATCHED, req.method, resp.status_code, started)

    def record(self, template: str, method: str, status: int, started: float) -> None:
        """Tally one answered request (``started``: its perf_counter() on arrival)."""
        now = time.perf_counter()
        key = (template, method, status)
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
        self.flush()
        self._timer = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self._tick)

    def flush(self) -> None:
        """Fold the tallies into the Prometheus values (the histogram child's own value cells)."""
        self._flushed = time.perf_counter()
        IN_FLIGHT.set(self.in_flight)
        if os.environ.get(MULTIPROC_ENV):
            _copy_process_metrics()
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
