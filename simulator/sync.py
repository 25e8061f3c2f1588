"""Writing drafts into the store the way controllers do: create if missing, otherwise update only
when something changed (COSI's Modify), and delete with teardown first."""

from __future__ import annotations

from collections.abc import Iterable

from models import catalog
from simulator.builders import Draft
from simulator.resource import Res
from simulator.store import Store


def put(store: Store, d: Draft) -> Res:
    kind = d.kind
    current = store.get(kind.namespace, kind.type, d.id)
    if current is None:
        return store.create(kind.namespace, kind.type, d.id, d.spec, owner=d.owner, labels=d.labels,
                            annotations=d.annotations, finalizers=d.finalizers, phase=d.phase,
                            version=None if kind.namespace == catalog.EXTERNAL else 1)
    return store.update(current, spec=d.spec, labels=d.labels, annotations=d.annotations, phase=d.phase)


def put_all(store: Store, drafts: Iterable[Draft]) -> None:
    for d in drafts:
        put(store, d)


def remove(store: Store, kind: catalog.Kind, id_: str) -> bool:
    """Tear down and destroy (no-op if absent). External kinds vanish without ceremony."""
    if kind.namespace == catalog.EXTERNAL:
        if store.get(kind.namespace, kind.type, id_) is None:
            return False
        store.destroy(kind.namespace, kind.type, id_)
        return True
    return store.remove(kind.namespace, kind.type, id_)
