"""The versions of an item route's document, replayed from the event log.

A version is a revision where one of the resources the document reads (``route_documents.inputs``)
changed and the rendered document differs from the previous version's: a MachineStatus change is a
version of ``/machines/{id}`` when it changes that document, not when it changes only fields the
document leaves out. The replay reads each input resource's own events (one index range each) and
tells after each of them whether the document changed without rendering it where it can (another COSI
version of the route's own resource is another document; a joined resource's change is compared on the
members that read it, ``projections.joined_part``), so its cost follows the history of this one resource,
whatever the length of the log. Documents are rendered, with the item route's code, only for the versions
a page shows: each is what ``GET <item>?at=<revision>`` answers. A version below the retention horizon is
not listed (``at=`` no longer answers it), but the kept state at the horizon is the replay's start.
``ReplayCache`` keeps a worker's last replays, keyed by what they read.
"""

from __future__ import annotations

import heapq
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from api import route_documents
from api.database import Database
from api.routes import Route
from models import catalog, history, projections

CREATED, UPDATED, DESTROYED = "created", "updated", "destroyed"
Key = tuple[str, str, str]
_CHANGED = object()


@dataclass(frozen=True, slots=True)
class Version:
    revision: int
    observed_at: datetime
    event: str  # created | updated | destroyed (of the document: it appears, changes, disappears)
    version: int  # the COSI version of the route's own resource (for destroyed: its last)
    states: dict[Key, history.Logged]  # the input states its document renders from (destroyed: the last)


@dataclass(frozen=True, slots=True)
class Replay:
    route: Route
    path_id: str
    versions: list[Version]  # oldest first
    existed: bool  # whether the document ever existed (in the retained log)
    last_input: int  # the newest revision of an input event (what the answer depends on)
    horizon: int
    rendered: dict[int, bytes] = field(default_factory=dict)  # revision -> document, once rendered

    def rendered_all(self, chosen: list[Version]) -> bool:
        return all(version.revision in self.rendered for version in chosen)

    def document(self, version: Version) -> bytes:
        """The version's document, rendered only when asked for (a page renders its own versions only)
        and then kept with the replay (``ReplayCache``: the next request for the page reads no row)."""
        document = self.rendered.get(version.revision)
        if document is None:
            source = route_documents.StateSource(version.states)
            document = route_documents.document(self.route, source, self.path_id)
            assert document is not None  # a version's states hold its document's own resource
            self.rendered[version.revision] = document
        return document


class _Inputs:
    """The replay's current input states and what tells whether a change of one changes the document."""

    def __init__(self, route: Route, path_id: str, keys: list[Key]) -> None:
        self.route, self.path_id = route, path_id
        self.own = keys[0]
        self.doc = projections.DOCUMENTS[route.catalog_kind.type]
        self.joins = {(catalog.by_name(k).namespace, catalog.by_name(k).type, self.own[2]): name
                      for name, k in self.doc.joins.items()}
        parent = catalog.by_name(route.parent) if route.parent else None
        self.parent = None if parent is None else (parent.namespace, parent.type, path_id)
        self.states: dict[Key, history.Logged] = {}
        self.source = route_documents.StateSource(self.states)
        self._joined: dict[Key, tuple[tuple, Any]] = {}  # join key -> (the events it read, its part)

    def present(self) -> bool:
        """Whether the route answers a document (its item responder: the parent, then the resource)."""
        return self.own in self.states and (self.parent is None or self.parent in self.states)

    def mark(self, key: Key) -> Any:
        """What of the document a change of ``key`` can change (compared before and after the change)."""
        if key == self.own:
            return route_documents.document(self.route, self.source, self.path_id)
        if key in self.joins:
            pair = tuple(self.states.get(k) for k in (self.own, *self.joins))  # what the part reads
            known = self._joined.get(key)
            if known is not None and known[0] == pair:  # the last event's "after" is the next one's "before"
                return known[1]
            part = projections.joined_part(self.states[self.own].state, self.source._lookup, self.joins[key])
            self._joined[key] = (pair, part)
            return part
        return None  # the parent: only whether it exists matters


def replay(conn: Connection, route: Route, path_id: str, head: int) -> Replay:
    """Every version of ``route``'s document for ``path_id`` up to ``head``, oldest first."""
    keys = route_documents.inputs(route, path_id)
    logs = [[(logged.revision, key, logged) for logged in history.log_of(conn, *key, head)] for key in keys]
    horizon = history.retention_horizon(conn)
    inputs = _Inputs(route, path_id, keys)
    states = inputs.states
    out: list[Version] = []
    previous: Version | None = None
    last_input = 0
    for revision, key, logged in heapq.merge(*logs, key=lambda item: item[0]):
        last_input = revision
        was = inputs.present()
        before = None
        if was:
            if (key == inputs.own and inputs.doc.metadata and logged.event != history.DESTROYED
                    and states[key].version != logged.version):
                before = _CHANGED  # the version is in the document's metadata: no need to render
            else:
                before = inputs.mark(key)
        if logged.event == history.DESTROYED:
            states.pop(key, None)
        else:
            states[key] = logged
        now = inputs.present()
        if not was and not now:
            continue
        if was and now and before is not _CHANGED and inputs.mark(key) == before:
            continue
        if now:
            entry = Version(revision, logged.observed_at, UPDATED if was else CREATED, states[inputs.own].version,
                            dict(states))
        else:
            assert previous is not None
            entry = Version(revision, logged.observed_at, DESTROYED, previous.version, previous.states)
        previous = entry
        if revision >= horizon:
            out.append(entry)
    return Replay(route, path_id, out, previous is not None, last_input, horizon)


class ReplayCache:
    """The last few replays of a worker, by (route, id, version token): the token is the newest input
    revision and the retention horizon, so a page after the first, or a poll while nothing changed, reuses
    the replay (and its rendered documents); any new input event is another key."""

    def __init__(self, db: Database, size: int = 16) -> None:  # a replay holds its events' rows: ~1 MB each
        self.db = db
        self.size = size
        self._replays: OrderedDict[tuple, Replay] = OrderedDict()
        self._lock = threading.Lock()
        self._last = db.compile(history.last_revision_statement())
        self._horizon = db.compile(history.horizon_statement())

    def token(self, route: Route, path_id: str, head: int) -> str:
        """What the route's history depends on: one index seek per input resource on the driver (cheap
        enough for the event loop, like an item's row lookup)."""
        newest = 0
        for namespace, type_, id_ in route_documents.inputs(route, path_id):
            row = self.db.one(self._last, {"namespace": namespace, "type": type_, "id": id_, "until": head})
            newest = max(newest, int(row[0] or 0) if row else 0)
        row = self.db.one(self._horizon, {})
        return f"{newest}.{int(row[0] or 0) if row else 0}"

    def get(self, route: Route, path_id: str, token: str) -> Replay | None:
        with self._lock:
            found = self._replays.get((route.path, path_id, token))
            if found is not None:
                self._replays.move_to_end((route.path, path_id, token))
        return found

    def replay(self, conn: Connection, route: Route, path_id: str, head: int, token: str) -> Replay:
        found = replay(conn, route, path_id, head)
        with self._lock:
            self._replays[(route.path, path_id, token)] = found
            while len(self._replays) > self.size:
                self._replays.popitem(last=False)
        return found
