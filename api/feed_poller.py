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
from models import catalog, eventlog, projections
from models.catalog import LABEL_CLUSTER
from models.history import DESTROYED
from models.resource import StoredResource
from models.schema import blobs, events

log = logging.getLogger(__name__)

READ_BATCH = 1000  # log rows per read: bounds one read's time and memory
OUTAGE_PAUSE = 2.0  # seconds between reads at most while the database does not answer
_CLUSTER_IDS = {kind.stream_key for kind in catalog.KINDS if kind.ids in ("cluster id", "cluster name")}


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
        self.queue: deque[Batch | list[FeedEvent]] = deque()  # whole batches, or the events of one it wants
        self.queued = 0  # events in ``queue``
        self.wake = asyncio.Event()
        self.overflowed = False
        self.closed = False

    def offer(self, batch: Batch) -> None:
        """Queue what this subscriber wants of ``batch``: the batch itself when that is all of it (its
        frames are then joined once per worker, not per subscriber)."""
        events = batch.events
        if not events or self.overflowed or self.closed or events[-1].revision <= self.position:
            return
        chunk: Batch | list[FeedEvent] = batch
        if events[0].revision <= self.position:  # partly read while catching up from the database
            chunk = events = [event for event in events if event.revision > self.position]
        if self.filter.hides:
            matches = self.filter.matches
            chunk = events = [event for event in events if matches(event)]
        self.position = batch.events[-1].revision
        if not events:
            return
        if self.queued + len(events) > self.limit:
            self.overflowed = True
            self.queue.clear()  # the client resumes from what it was sent: free the backlog now
            self.queued = 0
        else:
            self.queue.append(chunk)
            self.queued += len(events)
        self.wake.set()

    def take(self) -> list[Batch | list[FeedEvent]]:
        chunks = list(self.queue)
        self.queue.clear()
        self.queued = 0
        return chunks

    def advance(self, position: int) -> None:
        """The log was read up to ``position`` (the rest of it was filtered out or not logged)."""
        self.position = max(self.position, position)

    def close(self) -> None:
        self.closed = True
        self.queue.clear()
        self.queued = 0
        self.wake.set()


class Batch:
    """The events of one poll, offered as one piece to every subscriber that wants all of them."""

    __slots__ = ("events", "_joined")

    def __init__(self, events: Sequence[FeedEvent]) -> None:
        self.events = events
        self._joined: dict[tuple[bytes, bool], bytes] = {}

    def joined(self, base_json: bytes, sse: bool) -> bytes:
        key = (base_json, sse)
        joined = self._joined.get(key)
        if joined is None:
            joined = b"".join(event.frame(base_json, sse) for event in self.events)
            if len(self._joined) < 4:
                self._joined[key] = joined
        return joined


def frames(chunk: Batch | Sequence[FeedEvent], base_json: bytes, sse: bool) -> bytes:
    if isinstance(chunk, Batch):
        return chunk.joined(base_json, sse)
    return b"".join(event.frame(base_json, sse) for event in chunk)


def last_revision(chunk: Batch | Sequence[FeedEvent]) -> int:
    return (chunk.events if isinstance(chunk, Batch) else chunk)[-1].revision


def _ignore(count: int) -> None:
    pass


def _nothing() -> None:
    pass


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value  # SQLite: text; PostgreSQL: decoded


def _time(value: Any) -> datetime | None:
    if isinstance(value, str):  # SQLite stores naive UTC text
        value = datetime.fromisoformat(value)
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _state(row: Sequence[Any], fetch: Callable[[str], Any]) -> StoredResource:
    """A resource from the state columns (``_STATE``) at the start of ``row``; ``fetch`` reads the blob
    members the log keeps apart (models/eventlog.py)."""
    spec = eventlog.resolve_spec(_json(row[11]) or {}, _json(row[12]), fetch)
    return StoredResource(row[0], row[1], row[2], int(row[3]), row[4], row[5], _time(row[6]), _time(row[7]),
                          _json(row[8]) or {}, _json(row[9]) or {}, _json(row[10]) or [], spec)


_STATE = [events.c[name] for name in ("namespace", "type", "id", "version", "phase", "owner", "created", "updated",
                                      "labels", "annotations", "finalizers", "spec", "spec_blobs")]
_AFTER_STATE = len(_STATE)  # the index of the first column after the state's


