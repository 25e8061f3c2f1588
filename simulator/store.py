"""In-memory state: resources per (namespace, type), per-resource versions, a bounded event history per
kind, bookmarks, and the hooks that wake watch streams.

Every committed change gets the next global position; a bookmark is ``cookie(8) + position(8, big
endian)``. The cookie is random per process (and per simulated restart), so a restart invalidates every
bookmark. Each kind keeps the last ``history`` changes; a bookmark whose successors were evicted is
refused. All mutation happens on the event loop's thread (the server, churn and control surface share it).
"""

from __future__ import annotations

import bisect
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from google.protobuf.message import Message

from simulator import wire
from simulator.errors import Abort
from simulator.resource import RUNNING, TEARING_DOWN, Res

DEFAULT_HISTORY = 10_000  # events kept per kind, like Omni's in-memory history


class Waker(Protocol):
    type: str

    def wake(self) -> None: ...


class Change:
    """One committed event of a kind's history. Its encoding is not cached: the resource bytes inside
    it are (per version), and building the event around them is a cheap concatenation."""

    __slots__ = ("pos", "event_type", "res", "old", "bookmark")

    def __init__(self, pos: int, event_type: int, res: Res, old: Res | None, bookmark: bytes) -> None:
        self.pos = pos
        self.event_type = event_type
        self.res = res
        self.old = old
        self.bookmark = bookmark

    @property
    def event(self) -> bytes:
        """The encoded ``Event`` as an unfiltered kind watch sends it."""
        old = self.old.wire if self.old is not None else None
        return wire.event(self.res.wire, self.event_type, old, bookmark=self.bookmark)


