"""The fleet timeline: per resource of a collection, its state over a time window folded into buckets.

The page at ``/ui/`` draws one row per resource and never downloads raw history: this module answers
one page of rows, each a list of runs ``[first_bucket, end_bucket, state]`` (the state that held
longest in each bucket, consecutive equal buckets merged) and ticks ``[bucket, versions]``.

A version's *state* is a name derived from typed columns of the collection's reporting history view
(``models.reporting``): connected/maintenance for machines, phase and readiness for clusters, and so
on (``RULES``; every other collection uses the COSI phase). Reading the views, not the log's spec
JSON, keeps one definition of every column.

Cost: the candidate rows come from the ``current_*`` view plus the log's destroy events after the
window's start (one index seek per row for its first revision); only the page's rows read their
versions, through the history view filtered by id (the view's window functions partition by id, so the
filter reaches the log's ``(namespace, type, id, revision)`` index). ``sort=changes`` also counts
every event of the collection's kinds inside the window (one pass over that part of the index).
"""

# ruff: noqa: S608 - view and column names come from the declarations, never from input
from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from models import catalog, history, reporting
from models.catalog import LABEL_CLUSTER
from models.history import head_revision, retention_horizon
from models.schema import event_log, events, resource_keys

MAX_BUCKETS = 1000  # with MAX_LIMIT rows, at most 500k bucket cells folded per request
DEFAULT_BUCKETS = 200
SORTS = ("name", "first_seen", "changes")


@dataclass(frozen=True)
class StateRule:
    """How a version's state is named: ``sql`` is an expression over the history view's columns."""

    sql: str
    states: tuple[str, ...]  # every name ``sql`` can give, in legend order (good first)
    description: str


_PHASE = StateRule("CASE WHEN phase = 'tearingDown' THEN 'tearing-down' ELSE 'running' END",
                   ("running", "tearing-down"), "the COSI resource phase")
RULES: Mapping[str, StateRule] = {
    "machines": StateRule(
        "CASE WHEN NOT connected THEN 'disconnected' WHEN maintenance THEN 'maintenance' ELSE 'connected' END",
        ("connected", "maintenance", "disconnected"),
        "connected (document field connected), maintenance (maintenance) or disconnected"),
    "clusters": StateRule(
        "CASE WHEN status_phase = 'RUNNING' AND ready THEN 'ready' WHEN status_phase = 'RUNNING' THEN 'not-ready' "
        "WHEN status_phase = 'SCALING_UP' THEN 'scaling-up' WHEN status_phase = 'SCALING_DOWN' THEN 'scaling-down' "
        "WHEN status_phase = 'DESTROYING' THEN 'destroying' ELSE 'unknown' END",
        ("ready", "not-ready", "scaling-up", "scaling-down", "destroying", "unknown"),
        "the ClusterStatus phase, RUNNING split by ready"),
    "machinesets": StateRule(
        "CASE WHEN ready THEN 'ready' WHEN status_phase IN ('ScalingUp', 'ScalingDown', 'Reconfiguring', "
        "'Upgrading') THEN 'changing' WHEN status_phase = 'Failed' THEN 'failed' ELSE 'not-ready' END",
        ("ready", "changing", "not-ready", "failed"), "MachineSetStatus ready and phase"),
    "clustermachines": StateRule(
        "CASE WHEN ready THEN 'ready' ELSE 'not-ready' END", ("ready", "not-ready"),
        "ClusterMachineStatus ready"),
    "loadbalancer-configs": StateRule(
        "CASE WHEN stopped THEN 'stopped' WHEN healthy THEN 'healthy' ELSE 'unhealthy' END",
        ("healthy", "unhealthy", "stopped"), "LoadBalancerStatus healthy / stopped"),
}


def rule(collection: str) -> StateRule:
    return RULES.get(collection, _PHASE)


def collections() -> tuple[str, ...]:
    """Collections the timeline covers: those with a reporting view."""
    return tuple(view.collection for view in reporting.VIEWS)


@dataclass(frozen=True)
class Query:
    collection: str
    start: datetime
    end: datetime
    buckets: int = DEFAULT_BUCKETS
    labels: Callable[[Mapping[str, str]], bool] | None = None  # a label selector, evaluated on current labels
    cluster: str | None = None
    text: str | None = None  # case-insensitive substring of the id
    sort: str = "name"
    limit: int = 100
    offset: int = 0