class LogReader:
    """Reads and renders log rows with statements compiled once, on the driver (``Database.all``/``one``):
    rendering a joined document looks other resources up by key, which through SQLAlchemy statements
    built per call costs more than the render itself."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._rows = db.compile(
            sa.select(*_STATE, events.c.revision, events.c.event, events.c.observed_at)
            .where(events.c.revision > sa.bindparam("after"), events.c.revision <= sa.bindparam("upto"))
            .order_by(events.c.revision))
        self._lookup = db.compile(
            sa.select(*_STATE, events.c.event)
            .where(events.c.namespace == sa.bindparam("namespace"), events.c.type == sa.bindparam("type"),
                   events.c.id == sa.bindparam("id"), events.c.revision <= sa.bindparam("revision"))
            .order_by(events.c.revision.desc()).limit(1))
        self._blob = db.compile(sa.select(blobs.c.data, blobs.c.base).where(blobs.c.digest == sa.bindparam("digest")))

    def _blobs(self) -> eventlog.BlobReader:
        """Blob members for one read's rows, fetched once each on the driver."""
        return eventlog.BlobReader(lambda digest: self.db.one(self._blob, {"digest": digest}))

    def read(self, after: int, upto: int) -> list[FeedEvent]:
        """Log rows ``(after, upto]``, at most ``READ_BATCH``, rendered (blocking: on a query thread)."""
        upto = min(upto, after + READ_BATCH)
        blobs = self._blobs()
        return [self._event(row, blobs) for row in self.db.all(self._rows, {"after": after, "upto": upto})]

    def _at(self, revision: int, blobs: eventlog.BlobReader) -> Any:
        def lookup(namespace: str, type_: str, id_: str) -> StoredResource | None:
            row = self.db.one(self._lookup, {"namespace": namespace, "type": type_, "id": id_, "revision": revision})
            return None if row is None or row[_AFTER_STATE] == DESTROYED else _state(row, blobs)
        return lookup

    def _event(self, row: Sequence[Any], blobs: eventlog.BlobReader) -> FeedEvent:
        state = _state(row, blobs)
        revision, event = int(row[_AFTER_STATE]), row[_AFTER_STATE + 1]
        collection = served.collection_of(state.namespace, state.type)
        document = served.document_at(state, self._at(revision, blobs)) if collection else None
        head = json.dumps({"revision": revision, "observed_at": projections.rfc3339(_time(row[_AFTER_STATE + 2])),
                           "collection": collection, "namespace": state.namespace, "type": state.type,
                           "id": state.id, "event": event}, separators=(",", ":"))
        data = f'{head[:-1]},"document":{document or "null"}}}'.encode()
        key = (state.namespace, state.type)
        cluster = state.id if key in _CLUSTER_IDS else state.labels.get(LABEL_CLUSTER)
        return FeedEvent(revision, event, collection, cluster, state.labels, data)


class FeedPoller:
    """This worker's single reader of the log for the feed."""

    def __init__(self, db: Database, *, interval: float, queue_events: int, max_subscribers: int) -> None:
        self.db = db
        self.interval = interval
        self.queue_events = queue_events
        self.max_subscribers = max_subscribers
        self.reader = LogReader(db)
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

    def register(self, since: int) -> None:
        """A feed request for the revisions after ``since`` begins: keep the poller running. An idle poller
        starts from ``since`` when that is within ``queue_events`` of the head (so the clients that
        reconnect together after a restart catch up from ``recent``, rendered once), else from the head."""
        self.clients += 1
        self.on_clients(self.clients)
        if self._task is None or self._task.done():
            head = self.db.head(fresh=True)
            self.position = self._kept_after = since if head - self.queue_events <= since <= head else head
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
        pause = self.interval
        while self.clients > 0:
            await asyncio.sleep(pause)
            try:
                await self.poll()
                pause = self.interval
            except Exception:  # an outage or a timeout: keep the subscribers, try again a little later
                log.warning("change feed: reading the log failed; retrying", exc_info=True)
                pause = min(max(pause * 2, self.interval), OUTAGE_PAUSE)

    async def poll(self) -> None:
        head = self.db.head(fresh=True)
        while head > self.position and self.clients > 0:
            after = self.position
            batch = await self.db.run(self.reader.read, after, head)
            self.publish(batch, min(head, after + READ_BATCH))

    def publish(self, events: Sequence[FeedEvent], upto: int) -> None:
        """Offer ``events`` (the log after ``position`` up to ``upto``) to every subscriber."""
        if events:
            if len(self.recent) + len(events) > (self.recent.maxlen or 0):
                dropped = len(self.recent) + len(events) - (self.recent.maxlen or 0)
                self._kept_after = (self.recent[dropped - 1].revision if dropped <= len(self.recent)
                                    else events[dropped - len(self.recent) - 1].revision)
            self.recent.extend(events)
            batch = Batch(events)
            for subscriber in tuple(self.subscribers):
                subscriber.offer(batch)
                if subscriber.overflowed:
                    self.subscribers.discard(subscriber)
                    self.on_overflow()
        self.position = max(self.position, upto)
        for subscriber in self.subscribers:
            subscriber.advance(self.position)
