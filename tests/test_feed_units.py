"""The change feed's fan-out in isolation (no database, no server): what a subscriber queues from a
batch, overflow, the poller's recent window, the served-collection table."""

from __future__ import annotations

import asyncio
from pathlib import Path

from api import selectors, served
from api.database import Database
from api.feed_poller import Batch, FeedEvent, FeedPoller, Filter, Subscriber, frames
from models import catalog

BASE = b'"http://x"'


def event(revision: int, collection: str | None = "machines", cluster: str | None = None,
          labels: dict | None = None) -> FeedEvent:
    data = b'{"revision":%d,"document":{"self":"@@LINK@@/m"}}' % revision
    return FeedEvent(revision, "updated", collection, cluster, labels or {}, data)


def test_a_subscriber_wanting_all_of_a_batch_queues_the_batch_itself() -> None:
    async def go() -> None:
        subscriber = Subscriber(Filter(), 2, limit=10)
        batch = Batch([event(1), event(2), event(3), event(4)])  # 1 and 2 it already has
        subscriber.offer(batch)
        (chunk,) = subscriber.take()
        assert [e.revision for e in chunk] == [3, 4] and subscriber.position == 4
        whole = Batch([event(5), event(6)])
        subscriber.offer(whole)
        (chunk,) = subscriber.take()
        assert chunk is whole
        assert frames(chunk, BASE, False) == whole.joined(BASE, False)  # joined once, shared
    asyncio.run(go())


def test_filters_and_positions() -> None:
    async def go() -> None:
        wanted = Filter(frozenset({"clusters"}), "c1")
        subscriber = Subscriber(wanted, 0, limit=10)
        subscriber.offer(Batch([event(1, "clusters", "c1"), event(2, "clusters", "c2"), event(3, None, "c1")]))
        assert [[e.revision for e in chunk] for chunk in subscriber.take()] == [[1]]
        assert subscriber.position == 3  # every revision was offered, the hidden ones included
        labelled = Subscriber(Filter(requirements=selectors.parse("a=b")), 0, 10)
        labelled.offer(Batch([event(1, labels={"a": "b"}), event(2, labels={"a": "c"})]))
        assert [[e.revision for e in chunk] for chunk in labelled.take()] == [[1]]
    asyncio.run(go())


def test_overflow_frees_the_queue_and_stops_queueing() -> None:
    async def go() -> None:
        subscriber = Subscriber(Filter(), 0, limit=3)
        subscriber.offer(Batch([event(1), event(2)]))
        subscriber.offer(Batch([event(3), event(4)]))
        assert subscriber.overflowed and not subscriber.queue and subscriber.queued == 0
        subscriber.offer(Batch([event(5)]))
        assert not subscriber.queue
    asyncio.run(go())


def test_the_recent_window_covers_what_it_claims(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'never-opened.db'}")  # statements compile; nothing is read
    poller = FeedPoller(db, interval=1, queue_events=3, max_subscribers=5)
    poller.position = poller._kept_after = 10
    poller.publish([event(11), event(12)], 12)
    assert [e.revision for e in poller.recent_after(10)] == [11, 12]
    poller.publish([event(13), event(15)], 15)  # 14 not logged (pruned); 11 leaves: the window is (11, 15]
    assert poller.recent_after(10) is None  # 11 is no longer remembered: read the database
    assert [e.revision for e in poller.recent_after(11)] == [12, 13, 15]
    assert [e.revision for e in poller.recent_after(13)] == [15]
    assert poller.recent_after(15) == ()


def test_served_collections() -> None:
    machine_status = catalog.by_name("MachineStatus")
    assert served.collection_of(*machine_status.stream_key) == "machines"
    assert served.collection_of(*catalog.by_name("ClusterStatus").stream_key) == "clusters/status"
    assert served.collection_of(*catalog.by_name("ControlPlaneStatus").stream_key) == "clusters/controlplane-status"
    assert served.collection_of(*catalog.by_name("ClusterMetrics").stream_key) is None  # a singleton
    assert "machines/status" not in served.NAMES  # the deprecated alias
