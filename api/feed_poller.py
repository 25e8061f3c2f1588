"""The change feed's tail of the event log: one poller per worker, fanned out to its subscribers.

The poller re-reads the head revision (one indexed row, on the event loop) every ``interval``; when it
moved, it reads the new log rows ``(position, head]`` on a query thread and renders each one once
(``FeedEvent``), then offers it to every subscriber of this worker. The writer commits a batch's
revisions together with the head, so ``revision > position AND revision <= head`` is gap-free.
Workers share nothing: each follows the log on its own.

A subscriber owns a bounded queue. Offering to a full queue drops the subscriber (``overflowed``): it
is told the revision to resume from and closed, so one slow client never holds more than
``queue_events`` events of memory. The last ``queue_events`` events are kept (``recent``) so that a
client reconnecting with a recent ``Last-Event-ID`` catches up without a database read. The poller
runs only while the worker has subscribers.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from falcon.asgi import SSEvent

from api import selectors, served
from api.database import Database
from models import catalog, projections
from models.catalog import LABEL_CLUSTER
from models.resource import StoredResource
from models.schema import events

log = logging.getLogger(__name__)

READ_BATCH = 1000  # log rows per read: bounds one read's time and memory
_CLUSTER_IDS = {kind.stream_key for kind in catalog.KINDS if kind.ids in ("cluster id", "cluster name")}
_COLUMNS = [events.c[name] for name in ("revision", "event", "namespace", "type", "id", "version", "phase",
                                        "owner", "created", "updated", "labels", "annotations", "finalizers",
                                        "spec", "observed_at")]
_READ = (sa.select(*_COLUMNS)
         .where(events.c.revision > sa.bindparam("after"), events.c.revision <= sa.bindparam("upto"))
         .order_by(events.c.revision))


class FeedEvent:
    """One log row as the feed sends it: the JSON object (links as placeholders) rendered once, its
    framed bytes (SSE or ndjson) remembered per base URL."""

    __slots__ = ("revision", "event", "collection", "cluster", "labels", "data", "_frames")

    def __init__(self, revision: int, event: str, collection: str | None, cluster: str | None,
                 labels: dict[str, str], data: bytes) -> None:
        self.revision = revision
        self.event = event
        self.collection = collection
        self.cluster = cluster
        self.labels = labels
        self.data = data
        self._frames: dict[tuple[bytes, bool], bytes] = {}

    def frame(self, base_json: bytes, sse: bool) -> bytes:
        key = (base_json, sse)
        frame = self._frames.get(key)
        if frame is None:
            data = self.data.replace(projections.LINK.encode(), base_json)
            frame = (SSEvent(data=data, event=self.event, event_id=str(self.revision)).serialize() if sse
                     else data + b"\n")
            if len(self._frames) < 8:  # a few base URLs per worker in practice; never unbounded
                self._frames[key] = frame
        return frame


@dataclass(frozen=True, slots=True)
class Filter:
    """What a subscriber asked for: collections (empty: all, those without a collection included),
    a cluster, a label selector."""

    collections: frozenset[str] = frozenset()
    cluster: str | None = None
    requirements: tuple[selectors.Requirement, ...] = ()

    def matches(self, event: FeedEvent) -> bool:
        if self.collections and event.collection not in self.collections:
            return False
        if self.cluster is not None and event.cluster != self.cluster:
            return False
        return not self.requirements or selectors.matches(self.requirements, event.labels)

    @property
    def hides(self) -> bool:
        return bool(self.collections or self.cluster is not None or self.requirements)


class Subscriber:
    """One client of the feed: its filter, its bounded queue, how far the log has been offered to it."""

    def __init__(self, wanted: Filter, position: int, limit: int) -> None:
        self.filter = wanted
        self.position = position  # every revision up to here was offered (queued or filtered out)
        self.limit = limit
        self.queue: deque[FeedEvent] = deque()
        self.wake = asyncio.Event()
        self.overflowed = False
        self.closed = False

    def offer(self, event: FeedEvent) -> None:
        if event.revision <= self.position or self.overflowed or self.closed:
            return  # already read while catching up from the database
        self.position = event.revision
        if not self.filter.matches(event):
            return
        if len(self.queue) >= self.limit:
            self.overflowed = True
            self.queue.clear()  # the client resumes from what it was sent: free the backlog now
        else:
            self.queue.append(event)
        self.wake.set()

    def advance(self, position: int) -> None:
        """The log was read up to ``position`` (the rest of it was filtered out or not logged)."""
        self.position = max(self.position, position)

    def close(self) -> None:
        self.closed = True
        self.queue.clear()
        self.wake.set()


def _ignore(count: int) -> None:
    pass


def _nothing() -> None:
    pass


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)  # SQLite stores naive UTC


def _event(conn: sa.Connection, row: Any) -> FeedEvent:
    state = StoredResource(row.namespace, row.type, row.id, int(row.version), row.phase, row.owner,
                           _aware(row.created), _aware(row.updated), row.labels or {}, row.annotations or {},
                           row.finalizers or [], row.spec or {})
    collection = served.collection_of(row.namespace, row.type)
    document = served.document_at(conn, state, int(row.revision))
    head = json.dumps({"revision": int(row.revision), "observed_at": projections.rfc3339(_aware(row.observed_at)),
                       "collection": collection, "namespace": row.namespace, "type": row.type, "id": row.id,
                       "event": row.event}, separators=(",", ":"))
    data = f'{head[:-1]},"document":{document or "null"}}}'.encode()
    cluster = row.id if (row.namespace, row.type) in _CLUSTER_IDS else state.labels.get(LABEL_CLUSTER)
    return FeedEvent(int(row.revision), row.event, collection, cluster, state.labels, data)


def read_events(db: Database, after: int, upto: int) -> list[FeedEvent]:
    """Log rows ``(after, upto]``, rendered (blocking: on a query thread). At most ``READ_BATCH``."""
    upto = min(upto, after + READ_BATCH)

    def read(conn: sa.Connection) -> list[FeedEvent]:
        return [_event(conn, row) for row in conn.execute(_READ, {"after": after, "upto": upto})]

    return db.history(read)


class FeedPoller:
    """This worker's single reader of the log for the feed."""

    def __init__(self, db: Database, *, interval: float, queue_events: int, max_subscribers: int) -> None:
        self.db = db
        self.interval = interval
        self.queue_events = queue_events
        self.max_subscribers = max_subscribers
        self.subscribers: set[Subscriber] = set()
        self.clients = 0  # feed requests in progress (catching up or attached)
        self.position = 0  # every revision up to here was read and offered
        self.recent: deque[FeedEvent] = deque(maxlen=queue_events)
        self._kept_after = 0  # ``recent`` holds every event after this revision up to ``position``
        self._task: asyncio.Task | None = None
        self.on_clients: Callable[[int], None] = _ignore  # metrics hooks (api.feed_metrics)
        self.on_overflow: Callable[[], None] = _nothing

    @property
    def full(self) -> bool:
        return self.clients >= self.max_subscribers

    def register(self) -> None:
        """A feed request begins: keep the poller running (from the current head when it was idle)."""
        self.clients += 1
        self.on_clients(self.clients)
        if self._task is None or self._task.done():
            self.position = self._kept_after = self.db.head(fresh=True)
            self.recent.clear()
            self._task = asyncio.get_running_loop().create_task(self._follow(), name="feed-poller")

    def unregister(self, subscriber: Subscriber) -> None:
        """A feed request ended (however): forget it and its queue at once."""
        self.clients -= 1
        self.on_clients(self.clients)
        self.subscribers.discard(subscriber)
        subscriber.close()

    def attach(self, subscriber: Subscriber) -> None:
        """Offer every event after ``position`` to ``subscriber``, which has everything up to it."""
        if not subscriber.closed:
            self.subscribers.add(subscriber)

    def recent_after(self, cursor: int) -> Sequence[FeedEvent] | None:
        """The remembered events after ``cursor`` up to ``position``; None when they do not cover that
        range (read the database)."""
        if cursor >= self.position:
            return ()
        if cursor < self._kept_after:
            return None
        return [event for event in self.recent if event.revision > cursor]

    async def _follow(self) -> None:
        while self.clients > 0:
            await asyncio.sleep(self.interval)
            try:
                await self.poll()
            except Exception:  # an outage or a timeout: keep the subscribers, try again next tick
                log.warning("change feed: reading the log failed; retrying", exc_info=True)

    async def poll(self) -> None:
        head = self.db.head(fresh=True)
        while head > self.position and self.clients > 0:
            after = self.position
            batch = await self.db.run(read_events, self.db, after, head)
            self.publish(batch, min(head, after + READ_BATCH))

    def publish(self, batch: Sequence[FeedEvent], upto: int) -> None:
        """Offer ``batch`` (the log after ``position`` up to ``upto``) to every subscriber."""
        for event in batch:
            if len(self.recent) == self.recent.maxlen:
                self._kept_after = self.recent[0].revision
            self.recent.append(event)
            for subscriber in tuple(self.subscribers):
                subscriber.offer(event)
                if subscriber.overflowed:
                    self.subscribers.discard(subscriber)
                    self.on_overflow()
        self.position = max(self.position, upto)
        for subscriber in self.subscribers:
            subscriber.advance(self.position)
