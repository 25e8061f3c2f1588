"""Prometheus metrics of the watcher (served on ``--metrics-port``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

PREFIX = "omni_readmodel_watcher_"

EVENTS_APPLIED = Counter(PREFIX + "events_applied_total", "Events appended to the event log",
                         ["kind", "event"])
BATCH_SECONDS = Histogram(PREFIX + "batch_seconds", "Time to apply and commit one batch",
                          buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
BATCH_ITEMS = Histogram(PREFIX + "batch_items", "Queued items per batch",
                        buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000))
LAG_SECONDS = Gauge(PREFIX + "lag_seconds",
                    "Seconds between the last applied live event's update time in Omni and its commit here")
EVENT_LAG = Histogram(PREFIX + "event_lag_seconds", "Update time in Omni to commit here, live events",
                      buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
RECONNECTS = Counter(PREFIX + "reconnects_total", "Watch streams re-established after a failure", ["kind"])
REBOOTSTRAPS = Counter(PREFIX + "rebootstraps_total", "Full re-bootstraps of a kind", ["kind"])
POISON_EVENTS = Counter(PREFIX + "poison_events_total", "Events recorded as poison and skipped", ["kind"])
PROJECTION_ERRORS = Counter(PREFIX + "projection_errors_total",
                            "Documents that could not be rendered (stored without one)", ["kind"])
HEAD_REVISION = Gauge(PREFIX + "head_revision", "Last committed event-log revision")
STREAMS_BOOTSTRAPPED = Gauge(PREFIX + "streams_bootstrapped", "Kinds whose snapshot is complete")
STREAMS_TOTAL = Gauge(PREFIX + "streams", "Kinds this watcher follows")
PRUNED_EVENTS = Counter(PREFIX + "pruned_events_total", "Events removed by --retention (watcher/pruner.py)")
LEADER = Gauge(PREFIX + "leader", "1 while this process holds the writer lock")


def serve(port: int, addr: str = "0.0.0.0") -> None:  # noqa: S104 - scrape endpoint, port chosen by operator
    """Serve /metrics on ``port`` from a daemon thread."""
    start_http_server(port, addr=addr)