@dataclass
class Row:
    id: str
    first_revision: int | None = None
    first_seen: datetime | None = None
    destroyed: datetime | None = None
    changes: int = 0
    state: str | None = None
    segments: list[list[int]] | None = None
    ticks: list[list[int]] | None = None

    def document(self) -> dict:
        return {"id": self.id, "first_seen": _iso(self.first_seen), "destroyed": _iso(self.destroyed),
                "changes": self.changes, "state": self.state, "segments": self.segments or [],
                "ticks": self.ticks or []}


@dataclass
class Timeline:
    query: Query
    revision: int
    states: tuple[str, ...]
    total: int
    rows: list[Row]
    current: dict[str, int]  # live matching resources per current state

    def document(self) -> dict:
        q = self.query
        return {"collection": q.collection, "from": _iso(q.start), "to": _iso(q.end), "buckets": q.buckets,
                "bucket_ms": max(0, _ms(q.end) - _ms(q.start)) / q.buckets, "revision": self.revision,
                "states": list(self.states), "total": self.total, "current": self.current, "offset": q.offset,
                "rows": [row.document() for row in self.rows]}


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return _aware(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ms(value: datetime) -> int:
    return round(_aware(value).timestamp() * 1000)


def _time(value: object) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))  # SQLite returns the stored text


def _labels(value: object) -> dict:
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else {}


def compute(conn: Connection, query: Query) -> Timeline:
    """One page of the timeline. Blocking; the caller bounds it (query thread, timeout)."""
    view = reporting.by_collection(query.collection)
    kind = catalog.by_name(view.kind)
    state_rule = rule(query.collection)
    head = head_revision(conn)
    if query.start >= query.end:  # an empty window, as the reports answer an empty interval
        return Timeline(query, head, state_rule.states, 0, [], dict.fromkeys(state_rule.states, 0))
    r_from = history.revision_at(conn, query.start)
    r_to = min(history.revision_at(conn, query.end), head)
    rows, current = _candidates(conn, view, kind, state_rule, query, r_from, r_to, head)
    if query.sort == "changes":
        _count_changes(conn, view, rows, r_from, r_to)
        rows.sort(key=lambda row: (-row.changes, row.id))
    elif query.sort == "first_seen":
        rows.sort(key=lambda row: (row.first_revision, row.id))
    else:
        rows.sort(key=lambda row: row.id)
    page = rows[query.offset:query.offset + query.limit]
    if page:
        _fold(conn, view, state_rule, query, page, r_from, r_to)
    return Timeline(query, head, state_rule.states, len(rows), page, current)


def _candidates(conn: Connection, view: reporting.View, kind: catalog.Kind, state_rule: StateRule, query: Query,
                r_from: int, r_to: int, head: int) -> tuple[list[Row], dict[str, int]]:
    """Resources of the collection that existed at some point of (r_from, r_to]: live now (the
    ``current_*`` view), or destroyed after r_from; and the live ones' count per current state. A
    window ending before the head also drops resources first seen after it."""
    has_cluster = any(c.name == "cluster" for c in view.columns)
    keys = {"ns": kind.namespace, "type": kind.type}
    cluster = "c.cluster" if has_cluster and query.cluster is not None else "NULL"
    live = conn.execute(sa.text(
        f"SELECT c.id, c.labels, {cluster} AS cluster, {state_rule.sql} AS state FROM {view.current} c"), keys).all()
    gone = [(id_, labels, at) for id_, (revision, labels, at) in _destroyed(conn, kind, head).items()
            if revision > r_from]
    text = (query.text or "").casefold()

    def keep(id_: str, labels: dict, cluster_id: str | None) -> bool:
        if text and text not in id_.casefold():
            return False
        if query.cluster is not None:
            cluster_of = id_ if query.collection == "clusters" else cluster_id
            if cluster_of != query.cluster:
                return False
        return query.labels is None or query.labels(labels)

    found: dict[str, Row] = {}
    for id_, labels, destroyed_at in gone:
        labels = _labels(labels)
        if keep(id_, labels, labels.get(LABEL_CLUSTER)):
            found[id_] = Row(id_, destroyed=_time(destroyed_at))
    states: dict[str, str] = {}
    for id_, labels, cluster_id, state in live:
        if keep(id_, _labels(labels), cluster_id):
            found[id_] = Row(id_)  # live again after a destroy: live wins
            states[id_] = state
    rows = list(found.values())
    if query.sort == "first_seen" or r_to < head:
        _first_revisions(conn, kind, rows)
        rows = [row for row in rows if row.first_revision is not None and row.first_revision <= r_to]
    current = dict.fromkeys(state_rule.states, 0)
    for row in rows:
        if row.id in states:
            current[states[row.id]] = current.get(states[row.id], 0) + 1
    return rows, current


