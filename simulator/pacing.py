"""Paced writes: the churn's view of the store, whose writes can be held and released one by one.

A churn step (a cluster created or torn down with all its dependents) decides up to ~1,100 changes at
once. Omni's controllers do not commit those at one instant: they land over time. :class:`PacedStore`
lets the churn decide a whole step synchronously (its reads see its own writes at once) while, when
``hold`` is set, the writes are queued and committed to the real :class:`Store` only when
:meth:`release` is called, each one then stamped and numbered at its actual commit. Streams, Get and
List only ever see the real store, so everything they observe is committed, in order.

With ``hold`` unset (``step``/``apply_n``) the view writes straight through, first committing anything
still queued, so the order of commits never changes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable

from google.protobuf.message import Message

from simulator.errors import Abort
from simulator.resource import RUNNING, Res
from simulator.store import Store, Teardown, successor

_GONE = None  # an overlay entry for a resource destroyed by a queued write


class PacedStore(Teardown):
    """The subset of :class:`Store`'s API the churn uses, with queued (held) writes."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.hold = False
        # (namespace, type) -> id -> the resource as the queued writes leave it (None: destroyed)
        self._overlay: dict[tuple[str, str], dict[str, Res | None]] = {}
        self._queued: dict[tuple[str, str, str], int] = {}  # writes still queued per resource
        self._pending: deque[tuple[str, Res]] = deque()

    # -- reading (the store as the queued writes will leave it) ---------------------------------------

    @property
    def position(self) -> int:
        return self.store.position + len(self._pending)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def clock(self) -> int:
        return self.store.clock()

    def get(self, namespace: str, type_: str, id_: str) -> Res | None:
        over = self._overlay.get((namespace, type_))
        if over is not None and id_ in over:
            return over[id_]
        return self.store.get(namespace, type_, id_)

    def items(self, namespace: str, type_: str) -> Iterable[Res]:
        over = self._overlay.get((namespace, type_))
        real = self.store.items(namespace, type_)
        if not over:
            return real
        merged = [over.get(r.id, r) for r in real]
        real_ids = {r.id for r in real}
        merged.extend(r for id_, r in over.items() if id_ not in real_ids)
        return [r for r in merged if r is not None]

    def count(self, namespace: str, type_: str) -> int:
        if not self._overlay.get((namespace, type_)):
            return self.store.count(namespace, type_)
        return len(list(self.items(namespace, type_)))

    # -- writing ---------------------------------------------------------------------------------

    def create(self, namespace: str, type_: str, id_: str, spec: Message | bytes, *, owner: str = "",
               labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None,
               finalizers: Iterable[str] = (), phase: str = RUNNING, yaml: str | None = None,
               version: int | None = 1) -> Res:
        if not self._holding():
            return self.store.create(namespace, type_, id_, spec, owner=owner, labels=labels,
                                     annotations=annotations, finalizers=finalizers, phase=phase, yaml=yaml,
                                     version=version)
        if self.get(namespace, type_, id_) is not None:
            raise Abort("ALREADY_EXISTS", f"resource {type_}({namespace}/{id_}) already exists")
        now = self.clock()
        res = Res(namespace, type_, id_, version, spec, owner=owner, phase=phase, created=now, updated=now,
                  finalizers=tuple(finalizers), labels=dict(labels or {}), annotations=dict(annotations or {}),
                  yaml=yaml)
        self._queue("create", res)
        return res

    def update(self, old: Res, *, spec: Message | bytes | None = None, labels: dict[str, str] | None = None,
               annotations: dict[str, str] | None = None, phase: str | None = None,
               finalizers: Iterable[str] | None = None, owner: str | None = None,
               yaml: str | None = None, force: bool = False) -> Res:
        if not self._holding():
            return self.store.update(old, spec=spec, labels=labels, annotations=annotations, phase=phase,
                                     finalizers=finalizers, owner=owner, yaml=yaml, force=force)
        if self.get(old.namespace, old.type, old.id) is not old:
            raise Abort("FAILED_PRECONDITION", f"resource {old.type}({old.namespace}/{old.id}) changed")
        res = successor(old, self.clock, spec=spec, labels=labels, annotations=annotations, phase=phase,
                        finalizers=finalizers, owner=owner, yaml=yaml, force=force)
        if res is None:
            return old
        self._queue("update", res)
        return res

    def modify(self, namespace: str, type_: str, id_: str, mutate: Callable[[Message], object] | None = None,
               *, labels: dict[str, str] | None = None, phase: str | None = None) -> Res | None:
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
        if not self._holding():
            return self.store.destroy(namespace, type_, id_)
        res = self.get(namespace, type_, id_)
        if res is None:
            raise Abort("NOT_FOUND", f"resource {type_}({namespace}/{id_}) doesn't exist")
        if res.finalizers:
            raise Abort("FAILED_PRECONDITION",
                        f"resource {type_}({namespace}/{id_}) has pending finalizers {list(res.finalizers)}")
        self._queue("destroy", res)
        return res

    # -- releasing -------------------------------------------------------------------------------

    def release(self, limit: int = 1) -> int:
        """Commit up to ``limit`` queued writes to the real store, oldest first; returns how many."""
        done = 0
        while done < limit and self._pending:
            self._commit(*self._pending.popleft())
            done += 1
        return done

    def flush(self) -> int:
        return self.release(len(self._pending))

    def _holding(self) -> bool:
        if self.hold:
            return True
        self.flush()  # writing through: whatever is queued commits first
        return False

    def _queue(self, op: str, res: Res) -> None:
        self._overlay.setdefault((res.namespace, res.type), {})[res.id] = _GONE if op == "destroy" else res
        key = (res.namespace, res.type, res.id)
        self._queued[key] = self._queued.get(key, 0) + 1
        self._pending.append((op, res))

    def _commit(self, op: str, res: Res) -> None:
        """Apply one queued write to the real store: stamped (``updated``) and numbered now."""
        store = self.store
        try:
            if op == "create":
                store.create(res.namespace, res.type, res.id, res.spec, owner=res.owner, labels=res.labels,
                             annotations=res.annotations, finalizers=res.finalizers, phase=res.phase,
                             yaml=res.yaml, version=res.version)
            elif op == "update":
                current = store.get(res.namespace, res.type, res.id)
                if current is not None:
                    store.update(current, spec=res.spec, labels=res.labels, annotations=res.annotations,
                                 phase=res.phase, finalizers=res.finalizers, owner=res.owner,
                                 yaml=res.yaml if isinstance(res.spec, bytes) else None, force=True)
            else:
                store.destroy(res.namespace, res.type, res.id)
        except Abort:
            pass  # a client wrote the same resource meanwhile (the simulator's own RPCs): its write wins
        finally:
            key = (res.namespace, res.type, res.id)
            left = self._queued[key] - 1
            if left:
                self._queued[key] = left
            else:
                del self._queued[key]
                over = self._overlay[key[:2]]
                del over[res.id]
                if not over:
                    del self._overlay[key[:2]]
