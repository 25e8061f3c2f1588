"""One kind-watch stream on ``/cosi.resource.State/Watch``, as a task on the watcher's event loop.

Bootstrap (``bootstrap_contents=true``): the snapshot's CREATEDs go to the writer as they arrive, the
ids seen are kept, and BOOTSTRAPPED hands them over for the sweep together with the bookmark. Resume
(``start_from_bookmark``, ``bootstrap_contents=false``) after any failure; re-bootstrap when the
bookmark is refused (FailedPrecondition), on ERRORED, or when there is no bookmark. omni-wire.md §2, §6.
"""

from __future__ import annotations

import asyncio
import logging

import grpc

from models.catalog import Kind
from omni_client.wire import state_pb2, state_pb2_grpc
from watcher.backoff import Backoff, BackoffPolicy
from watcher.decode import Decoded, Decoder, PoisonError
from watcher.inbox import Inbox
from watcher.items import Bookmark, Bootstrapped, BootstrapStarted, Change, Poison, StreamNote

log = logging.getLogger(__name__)

CREATED, UPDATED, DESTROYED = state_pb2.CREATED, state_pb2.UPDATED, state_pb2.DESTROYED
BOOTSTRAPPED, ERRORED, NOOP = state_pb2.BOOTSTRAPPED, state_pb2.ERRORED, state_pb2.NOOP
_EVENT_NAMES = {CREATED: "created", UPDATED: "updated", DESTROYED: "destroyed"}


class _Rebootstrap(Exception):
    """The bookmark is useless: start over with a full snapshot."""


def describe(exc: grpc.RpcError) -> str:
    code = exc.code() if hasattr(exc, "code") else None
    details = exc.details() if hasattr(exc, "details") else str(exc)
    return f"{getattr(code, 'name', code)}: {details}"


class KindStream:
    """Follows one (namespace, type) for the life of the watcher."""

    def __init__(self, kind: Kind, stub: state_pb2_grpc.StateStub, decoder: Decoder, inbox: Inbox,
                 bookmark: bytes | None, bootstrapped_before: bool, policy: BackoffPolicy) -> None:
        self.kind = kind
        self.key = kind.stream_key
        self._stub = stub
        self._decoder = decoder
        self._inbox = inbox
        self._backoff = Backoff(policy)
        # Read by the progress display.
        self.bookmark = bookmark
        self.bootstrapped_before = bootstrapped_before
        self.state = "starting"
        self.snapshot_count = 0

    async def run(self) -> None:
        try:
            while True:
                error = await self._session_error()
                log.warning("watch %s failed: %s", self.kind.name, error)
                await self._inbox.put(StreamNote(self.key, error=error))
                self.state = "backoff"
                await asyncio.sleep(self._backoff.next_delay())
                await self._inbox.put(StreamNote(self.key, reconnect=True))
        finally:
            self.state = "stopped"

    async def _session_error(self) -> str:
        """Run one Watch call until it fails; return why."""
        try:
            await self._session()
            return "stream ended"
        except _Rebootstrap as exc:
            self.bookmark = None
            return str(exc)
        except grpc.RpcError as exc:
            return describe(exc)

    def _request(self, bookmark: bytes | None) -> state_pb2.WatchRequest:
        request = state_pb2.WatchRequest(namespace=self.key[0], type=self.key[1], api_version=1)
        if bookmark is None:
            request.options.bootstrap_contents = True
        else:
            request.options.start_from_bookmark = bookmark
        return request  # `id` stays unset: a kind watch

    async def _session(self) -> None:
        resume = self.bookmark is not None
        call = self._stub.Watch(self._request(self.bookmark))
        responses = call.__aiter__()
        try:
            try:
                handshake = await responses.__anext__()  # the empty "watch is ready" message
            except StopAsyncIteration:
                return
            except grpc.RpcError as exc:
                if resume and exc.code() == grpc.StatusCode.FAILED_PRECONDITION:
                    raise _Rebootstrap(f"bookmark refused ({exc.details()}): re-bootstrapping") from None
                raise
            self._backoff.connected()
            if resume:
                self.state = "live"
                seen = None
            else:
                self.state = "bootstrapping"
                self.snapshot_count = 0
                await self._inbox.put(BootstrapStarted(self.key, rebootstrap=self.bootstrapped_before))
                seen = set()
            if handshake.event:  # not expected, but never drop events
                seen = await self._events(handshake, seen)
            async for response in responses:
                seen = await self._events(response, seen)
        finally:
            call.cancel()

    async def _events(self, response: state_pb2.WatchResponse, seen: set[str] | None) -> set[str] | None:
        """Hand one message's events to the writer. ``seen`` collects snapshot ids until BOOTSTRAPPED
        (None once live); the new value is returned."""
        inbox = self._inbox
        key = self.key
        for event in response.event:
            kind = event.event_type
            # Inside a snapshot only BOOTSTRAPPED's bookmark counts: it marks the snapshot complete.
            bookmark = event.bookmark if event.HasField("bookmark") and (
                seen is None or kind == BOOTSTRAPPED) else None
            if kind in _EVENT_NAMES:
                try:
                    res = self._decoder.decode(event.resource)
                except Exception as exc:  # noqa: BLE001 - any undecodable spec is poison, never fatal
                    if not isinstance(exc, PoisonError):
                        exc = PoisonError(f"{type(exc).__name__}: {exc}")
                    md = event.resource.metadata
                    if seen is not None:
                        seen.add(md.id)  # present, only undecodable: not to be swept
                    if kind == DESTROYED:
                        # The spec is not needed to apply a delete: record the poison, apply the delete.
                        await inbox.put(Poison(key, md.id, md.version, "destroyed", str(exc),
                                               event.resource.spec.proto_spec, None))
                        await inbox.put(Change(key, Decoded.metadata_only(event.resource), True, bookmark,
                                               seen is None))
                    else:
                        await inbox.put(Poison(key, md.id, md.version, _EVENT_NAMES[kind], str(exc),
                                               event.resource.spec.proto_spec, bookmark))
                else:
                    if seen is not None:
                        seen.add(res.id)
                        self.snapshot_count += 1
                    change = Change(key, res, kind == DESTROYED, bookmark, seen is None)
                    if len(inbox) < inbox.limit:
                        inbox.put_nowait(change)  # the hot path: no coroutine per event
                    else:
                        await inbox.put(change)
                if bookmark is not None:
                    self.bookmark = bookmark
            elif kind == BOOTSTRAPPED:
                if seen is None:  # not expected outside a snapshot: never sweep on it
                    if bookmark is not None:
                        await inbox.put(Bookmark(key, bookmark))
                        self.bookmark = bookmark
                    continue
                await inbox.put(Bootstrapped(key, seen, bookmark))
                self.bookmark = bookmark
                self.bootstrapped_before = True
                self.state = "live"
                seen = None
            elif kind == ERRORED:
                raise _Rebootstrap(f"ERRORED event: {event.error}")
            elif kind == NOOP and bookmark is not None:
                await inbox.put(Bookmark(key, bookmark))
                self.bookmark = bookmark
        return seen