@dataclass
class _Destroyed:
    head: int
    horizon: int
    rows: dict[str, tuple[int, object, object]]  # id -> (revision, labels, observed_at) of its destroy


_DESTROYED: dict[tuple[str, str, str], _Destroyed] = {}
_DESTROYED_LOCK = threading.Lock()
MAX_DELTA = 200_000  # events past the cached head read incrementally; beyond, scan again


def _destroyed(conn: Connection, kind: catalog.Kind, head: int) -> dict[str, tuple[int, object, object]]:
    """Resources of ``kind`` whose last event is a destroy, with that event. Finding them takes one index
    seek per resource key ever logged (``history.last_events``): done once per process and kind, then kept current from the events past the cached head (the log is append-only;
    a new retention horizon or a smaller head, after a rebuild, scans again)."""
    key = (conn.engine.url.render_as_string(hide_password=True), kind.namespace, kind.type)
    keys = {"ns": kind.namespace, "type": kind.type}
    horizon = retention_horizon(conn)
    with _DESTROYED_LOCK:
        cached = _DESTROYED.get(key)
    if cached is not None and cached.horizon == horizon and cached.head <= head <= cached.head + MAX_DELTA:
        if head == cached.head:
            return cached.rows
        rows = dict(cached.rows)
        for id_, revision, event, labels, at in conn.execute(sa.text(
                "SELECT id, revision, event, labels, observed_at FROM events WHERE revision > :since "
                "AND revision <= :head AND namespace = :ns AND type = :type ORDER BY revision"),
                {**keys, "since": cached.head, "head": head}):
            if event == "destroyed":
                rows[id_] = (int(revision), labels, at)
            else:
                rows.pop(id_, None)
    else:
        last = history.last_events(head, kind.namespace, kind.type)
        found = conn.execute(sa.select(events.c.id, events.c.revision, events.c.labels, events.c.observed_at)
                             .join(last, events.c.revision == last.c.revision)
                             .where(events.c.event == history.DESTROYED))
        rows = {id_: (int(revision), labels, at) for id_, revision, labels, at in found}
    with _DESTROYED_LOCK:
        _DESTROYED[key] = _Destroyed(head, horizon, rows)
    return rows


def _first_revisions(conn: Connection, kind: catalog.Kind, rows: list[Row]) -> None:
    """Each row's first logged revision: one statement, one (key_id, revision) index seek per row."""
    wanted = [row.id for row in rows if row.first_revision is None]
    if not wanted:
        return
    first = (sa.select(sa.func.min(event_log.c.revision)).where(event_log.c.key_id == resource_keys.c.key_id)
             .correlate(resource_keys).scalar_subquery())
    found = dict(conn.execute(sa.select(resource_keys.c.id, first).where(
        resource_keys.c.namespace == kind.namespace, resource_keys.c.type == kind.type,
        resource_keys.c.id.in_(wanted))).all())
    for row in rows:
        if row.first_revision is None and found.get(row.id) is not None:
            row.first_revision = int(found[row.id])


def _kinds(view: reporting.View) -> list[catalog.Kind]:
    return [catalog.by_name(name) for name in (view.kind, *view.joins.values())]


def _count_changes(conn: Connection, view: reporting.View, rows: list[Row], r_from: int, r_to: int) -> None:
    """Events of the collection's kinds (the listed and the joined ones) per row inside the window: one
    pass over the window's part of the narrow log (no state read)."""
    if not rows:
        return
    kinds = _kinds(view)
    counts = dict(conn.execute(sa.text(
        "SELECT k.id, COUNT(*) FROM event_log l JOIN resource_keys k ON k.key_id = l.key_id "
        "WHERE k.namespace IN :namespaces AND k.type IN :types "
        "AND l.revision > :r_from AND l.revision <= :r_to GROUP BY k.id").bindparams(
        sa.bindparam("types", expanding=True), sa.bindparam("namespaces", expanding=True)),
        {"types": [k.type for k in kinds], "namespaces": sorted({k.namespace for k in kinds}),
         "r_from": r_from, "r_to": r_to}).all())
    for row in rows:
        row.changes = int(counts.get(row.id, 0))


