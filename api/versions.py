"""The versions of an item route's document, replayed from the event log.

A version is a revision where one of the resources the document reads (``route_documents.inputs``)
changed and the rendered document differs from the previous version's: a MachineStatus change is a
version of ``/machines/{id}`` when it changes that document, not when it changes only fields the
document leaves out. The replay reads each input resource's own events (one index range each) and
renders the document after each of them with the item route's code, so its cost follows the history of
this one resource, whatever the length of the log, and each version's document is what
``GET <item>?at=<revision>`` answers. A version below the retention horizon is not listed (``at=`` no
longer answers it), but the kept state at the horizon is the starting point of the replay.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Connection

from api import route_documents
from api.routes import Route
from models import history
from models.resource import StoredResource

CREATED, UPDATED, DESTROYED = "created", "updated", "destroyed"


@dataclass(frozen=True, slots=True)
class Version:
    revision: int
    observed_at: datetime
    event: str  # created | updated | destroyed (of the document: it appears, changes, disappears)
    version: int  # the COSI version of the route's own resource (for destroyed: its last)
    document: bytes  # for destroyed: the last state


@dataclass(frozen=True, slots=True)
class Replay:
    versions: list[Version]  # oldest first
    existed: bool  # whether the document ever existed (in the retained log)
    last_input: int  # the newest revision of an input event (what the answer depends on)
    horizon: int


def replay(conn: Connection, route: Route, path_id: str, head: int) -> Replay:
    """Every version of ``route``'s document for ``path_id`` up to ``head``, oldest first."""
    keys = route_documents.inputs(route, path_id)
    logs = [history.log_of(conn, *key, head) for key in keys]
    horizon = history.retention_horizon(conn)
    own = keys[0]
    states: dict[tuple[str, str, str], StoredResource] = {}
    source = route_documents.StateSource(states)
    out: list[Version] = []
    previous: bytes | None = None
    previous_version = 0
    last_input = 0
    existed = False
    for logged in heapq.merge(*logs, key=lambda item: item.revision):
        state = logged.state
        key = (state.namespace, state.type, state.id)
        if logged.event == history.DESTROYED:
            states.pop(key, None)
        else:
            states[key] = state
        last_input = logged.revision
        document = route_documents.document(route, source, path_id)
        if document == previous:
            continue
        own_state = states.get(own)
        if document is None:
            entry = Version(logged.revision, logged.observed_at, DESTROYED, previous_version, previous)
        else:
            version = own_state.version if own_state is not None else 0
            entry = Version(logged.revision, logged.observed_at, CREATED if previous is None else UPDATED,
                            version, document)
            previous_version = version
        previous = document
        existed = True
        if logged.revision >= horizon:
            out.append(entry)
    return Replay(out, existed, last_input, horizon)


def version_at(replay: Replay, revision: int) -> Version | None:
    """The newest version at or before ``revision``, if any."""
    found = None
    for version in replay.versions:
        if version.revision > revision:
            break
        found = version
    return found
