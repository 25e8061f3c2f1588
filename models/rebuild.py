"""The projection recomputed from the event log, and its differences from the stored one.

``expected(conn, head)`` is what ``resources`` and ``resource_labels`` must hold after the events up to
``head``: each live resource's last logged state, its API document rendered with the same projections the
writer uses (``models.projections``), and the revision the writer gives the row: the later of the
resource's own last event and the last event of a kind its document joins (a MachineStatus change bumps
its Machine); plus each kind's revision (``kind_revisions``): its last event, or a later row revision.

``differences(conn, expected)`` lists what the stored projection has otherwise. ``omni-readmodel
rebuild`` writes ``expected``, except that a row whose content it changes gets the head revision (and its
kind too), so ETags and the API's page caches move with the new document. A stored revision above the
log's, up to the head, is therefore not a difference; one below it is (an ETag that would not move).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from models import history, projections
from models.resource import Key, StoredResource
from models.schema import events, kind_revisions, resource_labels, resources


@dataclass(frozen=True)
class Row:
    """One expected ``resources`` row."""

    resource: StoredResource
    revision: int
    document: str | None


def _kind_revisions_from_log(conn: Connection, head: int) -> dict[tuple[str, str], int]:
    query = (sa.select(events.c.namespace, events.c.type, sa.func.max(events.c.revision))
             .where(events.c.revision <= head).group_by(events.c.namespace, events.c.type))
    return {(ns, type_): int(rev) for ns, type_, rev in conn.execute(query)}


def expected_kind_revisions(conn: Connection, rows: dict[Key, Row], head: int | None = None
                            ) -> dict[tuple[str, str], int]:
    head = history.head_revision(conn) if head is None else head
    out = _kind_revisions_from_log(conn, head)
    for (ns, type_, _), row in rows.items():
        out[(ns, type_)] = max(out.get((ns, type_), 0), row.revision)
    return out


def _last_events(conn: Connection, head: int) -> dict[Key, tuple[int, datetime]]:
    last = history.last_events(head, None, None)
    query = (sa.select(events.c.namespace, events.c.type, events.c.id, events.c.revision, events.c.observed_at)
             .join(last, events.c.revision == last.c.revision))
    return {(r.namespace, r.type, r.id): (int(r.revision), _aware(r.observed_at)) for r in conn.execute(query)}


def _aware(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _render(resource: StoredResource, state: dict[Key, StoredResource]) -> str | None:
    try:
        return projections.render(resource, lambda ns, type_, id_: state.get((ns, type_, id_)))
    except Exception:  # the writer stores no document when a projection fails; so does the rebuild
        return None


def expected(conn: Connection, head: int | None = None) -> dict[Key, Row]:
    """The projection as of ``head`` (default: the head revision), computed from the log alone."""
    head = history.head_revision(conn) if head is None else head
    state = {res.key: res for res in history.at_revision(conn, head)}
    last = _last_events(conn, head)
    out: dict[Key, Row] = {}
    for key, res in state.items():
        revision = last[key][0]
        for namespace, type_ in projections.joined_kinds(res.type):
            joined = last.get((namespace, type_, res.id))
            if joined is not None:
                revision = max(revision, joined[0])
        out[key] = Row(res, revision, _render(res, state))
    return out


def _label_rows(rows: dict[Key, Row]) -> set[tuple[str, str, str, str, str]]:
    return {(ns, type_, k, v, id_) for (ns, type_, id_), row in rows.items()
            for k, v in row.resource.labels.items()}


_COMPARED = ("version", "phase", "owner", "created", "updated", "labels", "annotations", "finalizers", "spec")


def differences(conn: Connection, wanted: dict[Key, Row]) -> Iterator[str]:
    """Human-readable differences of the stored projection from ``wanted``, in key order."""
    head = history.head_revision(conn)
    stored = {}
    for row in conn.execute(sa.select(resources)):
        res = history._stored(row)
        stored[res.key] = (res, int(row.revision), row.document)
    for key in sorted(set(wanted) | set(stored)):
        name = "/".join(key)
        if key not in stored:
            yield f"missing {name}: in the log, not in the projection"
            continue
        if key not in wanted:
            yield f"extra {name}: in the projection, destroyed or never in the log"
            continue
        res, revision, document = stored[key]
        want = wanted[key]
        columns = [c for c in _COMPARED if getattr(res, c) != getattr(want.resource, c)]
        if not want.revision <= revision <= head:
            columns.append(f"revision ({revision}, log says {want.revision})")
        if document != want.document:
            columns.append("document")
        if columns:
            yield f"differs {name}: {', '.join(columns)}"
    labels = {tuple(r) for r in conn.execute(sa.select(
        resource_labels.c.namespace, resource_labels.c.type, resource_labels.c.key, resource_labels.c.value,
        resource_labels.c.id))}
    want_labels = _label_rows(wanted)
    for ns, type_, k, v, id_ in sorted(want_labels - labels):
        yield f"missing label {ns}/{type_}/{id_}: {k}={v}"
    for ns, type_, k, v, id_ in sorted(labels - want_labels):
        yield f"extra label {ns}/{type_}/{id_}: {k}={v}"
    kinds = {(r.namespace, r.type): int(r.revision) for r in conn.execute(sa.select(kind_revisions))}
    for (ns, type_), revision in sorted(expected_kind_revisions(conn, wanted, head).items()):
        if kinds.get((ns, type_), 0) < revision:
            yield f"stale kind revision {ns}/{type_}: {kinds.get((ns, type_), 0)}, log says {revision}"
