"""Prometheus metrics of the change feed (imported by ``api.feed.register``, in workers only: see
``api.metrics`` on why prometheus_client is imported late)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

SUBSCRIBERS = Gauge("omni_readmodel_api_feed_subscribers", "Change feed clients connected to /api/v1/events.",
                    multiprocess_mode="livesum")
OVERFLOWS = Counter("omni_readmodel_api_feed_overflows_total",
                    "Change feed clients closed with `overflow` because they fell --feed-queue-events behind.")


def clients(count: int) -> None:
    SUBSCRIBERS.set(count)


def overflowed() -> None:
    OVERFLOWS.inc()
