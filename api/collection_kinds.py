"""Which API collection serves a stored (namespace, type): the route table read the other way round.

A collection is named by its path under /api/v1 (``machines``, ``configpatches``). It serves the kind
of its route and, because documents embed other kinds of the same id (a machine's document joins its
MachineStatus), every kind its documents join that no collection of its own serves: a change of such a
resource is a change of the embedding collection's document. Derived collections (schematics,
Kubernetes nodes) are computed, not stored, and serve no kind here.
"""

from __future__ import annotations

from models import catalog, projections

StreamKey = tuple[str, str]


def _table() -> tuple[dict[str, StreamKey], dict[StreamKey, str]]:
    from api.routes import ROUTES, Shape  # the route table imports catalog only: no cycle, but keep it lazy

    own: dict[str, StreamKey] = {}
    for route in ROUTES:
        if route.shape is Shape.COLLECTION and route.derived is None and route.path.count("/") == 1:
            own.setdefault(route.path.strip("/"), route.catalog_kind.stream_key)
    serving = {key: name for name, key in own.items()}
    for name, key in own.items():
        for joined in projections.joined_kinds(key[1]):
            serving.setdefault(joined, name)
    return own, serving


OWN_KIND, SERVED_BY = _table()
COLLECTIONS: tuple[str, ...] = tuple(sorted(OWN_KIND))


def collection_of(namespace: str, type_: str) -> str | None:
    """The collection whose documents show this kind (its own, or the one embedding it), or None."""
    return SERVED_BY.get((namespace, type_))


def kinds_of(collection: str) -> list[StreamKey]:
    """The stored kinds whose changes are changes of ``collection``'s documents: its own kind first."""
    own = OWN_KIND[collection]
    return [own, *(key for key, name in SERVED_BY.items() if name == collection and key != own)]


def is_own(namespace: str, type_: str) -> bool:
    """Whether this kind is a collection's own kind (not only embedded in one)."""
    collection = collection_of(namespace, type_)
    return collection is not None and OWN_KIND[collection] == (namespace, type_)


def own_kind(collection: str) -> catalog.Kind:
    return catalog.by_type(OWN_KIND[collection][1])
