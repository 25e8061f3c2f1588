"""``GET /api/v1/events``: the change feed, a resumable tail of the event log.

Each log row after ``since`` (or the ``Last-Event-ID`` header, which wins: browsers resend it with the
original URL) is one object ``{revision, observed_at, collection, namespace, type, id, event,
document}`` in strict revision order. ``collection`` is the API collection whose item document the
change changes and ``document`` that item route's document at the revision (``api.served``); both are
null for kinds no item route serves by id (metrics singletons and the like), which an unfiltered
client still receives so that its revisions have no gaps.

``Accept: text/event-stream`` answers Server-Sent Events (``id:`` the revision, ``event:`` the change,
a comment every ``heartbeat`` seconds, ``event: bookmark`` with the head revision at least every
``bookmark`` seconds while filters hide events); anything else ``application/x-ndjson``, ending at the
head unless ``follow=true``. A request first catches up (from the poller's recent events, else from
the database in bounded reads on a query thread), then attaches to the worker's poller
(``api.feed_poller``) without a gap: the check and the attach run without yielding to the event loop.

The body is a ``resp.stream`` of pre-framed bytes (``falcon.asgi.SSEvent`` frames each event once per
worker) rather than ``resp.sse``: Falcon's SSE loop notices a disconnect only after its next send,
while a feed request must free its queue as soon as the client goes, so it watches the ASGI
``receive`` itself (``Entry`` hands it over in the scope).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from falcon.asgi import Request, Response, SSEvent

from api import params as qp
from api import problems, served
from api.database import Database
from api.feed_poller import READ_BATCH, FeedPoller, Filter, Subscriber, frames, last_revision
from api.routes import API
from models import history

PATH = API + "/events"
RECEIVE = "omni_readmodel.receive"  # the ASGI receive callable, put in the scope by ``api.app.Entry``
HEAD = "omni_readmodel.head"  # set by ``Entry`` on a HEAD request (answered as GET): no stream to follow
SSE = "text/event-stream"
NDJSON = "application/x-ndjson"
RETRY_AFTER = 5
BOOLEANS = {"true": True, "false": False}


class Gone(problems.Problem):
    """410: ``since`` is below the retention horizon; ``revision`` is the oldest one that answers."""

    def __init__(self, since: int, horizon: int) -> None:
        super().__init__(410, "pruned", "Gone",
                         f"history before revision {horizon} was pruned (the retention horizon); since={since} "
                         f"is older: relist (a collection, or ?at={horizon}) and follow from there",
                         parameter="since", headers={"X-Readmodel-Horizon": str(horizon)})
        self.revision = horizon

    def body(self, instance: str | None = None) -> bytes:
        document = json.loads(super().body(instance))
        document["revision"] = self.revision
        return json.dumps(document, separators=(",", ":")).encode()


def _position(params: dict[str, Any], last_event_id: str | None) -> int | None:
    """Where the client is: Last-Event-ID, else since (both checked whenever given)."""
    text = qp.single(params, "since")
    since = None if text is None else qp.integer(text)
    if text is not None and since is None:
        raise problems.bad_parameter("since", f"must be a revision: at most {qp.MAX_INTEGER_DIGITS} ASCII digits")
    if last_event_id is not None:
        value = qp.integer(last_event_id)
        if value is None:
            raise problems.bad_parameter("Last-Event-ID", "must be a revision this feed sent")
        return value
    return since


def _filter(params: dict[str, Any]) -> Filter:
    wanted = params.get("collection") or []
    wanted = [wanted] if isinstance(wanted, str) else wanted
    for name in wanted:
        if name not in served.NAMES:
            raise problems.bad_parameter("collection", f"{name[:64]!r} is not a collection of the feed (one of: "
                                         + ", ".join(served.NAMES) + ")")
    return Filter(frozenset(wanted), qp.filter_value(params, "cluster"), qp.selector(params))


def _follow(params: dict[str, Any]) -> bool:
    text = qp.single(params, "follow")
    if text is None:
        return False
    if text not in BOOLEANS:
        raise problems.bad_parameter("follow", "must be true or false")
    return BOOLEANS[text]


def _marker(kind: str, revision: int, sse: bool) -> bytes:
    """A bookmark or overflow: the revision to resume from."""
    data = json.dumps({"event": kind, "revision": revision}, separators=(",", ":"))
    return SSEvent(event=kind, event_id=str(revision), text=data).serialize() if sse else data.encode() + b"\n"


HEARTBEAT = SSEvent(comment="heartbeat").serialize()


class Events:
    """The responder of ``/api/v1/events``."""

    def __init__(self, api: Any, poller: FeedPoller, *, heartbeat: float, bookmark: float) -> None:
        self.api = api
        self.db: Database = api.db
        self.poller = poller
        self.heartbeat = heartbeat
        self.bookmark = bookmark

    async def on_get(self, req: Request, resp: Response) -> None:
        params = req.params
        qp.check_query_string(req.query_string)
        since = _position(params, req.get_header("Last-Event-ID"))
        wanted, follow = _filter(params), _follow(params)
        sse = SSE in (req.get_header("Accept") or "")
        if self.poller.full:
            raise problems.unavailable(f"this worker serves {self.poller.max_subscribers} feed clients already; "
                                       "retry later or on another worker", retry_after=RETRY_AFTER)
        head = self.db.head(fresh=True)
        if since is None:
            since = head
        else:
            horizon = await self.db.run(self.db.history, history.retention_horizon)
            if since < horizon:
                raise Gone(since, horizon)
        base = self.api.base(req).json
        receive = req.scope.get(RECEIVE)
        resp.content_type = SSE if sse else NDJSON
        resp.set_header("Cache-Control", "no-store")
        resp.set_header("X-Accel-Buffering", "no")  # proxies must pass events on at once
        resp.set_header("X-Readmodel-Revision", str(head))
        if req.scope.get(HEAD):
            resp.data = b""  # the headers of the stream, which would otherwise never end
            return
        self.poller.register(since)
        subscriber = Subscriber(wanted, since, self.poller.queue_events)
        resp.stream = self._stream(subscriber, receive, base, sse, None if follow or sse else head)

    async def _stream(self, subscriber: Subscriber, receive: Any, base: bytes, sse: bool,
                      end: int | None) -> AsyncIterator[bytes]:
        poller = self.poller
        watcher = asyncio.get_running_loop().create_task(_watch(receive, subscriber)) if receive else None
        state = _Sent(subscriber.position)
        try:
            if sse:
                yield b": subscribed\n\n"  # the headers and a first byte go out now
            async for chunk in self._catch_up(subscriber, base, sse, end, state):
                yield chunk
            if end is not None or subscriber.closed:
                return
            poller.attach(subscriber)
            async for chunk in self._live(subscriber, base, sse, state):
                yield chunk
        finally:
            if watcher is not None:
                watcher.cancel()
            poller.unregister(subscriber)

    async def _catch_up(self, subscriber: Subscriber, base: bytes, sse: bool, end: int | None,
                        state: _Sent) -> AsyncIterator[bytes]:
        """Everything after the subscriber's position up to ``end`` (or, following, up to the poller's
        position, which may move meanwhile), read in bounded steps."""
        poller, wanted = self.poller, subscriber.filter
        while not subscriber.closed:
            limit = poller.position if end is None else end
            cursor = subscriber.position
            if cursor >= limit:
                return
            batch: Any = poller.recent_after(cursor) if limit <= poller.position else None
            if batch is None:
                batch = await self.db.run(poller.reader.read, cursor, limit)
                upto = min(limit, cursor + READ_BATCH)
                horizon = await self.db.run(self.db.history, history.retention_horizon)
                if cursor < horizon:  # pruned while we read: the rest may have gaps; the client relists
                    return
            else:
                upto = limit
            matching = [event for event in batch if event.revision <= upto and wanted.matches(event)]
            subscriber.position = upto
            if matching:
                state.sent_at(matching[-1].revision)
                yield b"".join(event.frame(base, sse) for event in matching)
            elif end is None and wanted.hides and self._bookmark_due(state, upto):
                state.sent_at(upto)
                yield _marker("bookmark", upto, sse)

    def _bookmark_due(self, state: _Sent, position: int) -> bool:
        return position > state.revision and time.monotonic() - state.at >= self.bookmark

    async def _live(self, subscriber: Subscriber, base: bytes, sse: bool, state: _Sent) -> AsyncIterator[bytes]:
        """Whatever the poller queues, all of it per wake-up in one chunk; bookmarks, heartbeats."""
        while True:
            if subscriber.queue:
                chunks = subscriber.take()
                state.sent_at(last_revision(chunks[-1]))
                parts = [frames(chunk, base, sse) for chunk in chunks]
                yield parts[0] if len(parts) == 1 else b"".join(parts)
                continue
            if subscriber.closed:
                return
            if subscriber.overflowed:
                yield _marker("overflow", state.revision, sse)
                return
            now = time.monotonic()
            if self._bookmark_due(state, subscriber.position):
                state.sent_at(subscriber.position)
                yield _marker("bookmark", subscriber.position, sse)
                continue
            if now - state.at >= self.heartbeat:
                state.at = now
                yield HEARTBEAT if sse else _marker("bookmark", state.revision, sse)
                continue
            wait = min(self.heartbeat, self.bookmark) - (now - state.at)
            wake = subscriber.wake
            wake.clear()
            # a timer that sets the event, not asyncio.wait_for: no task per wake-up (200 subscribers
            # wake 20 times a second each)
            timer = asyncio.get_running_loop().call_later(max(0.01, wait), wake.set)
            try:
                await wake.wait()
            finally:
                timer.cancel()


class _Sent:
    """The last revision a client was sent (event, bookmark) and when anything was last sent."""

    __slots__ = ("revision", "at")

    def __init__(self, revision: int) -> None:
        self.revision = revision
        self.at = time.monotonic()

    def sent_at(self, revision: int) -> None:
        self.revision = revision
        self.at = time.monotonic()


async def _watch(receive: Any, subscriber: Subscriber) -> None:
    """Close the subscriber as soon as the client disconnects (frees its queue at once)."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            subscriber.close()
            return


def register(app: Any, api: Any, settings: Any) -> FeedPoller:
    """Add the feed route to ``app``; the worker's poller is returned (metrics, tests)."""
    poller = FeedPoller(api.db, interval=settings.feed_poll_seconds, queue_events=settings.feed_queue_events,
                        max_subscribers=settings.feed_max_subscribers)
    from api import feed_metrics  # prometheus_client: only in workers (see api.metrics)

    poller.on_clients, poller.on_overflow = feed_metrics.clients, feed_metrics.overflowed
    app.add_route(PATH, Events(api, poller, heartbeat=settings.feed_heartbeat_seconds,
                               bookmark=settings.feed_bookmark_seconds))
    return poller

