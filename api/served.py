"""Which API collection serves a stored (namespace, type), and that item route's document at a revision.

A kind is *served* by the item route that finds it by its own id: ``/clusters/{id}`` serves Cluster,
``/clusters/{id}/status`` ClusterStatus, ``/clusters/{id}/controlplane-status`` ControlPlaneStatus (stored
id = path id + suffix). Its collection name is that route's path without the ``{id}`` segments:
``clusters``, ``clusters/status``, ``clusters/controlplane-status``. A kind embedded in another kind's
document (MachineStatus in Machine) belongs to the embedding collection (``machines``): a change of it is
a change of that document. Kinds that no item route finds by id (metrics singletons, the newest config
diff, backup statuses found through a backup's label, derived answers) have no collection (None).

``document_at`` renders, with the same projections as ``?at=``, what the collection's item route answers
for one logged change: the state in the log row itself (for ``destroyed`` the last state), joined with
what it embeds as of that revision; for an embedded kind, the embedding resource as of that revision
(None when it did not exist then).
"""

from __future__ import annotations

import sqlalchemy as sa

from api.routes import ROUTES, KeyMap, Shape
from models import catalog, history, projections
from models.resource import Lookup, StoredResource


def _collection_name(path: str) -> str:
    return "/".join(part for part in path.strip("/").split("/") if not part.startswith("{"))


def _served() -> dict[tuple[str, str], str]:
    out: dict[tuple[str, str], str] = {}
    for route in ROUTES:
        if (route.shape is Shape.ITEM and route.derived is None and not route.deprecated
                and route.key in (KeyMap.SAME, KeyMap.SUFFIX)):
            out.setdefault(route.catalog_kind.stream_key, _collection_name(route.path))
    return out


_OWN = _served()
# embedded kind -> the embedding kind's (namespace, type), whose collection it belongs to
_EMBEDDED: dict[tuple[str, str], tuple[str, str]] = {}
for _kind in catalog.stored_kinds():
    for _namespace, _type, _ in projections.dependents(StoredResource(_kind.namespace, _kind.type, "", 0)):
        if (_namespace, _type) in _OWN and _kind.stream_key not in _OWN:
            _EMBEDDED[_kind.stream_key] = (_namespace, _type)

COLLECTIONS: dict[tuple[str, str], str] = {**_OWN, **{key: _OWN[into] for key, into in _EMBEDDED.items()}}
NAMES: tuple[str, ...] = tuple(sorted(set(COLLECTIONS.values())))


def collection_of(namespace: str, type_: str) -> str | None:
    """The API collection whose item document a change of this kind changes; None if none serves it."""
    return COLLECTIONS.get((namespace, type_))


def lookup_at(conn: sa.Connection, revision: int) -> Lookup:
    """``projections.render``'s lookup over a SQLAlchemy connection: a resource as of ``revision``."""
    return lambda namespace, type_, id_: history.resource_at(conn, namespace, type_, id_, revision)


def document_at(state: StoredResource, lookup: Lookup) -> str | None:
    """The item document (links as placeholders) for the logged change ``state``; ``lookup`` finds other
    resources as of the change's revision (``lookup_at``, or faster equivalents)."""
    key = (state.namespace, state.type)
    if key not in COLLECTIONS:
        return None
    into = _EMBEDDED.get(key)
    if into is not None:
        state = lookup(*into, state.id)
        if state is None:
            return None
    return projections.render(state, lookup)