class Collection:
    """The resources of one (namespace, type) and its recent history."""

    def __init__(self, namespace: str, type_: str, history: int) -> None:
        self.namespace = namespace
        self.type = type_
        self.history = history
        self.items: dict[str, Res] = {}
        self.log: list[Change] = []
        self.base = 0  # absolute index of log[0]
        self.evicted_pos = 0  # position of the newest evicted change
        self.watchers: set[Waker] = set()
        self._sorted_ids: list[str] | None = None

    @property
    def head(self) -> int:
        """Absolute index one past the newest change."""
        return self.base + len(self.log)

    def change_at(self, index: int) -> Change:
        return self.log[index - self.base]

    def index_after(self, position: int) -> int:
        """Absolute index of the first change whose position is greater than ``position``."""
        return self.base + bisect.bisect_right(self.log, position, key=lambda change: change.pos)

    def sorted_items(self) -> list[Res]:
        ids = self._sorted_ids
        if ids is None:
            ids = self._sorted_ids = sorted(self.items)
        items = self.items
        return [items[id_] for id_ in ids]

    def _append(self, change: Change) -> None:
        self.log.append(change)
        excess = len(self.log) - self.history
        if excess > max(64, self.history // 8):  # trim in chunks, not per event
            self.evicted_pos = self.log[excess - 1].pos
            del self.log[:excess]
            self.base += excess
        for watcher in self.watchers:
            watcher.wake()

    def _clear_history(self, position: int) -> None:
        self.base = self.head
        self.log.clear()
        self.evicted_pos = position


def successor(old: Res, clock: Callable[[], int], *, spec: Message | bytes | None = None,
              labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None,
              phase: str | None = None, finalizers: Iterable[str] | None = None, owner: str | None = None,
              yaml: str | None = None, force: bool = False) -> Res | None:
    """The next version of ``old`` with the given values changed; None when nothing changes (unless
    ``force``), as COSI's Modify does not write a no-op update."""
    new_spec = old.spec if spec is None else spec
    new_labels = old.labels if labels is None else labels
    new_annotations = old.annotations if annotations is None else annotations
    new_phase = old.phase if phase is None else phase
    new_finalizers = old.finalizers if finalizers is None else tuple(finalizers)
    new_owner = old.owner if owner is None else owner
    if not force and (new_spec == old.spec and new_labels == old.labels and new_phase == old.phase
                      and new_annotations == old.annotations and new_finalizers == old.finalizers
                      and new_owner == old.owner and yaml is None):
        return None
    version = None if old.version is None else old.version + 1
    return Res(old.namespace, old.type, old.id, version, new_spec, owner=new_owner, phase=new_phase,
               created=old.created, updated=clock(), finalizers=new_finalizers,
               labels=dict(new_labels), annotations=dict(new_annotations),
               yaml=old.yaml if yaml is None else yaml)


class Teardown:
    """Deletion the way Omni's controllers do it, on top of a store's get/update/destroy."""

    def teardown(self, namespace: str, type_: str, id_: str) -> Res:
        res = self.get(namespace, type_, id_)
        if res is None:
            raise Abort("NOT_FOUND", f"resource {type_}({namespace}/{id_}) doesn't exist")
        return self.update(res, phase=TEARING_DOWN)

    def remove(self, namespace: str, type_: str, id_: str) -> bool:
        """Phase tearingDown, finalizers dropped one by one, then DESTROYED. False if absent."""
        res = self.get(namespace, type_, id_)
        if res is None:
            return False
        res = self.update(res, phase=TEARING_DOWN)
        while res.finalizers:
            res = self.update(res, finalizers=res.finalizers[1:])
        self.destroy(namespace, type_, id_)
        return True


class Store(Teardown):
    """The simulator's whole state."""

    def __init__(self, *, history: int = DEFAULT_HISTORY, clock: Callable[[], int] = time.time_ns,
                 cookie: bytes | None = None) -> None:
        self.history = history
        self.clock = clock
        self.cookie = cookie or os.urandom(8)
        self.position = 0
        self.collections: dict[tuple[str, str], Collection] = {}
        self.watchers: set[Waker] = set()

    # -- reading ---------------------------------------------------------------------------------

    def collection(self, namespace: str, type_: str) -> Collection:
        key = (namespace, type_)
        coll = self.collections.get(key)
        if coll is None:
            coll = self.collections[key] = Collection(namespace, type_, self.history)
        return coll

    def get(self, namespace: str, type_: str, id_: str) -> Res | None:
        coll = self.collections.get((namespace, type_))
        return coll.items.get(id_) if coll else None

    def items(self, namespace: str, type_: str) -> Iterable[Res]:
        coll = self.collections.get((namespace, type_))
        return coll.items.values() if coll else ()

    def count(self, namespace: str, type_: str) -> int:
        coll = self.collections.get((namespace, type_))
        return len(coll.items) if coll else 0

    def all_resources(self) -> Iterator[Res]:
        for coll in self.collections.values():
            yield from coll.items.values()

    def bookmark(self, position: int | None = None) -> bytes:
        return wire.make_bookmark(self.cookie, self.position if position is None else position)

    def resolve_bookmark(self, coll: Collection, bookmark: bytes) -> int | None:
        """The absolute log index to resume from, or None if this bookmark cannot be honoured."""
        parsed = wire.parse_bookmark(bookmark)
        if parsed is None:
            return None
        cookie, position = parsed
        if cookie != self.cookie or position > self.position or position < coll.evicted_pos:
            return None
        return coll.index_after(position)

    # -- writing ---------------------------------------------------------------------------------

    def load(self, res: Res) -> None:
        """Put a resource in place without an event (initial fleet, before anyone watches)."""
        coll = self.collection(res.namespace, res.type)
        if res.id not in coll.items:
            coll._sorted_ids = None
        coll.items[res.id] = res

    def _commit(self, coll: Collection, event_type: int, res: Res, old: Res | None) -> Change:
        self.position += 1
        change = Change(self.position, event_type, res, old, wire.make_bookmark(self.cookie, self.position))
        coll._append(change)
        return change

    def create(self, namespace: str, type_: str, id_: str, spec: Message | bytes, *, owner: str = "",
               labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None,
               finalizers: Iterable[str] = (), phase: str = RUNNING, yaml: str | None = None,
               version: int | None = 1) -> Res:
        """Create a resource (version 1, or None for the ``undefined`` version of synthetic kinds)."""
        coll = self.collection(namespace, type_)
        if id_ in coll.items:
            raise Abort("ALREADY_EXISTS",
                             f'resource {type_}({namespace}/{id_}) already exists')
        now = self.clock()
        res = Res(namespace, type_, id_, version, spec, owner=owner, phase=phase, created=now, updated=now,
                  finalizers=tuple(finalizers), labels=dict(labels or {}),
                  annotations=dict(annotations or {}), yaml=yaml)
        coll.items[id_] = res
        coll._sorted_ids = None
        self._commit(coll, wire.CREATED, res, None)
        return res

    def update(self, old: Res, *, spec: Message | bytes | None = None, labels: dict[str, str] | None = None,
               annotations: dict[str, str] | None = None, phase: str | None = None,
               finalizers: Iterable[str] | None = None, owner: str | None = None,
               yaml: str | None = None, force: bool = False) -> Res:
        """Commit a new version of ``old`` (the current version); unchanged values stay as they were.

        Like COSI's Modify, an update that changes nothing is not written unless ``force``.
        """
        coll = self.collection(old.namespace, old.type)
        if coll.items.get(old.id) is not old:
            raise Abort("FAILED_PRECONDITION", f"resource {old.type}({old.namespace}/{old.id}) changed")
        res = successor(old, self.clock, spec=spec, labels=labels, annotations=annotations, phase=phase,
                        finalizers=finalizers, owner=owner, yaml=yaml, force=force)
        if res is None:
            return old
        coll.items[old.id] = res
        old.supersede()
        self._commit(coll, wire.UPDATED, res, old)
        return res

    def modify(self, namespace: str, type_: str, id_: str, mutate: Callable[[Message], object] | None = None,
               *, labels: dict[str, str] | None = None, phase: str | None = None) -> Res | None:
        """Copy the current spec, let ``mutate`` change the copy, commit if anything changed."""
        old = self.get(namespace, type_, id_)
        if old is None:
            return None
        spec = None
        if mutate is not None and not isinstance(old.spec, bytes):
            spec = type(old.spec)()
            spec.CopyFrom(old.spec)
            mutate(spec)
        return self.update(old, spec=spec, labels=labels, phase=phase)

    def destroy(self, namespace: str, type_: str, id_: str) -> Res:
        coll = self.collection(namespace, type_)
        res = coll.items.get(id_)
        if res is None:
            raise Abort("NOT_FOUND", f"resource {type_}({namespace}/{id_}) doesn't exist")
        if res.finalizers:
            raise Abort("FAILED_PRECONDITION",
                             f"resource {type_}({namespace}/{id_}) has pending finalizers {list(res.finalizers)}")
        del coll.items[id_]
        coll._sorted_ids = None
        res.supersede()
        self._commit(coll, wire.DESTROYED, res, None)
        return res

    # -- watch streams and faults ----------------------------------------------------------------

    def subscribe(self, coll: Collection, watcher: Waker) -> None:
        coll.watchers.add(watcher)
        self.watchers.add(watcher)

    def unsubscribe(self, coll: Collection, watcher: Waker) -> None:
        coll.watchers.discard(watcher)
        self.watchers.discard(watcher)

    def restart(self) -> None:
        """A simulated process restart: new cookie, history gone (resources kept, like Omni's etcd)."""
        self.cookie = os.urandom(8)
        for coll in self.collections.values():
            coll._clear_history(self.position)
