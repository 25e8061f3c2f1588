"""The top-level API collections (``machines``, ``configpatches``) and the stored kinds whose changes are
changes of their documents, for ``/changes``: ``api.served``'s table (which also names sub-route
collections such as ``clusters/status`` for the change feed) restricted to the collections listed at
``/api/v1/<name>``. A collection serves the kind of its route and every kind its documents embed that no
collection of its own serves (a machine's document joins its MachineStatus). Derived collections
(schematics, Kubernetes nodes) are computed, not stored, and serve no kind here.
"""

from __future__ import annotations

from api import served
from models import catalog

StreamKey = tuple[str, str]

OWN_KIND: dict[str, StreamKey] = {name: key for key, name in served.OWN.items() if "/" not in name}
SERVED_BY: dict[StreamKey, str] = {key: name for key, name in served.COLLECTIONS.items() if "/" not in name}
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
