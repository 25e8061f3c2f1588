"""The document of an item route from any source, and which stored resources it reads.

``document`` is the item responder's own code (``Endpoint.item``), so a document rebuilt here is byte for
byte what ``GET <item>?at=<revision>`` answers. ``inputs`` names the stored resources the document of one
path id is a function of: the route's resource, the resources its document joins (same id) and the
parent that must exist. A change of any other resource cannot change it, which is what lets the history
replay only these resources' events (``api.versions``).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from api.problems import Problem
from api.resources import Endpoint
from api.routes import ROUTES, KeyMap, Route, Shape
from models import catalog, history, projections
from models.resource import StoredResource

Key = tuple[str, str, str]
# how the path id finds the stored resource, for the keys a replay can follow: the label-driven keys
# (VIA_LABEL, NEWEST_WITH_LABEL) read resources chosen by labels that change over time
_REPLAYABLE = (KeyMap.SAME, KeyMap.SUFFIX, KeyMap.SINGLETON)


def replayable(route: Route) -> bool:
    """Whether ``route`` is an item route served from stored resources named by its path id (the routes
    with a history); ids that may hold ``/`` (``{id:path}``) cannot take a suffix."""
    return (route.shape is Shape.ITEM and route.derived is None and route.key in _REPLAYABLE
            and "/{id}" in route.path and route.path.count("{") == 1)


HISTORY_ROUTES: tuple[Route, ...] = tuple(route for route in ROUTES if replayable(route))


def inputs(route: Route, path_id: str) -> list[Key]:
    """The stored resources the route's document for ``path_id`` reads: its own first."""
    kind = route.catalog_kind
    if route.key is KeyMap.SUFFIX:
        stored = path_id + route.key_arg
    elif route.key is KeyMap.SINGLETON:
        stored = kind.singleton_id or ""
    else:
        stored = path_id
    keys = [(kind.namespace, kind.type, stored)]
    keys += [(namespace, type_, stored) for namespace, type_ in projections.joined_kinds(kind.type)]
    if route.parent:
        parent = catalog.by_name(route.parent)
        keys.append((parent.namespace, parent.type, path_id))
    return list(dict.fromkeys(keys))


@cache
def _responder(route: Route) -> Endpoint:
    return Endpoint(None, route)  # type: ignore[arg-type] # item() reads only the route


def document(route: Route, source: Any, path_id: str) -> bytes | None:
    """The route's document for ``path_id`` read from ``source`` (a LiveSource, HistorySource or
    ``StateSource``), links as placeholders; None where the route answers 404."""
    try:
        return _responder(route).item(source, {"id": path_id})
    except Problem as problem:
        if problem.status == 404:
            return None
        raise


class StateSource:
    """A source over resource states held in memory (a replay's current states), answering the few
    questions an item route asks. A state may be a ``history.Logged`` event, decoded when first read."""

    def __init__(self, states: Mapping[Key, StoredResource | history.Logged]) -> None:
        self.states = states

    def _get(self, key: Key) -> StoredResource | None:
        found = self.states.get(key)
        return found.state if isinstance(found, history.Logged) else found

    def resource(self, kind: catalog.Kind, id_: str) -> StoredResource | None:
        return self._get((kind.namespace, kind.type, id_))

    def _lookup(self, namespace: str, type_: str, id_: str) -> StoredResource | None:
        return self._get((namespace, type_, id_))

    def document(self, kind: catalog.Kind, id_: str) -> bytes | None:
        resource = self.resource(kind, id_)
        if resource is None:
            return None
        text = projections.render(resource, self._lookup)
        return None if text is None else text.encode()

    def exists(self, kind: catalog.Kind, id_: str) -> bool:
        return (kind.namespace, kind.type, id_) in self.states

    def label(self, kind: catalog.Kind, id_: str, key: str) -> str | None:
        resource = self.resource(kind, id_)
        return None if resource is None else resource.labels.get(key)
