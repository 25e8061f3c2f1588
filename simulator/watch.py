"""``/cosi.resource.State/Watch`` streams with Omni's semantics (omni-wire.md §2).

A stream validates its request, takes its snapshot and resume point synchronously (so nothing can slip
in between), sends the empty handshake, then bootstrap / tail / initial events, then live events read
from the kind's history. Each stream keeps a cursor into that history: nothing is copied per stream,
and a stream that falls further behind than its buffer gets ERRORED "buffer overrun" and goes silent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from omni_client.wire import state_pb2
from simulator import queries, wire
from simulator.errors import Abort
from simulator.faults import Faults
from simulator.resource import Res, tombstone
from simulator.store import Change, Collection, Store

# Namespaces Omni serves from its in-memory backend: tail_events works, no bookmark on a single
# resource's initial event.
INMEM_NAMESPACES = frozenset({"ephemeral", "meta"})

INVALID_BOOKMARK = "invalid watch bookmark"


class Watcher:
    """The wake-up and fault flags of one open stream."""

    __slots__ = ("type", "_event", "dropped", "error")

    def __init__(self, type_: str) -> None:
        self.type = type_
        self._event = asyncio.Event()
        self.dropped = False
        self.error: str | None = None

    def wake(self) -> None:
        self._event.set()

    async def wait(self) -> None:
        await self._event.wait()
        self._event.clear()

    def drop(self) -> None:
        self.dropped = True
        self.wake()

    def fail(self, message: str) -> None:
        if self.error is None:
            self.error = message
        self.wake()


Matcher = Callable[[Res], bool]


def _matcher(request: state_pb2.WatchRequest) -> Matcher | None:
    options = request.options
    try:
        by_labels = queries.compile_label_queries(options.label_query)
        by_id = queries.compile_id_query(options.id_query.regexp)
    except queries.QueryPanic as exc:
        raise Abort("INTERNAL", str(exc)) from None
    except queries.QueryError as exc:
        raise Abort("INVALID_ARGUMENT", str(exc)) from None
    if by_labels is None and by_id is None:
        return None
    if by_id is None:
        return lambda res: by_labels(res.labels)
    if by_labels is None:
        return lambda res: by_id(res.id)
    return lambda res: by_labels(res.labels) and by_id(res.id)


def render_change(change: Change, match: Matcher | None) -> bytes | None:
    """The event a kind watch sends for ``change``; membership rewriting when filtered (§2.3)."""
    if match is None:
        return change.event
    event_type = change.event_type
    if event_type != wire.UPDATED:
        return change.event if match(change.res) else None
    now_in, was_in = match(change.res), match(change.old)
    if now_in and was_in:
        return change.event
    if now_in:
        return wire.event(change.res.wire, wire.CREATED, bookmark=change.bookmark)
    if was_in:
        return wire.event(change.res.wire, wire.DESTROYED, bookmark=change.bookmark)
    return None


def _validate(request: state_pb2.WatchRequest) -> None:
    options = request.options
    has_bookmark = options.HasField("start_from_bookmark")
    if request.HasField("id"):
        if options.bootstrap_contents:
            raise Abort("UNIMPLEMENTED", "bootstrap contents is not implemented for resource watch")
        if len(options.label_query):
            raise Abort("UNIMPLEMENTED", "label query is not implemented for resource watch")
    if options.bootstrap_contents and has_bookmark:
        raise Abort("UNIMPLEMENTED", "bootstrap contents and start from bookmark are mutually exclusive")
    if options.bootstrap_contents and options.tail_events > 0:
        raise Abort("UNIMPLEMENTED", "bootstrap contents and tail events are mutually exclusive")
    if options.tail_events > 0 and has_bookmark:
        raise Abort("UNIMPLEMENTED", "tail events and start from bookmark are mutually exclusive")
    if options.tail_events > 0 and request.namespace not in INMEM_NAMESPACES:
        raise Abort("UNKNOWN", "operation tailEvents is not supported")


class WatchStream:
    """One Watch RPC. Iterate :meth:`messages` for the encoded ``WatchResponse`` messages; it raises
    :class:`Abort` to end the call with a status (before the handshake for a refused request)."""

    def __init__(self, store: Store, faults: Faults, request: state_pb2.WatchRequest) -> None:
        self.store = store
        self.faults = faults
        self.request = request
        self.watcher = Watcher(request.type)

    async def messages(self) -> AsyncIterator[bytes]:
        request, store = self.request, self.store
        _validate(request)
        match = _matcher(request)
        coll = store.collection(request.namespace, request.type)
        options = request.options
        cursor = coll.head
        if options.HasField("start_from_bookmark"):
            resumed = store.resolve_bookmark(coll, options.start_from_bookmark)
            if resumed is None:
                raise Abort("FAILED_PRECONDITION", INVALID_BOOKMARK)
            cursor = resumed
        # Everything up to the first yield runs without a suspension point: the snapshot, the resume
        # cursor and the subscription are one atomic step. Snapshot resources are encoded as they are
        # sent (their versions are immutable), the placeholders and their bookmarks right now.
        first: list[bytes | Res] = []
        single_id = request.id if request.HasField("id") else None
        if single_id is not None:
            cursor, first = self._single_start(coll, single_id, cursor)
            match = _id_matcher(single_id)
        else:
            cursor, first = self._kind_start(coll, match, cursor)
        store.subscribe(coll, self.watcher)
        try:
            yield b""  # the "watch is ready" handshake
            if first:
                if options.aggregated and single_id is None:
                    yield wire.watch_response(*map(_encoded, first))
                else:
                    for item in first:
                        self._check_dropped()
                        yield wire.watch_response(_encoded(item))
            async for message in self._live(coll, cursor, match, options.aggregated and single_id is None):
                yield message
        finally:
            store.unsubscribe(coll, self.watcher)

    def _kind_start(self, coll: Collection, match: Matcher | None,
                    cursor: int) -> tuple[int, list[bytes | Res]]:
        options = self.request.options
        events: list[bytes | Res] = []
        if options.tail_events > 0:
            start = max(coll.base, coll.head - options.tail_events)
            events = [ev for i in range(start, coll.head)
                      if (ev := render_change(coll.change_at(i), match)) is not None]
            return coll.head, events
        if options.bootstrap_contents:
            snapshot = coll.sorted_items()
            if match is not None:
                snapshot = [res for res in snapshot if match(res)]
            events = list(snapshot)
            if self.request.api_version >= 1:
                events.append(self._placeholder(wire.BOOTSTRAPPED, ""))
        elif options.bootstrap_bookmark:
            events.append(self._placeholder(wire.NOOP, ""))
        return cursor, events

    def _single_start(self, coll: Collection, id_: str, cursor: int) -> tuple[int, list[bytes | Res]]:
        options, store = self.request.options, self.store
        if options.HasField("start_from_bookmark"):
            return cursor, []
        if options.tail_events > 0:
            picked: list[Change] = []
            for i in range(coll.head - 1, coll.base - 1, -1):
                change = coll.change_at(i)
                if change.res.id == id_:
                    picked.append(change)
                    if len(picked) == options.tail_events:
                        break
            return coll.head, [change.event for change in reversed(picked)]
        current = coll.items.get(id_)
        bookmark = None if coll.namespace in INMEM_NAMESPACES else store.bookmark()
        if current is not None:
            return coll.head, [wire.event(current.wire, wire.CREATED, bookmark=bookmark)]
        placeholder = tombstone(coll.namespace, coll.type, id_, store.clock())
        return coll.head, [wire.event(placeholder, wire.DESTROYED, bookmark=bookmark)]

    def _placeholder(self, event_type: int, id_: str) -> bytes:
        store = self.store
        placeholder = tombstone(self.request.namespace, self.request.type, id_, store.clock())
        return wire.event(placeholder, event_type, bookmark=store.bookmark())

    def _check_dropped(self) -> None:
        if self.watcher.dropped:
            raise Abort("UNAVAILABLE", "stream dropped by the simulator")

    async def _live(self, coll: Collection, cursor: int, match: Matcher | None,
                    aggregated: bool) -> AsyncIterator[bytes]:
        watcher, faults = self.watcher, self.faults
        type_ = self.request.type
        while watcher.error is None:
            self._check_dropped()
            head = coll.head
            if cursor >= head:
                await watcher.wait()
                continue
            slow = faults.slow_consumer(type_) if faults.slow else None
            if cursor < coll.base or (slow is not None and head - cursor > slow.buffer):
                watcher.error = f'buffer overrun: namespace "{coll.namespace}" type "{coll.type}"'
                break
            if aggregated:
                events = [ev for i in range(cursor, head)
                          if (ev := render_change(coll.change_at(i), match)) is not None]
                cursor = head
                if events:
                    yield wire.watch_response(*events)
            else:
                change = coll.change_at(cursor)
                cursor += 1
                if match is None:
                    yield wire.watch_response(change.event)
                else:
                    event = render_change(change, match)
                    if event is None:
                        continue
                    yield wire.watch_response(event)
            if slow is not None and slow.delay:
                await asyncio.sleep(slow.delay)
        # ERRORED: one event (dropped below api_version 1), then the stream stays open and silent.
        if self.request.api_version >= 1:
            yield wire.watch_response(wire.event(None, wire.ERRORED, error=watcher.error))
        while True:
            self._check_dropped()
            await watcher.wait()


def _encoded(item: bytes | Res) -> bytes:
    """A prepared event, or a snapshot resource as its bootstrap CREATED event (no bookmark)."""
    return item if isinstance(item, bytes) else wire.event(item.wire, wire.CREATED)


def _id_matcher(id_: str) -> Matcher:
    return lambda res: res.id == id_