def _fold(conn: Connection, view: reporting.View, state_rule: StateRule, query: Query, page: list[Row],
          r_from: int, r_to: int) -> None:
    """Read the page's versions inside the window from the history view and fold them into buckets."""
    versions = conn.execute(sa.text(
        f"SELECT id, revision, event, observed_ms, next_revision, {state_rule.sql} AS state "
        f"FROM {view.history} WHERE id IN :ids AND revision <= :r_to "
        "AND (next_revision IS NULL OR next_revision > :r_from) ORDER BY id, revision").bindparams(
        sa.bindparam("ids", expanding=True)),
        {"ids": [row.id for row in page], "r_from": r_from, "r_to": r_to}).all()
    by_id: dict[str, list] = {}
    for version in versions:
        by_id.setdefault(version.id, []).append(version)
    _first_revisions(conn, catalog.by_name(view.kind), page)
    first_seen = _first_seen(conn, [row.first_revision for row in page if row.first_revision is not None])
    start, end = _ms(query.start), _ms(query.end)
    states = {name: index for index, name in enumerate(state_rule.states)}
    for row in page:
        row.first_seen = first_seen.get(row.first_revision) if row.first_revision is not None else None
        _fold_row(row, by_id.get(row.id, []), r_from, start, end, query.buckets, states)


def _first_seen(conn: Connection, revisions: list[int]) -> dict[int, datetime | None]:
    # Through the table's columns: observed_at is a LogTime (integer microseconds on SQLite).
    found = conn.execute(sa.select(event_log.c.revision, event_log.c.observed_at)
                         .where(event_log.c.revision.in_(revisions))).all()
    return {int(revision): _time(at) for revision, at in found}


def _fold_row(row: Row, versions: list, r_from: int, start: int, end: int, buckets: int,
              states: dict[str, int]) -> None:
    width = (end - start) / buckets
    held: list[dict[int, float]] = [{} for _ in range(buckets)]  # per bucket: state -> ms held
    ticks: dict[int, int] = {}
    row.changes = 0  # recounted from the versions read (sort=changes counted them already)

    def bucket(ms: float) -> int:
        return min(buckets - 1, max(0, int((ms - start) // width)))

    for i, version in enumerate(versions):
        at = int(version.observed_ms)
        inside = version.revision > r_from
        if inside:
            row.changes += 1
            ticks[bucket(at)] = ticks.get(bucket(at), 0) + 1
        if version.event == "destroyed":
            continue  # a zero-length version: the resource is gone from here on
        state = states.get(version.state, 0)
        row.state = version.state
        begin = max(start, at if inside else start)
        if i + 1 < len(versions):
            finish = min(end, int(versions[i + 1].observed_ms))
        else:
            finish = end  # the current version, or one whose successor is after the window
        _hold(held, state, begin, finish, start, width)
    if versions and versions[-1].event == "destroyed":
        row.state = None
    runs: list[list[int]] = []
    for index, durations in enumerate(held):
        if not durations:
            continue
        best = max(durations.items(), key=lambda item: (item[1], -item[0]))[0]
        if runs and runs[-1][1] == index and runs[-1][2] == best:
            runs[-1][1] = index + 1
        else:
            runs.append([index, index + 1, best])
    row.segments = runs
    row.ticks = [[index, count] for index, count in sorted(ticks.items())]


def _hold(held: list[dict[int, float]], state: int, begin: float, finish: float, start: float,
          width: float) -> None:
    """Add the time [begin, finish) in ``state`` to the buckets it covers."""
    if finish <= begin:
        if finish == begin and start <= begin < start + width * len(held):  # a moment still shows
            slot = held[min(len(held) - 1, int((begin - start) // width))]
            slot.setdefault(state, 0.0)
        return
    first = int((begin - start) // width)
    last = min(len(held) - 1, int((finish - start) // width))
    for index in range(max(0, first), last + 1):
        lo = max(begin, start + index * width)
        hi = min(finish, start + (index + 1) * width)
        if hi > lo or index == first:
            slot = held[index]
            slot[state] = slot.get(state, 0.0) + max(0.0, hi - lo)
