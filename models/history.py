"""Point-in-time reads of the read model, computed from the event log.

The state as of revision R is, for every (namespace, type, id), the last event at or before R unless
that event is a destroy. A time maps to the last revision observed at or before it (the writer keeps
``observed_at`` monotonic). Shared by ``omni-readmodel export`` and the API's ``at=`` reads, which both
parse and resolve a point the same way (``parse_point``, ``resolve``):

- a revision is ASCII digits (at most ``MAX_REVISION``), a time is RFC 3339 with an offset;
- a time after the last event is the head (``Point.at_head``); a revision beyond the head is refused;
- a point before the first logged event is gone (``BeforeHistory`` names the oldest revision);
- a point inside the first bootstrap, when the log held only part of the fleet, is refused
  (``DuringBootstrap`` names the revision where the first bootstrap completed).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from models import eventlog
from models.resource import StoredResource
from models.schema import event_log, events, meta, resource_keys, resources, streams

DESTROYED = "destroyed"
_STATE_COLUMNS = ("namespace", "type", "id", "version", "phase", "owner", "created", "updated", "labels",
                  "annotations", "finalizers", "spec")
_LOGGED_COLUMNS = (*_STATE_COLUMNS, "spec_blobs")  # the log's spec may hold blob members (models/eventlog.py)


def head_revision(conn: Connection) -> int:
    return int(conn.execute(sa.select(meta.c.head_revision).where(meta.c.singleton == 1)).scalar() or 0)


def revision_at(conn: Connection, when: datetime) -> int:
    """The last revision observed at or before ``when`` (0 if none). A naive ``when`` means UTC."""
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    # Two index seeks: the writer keeps observed_at monotonic, so the answer is the largest revision at the
    # latest observed_at not after ``when`` (``MAX(revision) WHERE observed_at <= when`` reads every index
    # entry before ``when``).
    latest = conn.execute(sa.select(sa.func.max(event_log.c.observed_at)).where(event_log.c.observed_at <= when)).scalar()
    if latest is None:
        return 0
    value = conn.execute(sa.select(sa.func.max(event_log.c.revision)).where(event_log.c.observed_at == latest)).scalar()
    return int(value or 0)


MAX_REVISION = 2**63 - 1  # revisions are BIGINT columns: every accepted one binds
REVISION_DIGITS = len(str(MAX_REVISION))


def _at_most(limit: int) -> str:
    """A pattern for ASCII decimal strings (leading zeros allowed) of at most ``limit``'s digits and value."""
    text = str(limit)
    alternatives = [f"[0-9]{{1,{len(text) - 1}}}"]
    for i, digit in enumerate(map(int, text)):
        rest = len(text) - i - 1
        if digit:
            alternatives.append(text[:i] + (f"[0-{digit - 1}]" if digit > 1 else "0")
                                + (f"[0-9]{{{rest}}}" if rest else ""))
    return "^(?:" + "|".join([*alternatives, text]) + ")$"


REVISION_PATTERN = _at_most(MAX_REVISION)  # also the OpenAPI pattern of at= and min_revision
_REVISION = re.compile(REVISION_PATTERN, re.ASCII)
# RFC 3339 date-time (``T``/``Z`` in either case, any fraction, an offset required); ASCII digits only.
_TIME = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
                   r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))$", re.ASCII)
_PLUS_AS_SPACE = re.compile(r" [0-9]{2}:[0-9]{2}$")


def parse_point(text: str) -> int | datetime:
    """``--at``/``at=``: a revision number or an RFC 3339 time; ValueError says what is wrong."""
    if _REVISION.match(text):
        return int(text)
    if text.isdigit():  # Unicode digits (①, ١٢), or beyond a BIGINT
        raise ValueError(f"a revision is at most {REVISION_DIGITS} ASCII digits, at most {MAX_REVISION}")
    found = _TIME.match(text)
    if found is None:
        hint = ""
        if _PLUS_AS_SPACE.search(text):
            hint = " (a '+' in a query string means a space: write the offset as %2B, or use Z)"
        elif re.match(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9:.]+$", text, re.ASCII):
            hint = " (the time needs an offset: Z or +HH:MM)"
        raise ValueError(f"{text!r} is neither a revision number nor an RFC 3339 time{hint}")
    return _moment(found)


def _moment(found: re.Match) -> datetime:
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = found.groups()
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    if int(off_h or 0) > 23 or int(off_m or 0) > 59:
        raise ValueError(f"{found.string!r} has an invalid UTC offset")
    offset = timedelta(hours=int(off_h or 0), minutes=int(off_m or 0)) * (-1 if sign == "-" else 1)
    try:
        # second 60 (a leap second) is read as 59.999999: the same revision in practice
        local = datetime(int(year), int(month), int(day), int(hour), int(minute), min(int(second), 59),
                         999999 if int(second) == 60 else micros)
    except ValueError as exc:
        raise ValueError(f"{found.string!r} is not a valid time: {exc}") from None
    try:
        return local.replace(tzinfo=timezone(offset)).astimezone(UTC)
    except OverflowError:  # within a day of year 1 or 9999: before or after anything logged
        return datetime.min.replace(tzinfo=UTC) if local.year == 1 else datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Point:
    """A resolved ``at``: the revision to read, and whether that is the head."""

    revision: int
    at_head: bool


class PointError(ValueError):
    """A point with no complete state to answer; ``revision`` is the one to ask for instead."""

    def __init__(self, message: str, revision: int | None) -> None:
        super().__init__(message)
        self.revision = revision


class BeyondHead(PointError):
    pass


class BeforeHistory(PointError):
    pass


class DuringBootstrap(PointError):
    pass


class Pruned(BeforeHistory):
    """Before the retention horizon (``omni-readmodel prune``): ``revision`` is the horizon."""


def retention_horizon(conn: Connection) -> int:
    """The retention horizon (0: nothing was ever pruned)."""
    return int(conn.execute(sa.select(meta.c.horizon_revision).where(meta.c.singleton == 1)).scalar() or 0)


def oldest_revision(conn: Connection) -> int | None:
    value = conn.execute(sa.select(sa.func.min(event_log.c.revision))).scalar()
    return None if value is None else int(value)


def first_bootstrap_revision(conn: Connection) -> int | None:
    """The revision where every recorded stream had completed its first bootstrap: 0 when no stream is
    recorded (nothing to wait for), None while one has not completed yet. ``bootstrapped_at`` is the
    time of a stream's first completed bootstrap (re-bootstraps keep it)."""
    total, done, last = conn.execute(sa.select(
        sa.func.count(), sa.func.count(streams.c.bootstrapped_at), sa.func.max(streams.c.bootstrapped_at))).one()
    if not total:
        return 0
    if done < total:
        return None
    return revision_at(conn, last)


def resolve(conn: Connection, point: int | datetime, head: int) -> Point:
    """The revision ``point`` reads at, given the ``head`` the caller serves from; PointError otherwise."""
    if isinstance(point, int):
        if point > head:
            raise BeyondHead(f"revision {point} is beyond the head revision {head}", head)
        revision = point
    else:
        revision = min(revision_at(conn, point), head)  # a time after the last event is the head
    if revision == head:
        return Point(head, True)
    horizon = retention_horizon(conn)
    if revision < horizon:
        raise Pruned(f"history before revision {horizon} was pruned (the retention horizon); {_describe(point)} "
                     f"is older: ask for at={horizon} or later", horizon)
    oldest = oldest_revision(conn)
    if oldest is None or revision < oldest:
        # an empty log has only the head, answered above
        raise BeforeHistory(f"{_describe(point)} is before the oldest logged revision {oldest}", oldest)
    bootstrapped = first_bootstrap_revision(conn)
    if bootstrapped is None:
        raise DuringBootstrap(f"{_describe(point)} is inside the first bootstrap, which has not completed yet; "
                              "only the head is complete", None)
    if revision < bootstrapped:
        raise DuringBootstrap(f"{_describe(point)} is inside the first bootstrap: the read model is complete "
                              f"from revision {bootstrapped}", bootstrapped)
    return Point(revision, False)


def _describe(point: int | datetime) -> str:
    return f"revision {point}" if isinstance(point, int) else point.isoformat().replace("+00:00", "Z")


def resolve_point(conn: Connection, point: int | datetime) -> int:
    """``resolve`` against the head committed in ``conn``."""
    return resolve(conn, point, head_revision(conn)).revision


def _stored(row: sa.Row, blobs: eventlog.BlobReader | None = None) -> StoredResource:
    """A resource from a ``resources`` row or an ``events`` row (whose blob members ``blobs`` fetches)."""
    spec = row.spec or {}
    spec_blobs = getattr(row, "spec_blobs", None)
    if spec_blobs:
        if blobs is None:
            raise ValueError("an events row with blob members needs a BlobReader")
        spec = eventlog.resolve_spec(spec, spec_blobs, blobs)
    return StoredResource(
        row.namespace, row.type, row.id, int(row.version), row.phase, row.owner, _aware(row.created),
        _aware(row.updated), row.labels or {}, row.annotations or {}, row.finalizers or [], spec,
    )


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)  # SQLite stores naive UTC


def _filters(table: sa.Table, namespace: str | None, type_: str | None) -> list:
    clauses = []
    if namespace is not None:
        clauses.append(table.c.namespace == namespace)
    if type_ is not None:
        clauses.append(table.c.type == type_)
    return clauses


def _order(conn: Connection, table: sa.Table) -> list:
    """namespace, type, id in code-point order (PostgreSQL would otherwise sort by its locale)."""
    columns = [table.c.namespace, table.c.type, table.c.id]
    if conn.dialect.name == "postgresql":
        return [column.collate("C") for column in columns]
    return columns  # SQLite's BINARY collation is code-point order for UTF-8


def current(conn: Connection, *, namespace: str | None = None, type_: str | None = None
            ) -> Iterator[StoredResource]:
    """Current resources (the projection), sorted by namespace, type, id."""
    query = (sa.select(*[resources.c[n] for n in _STATE_COLUMNS])
             .where(*_filters(resources, namespace, type_))
             .order_by(*_order(conn, resources)))
    for row in conn.execute(query):
        yield _stored(row)


def last_events(revision: int, namespace: str | None, type_: str | None) -> sa.Subquery:
    """The last revision at or before ``revision`` of every resource (of a kind), NULL for one logged only
    later: one (key_id, revision) index seek per resource key, so the cost follows the number of resources,
    not the length of their history."""
    last = (sa.select(sa.func.max(event_log.c.revision))
            .where(event_log.c.key_id == resource_keys.c.key_id, event_log.c.revision <= revision)
            .correlate(resource_keys).scalar_subquery())
    return (sa.select(last.label("revision")).select_from(resource_keys)
            .where(*_filters(resource_keys, namespace, type_)).subquery("last"))


def at_revision(conn: Connection, revision: int, *, namespace: str | None = None, type_: str | None = None
                ) -> Iterator[StoredResource]:
    """Resources as they were right after ``revision``, sorted by namespace, type, id."""
    last = last_events(revision, namespace, type_)
    query = (sa.select(*[events.c[n] for n in _LOGGED_COLUMNS])
             .join(last, events.c.revision == last.c.revision)
             .where(events.c.event != DESTROYED)
             .order_by(*_order(conn, events)))
    blobs = eventlog.BlobReader(conn)
    for row in conn.execute(query):
        yield _stored(row, blobs)


def resource_at(conn: Connection, namespace: str, type_: str, id_: str, revision: int) -> StoredResource | None:
    """One resource as it was right after ``revision``; None if it did not exist then."""
    row = conn.execute(
        sa.select(events.c.event, *[events.c[n] for n in _LOGGED_COLUMNS])
        .where(events.c.namespace == namespace, events.c.type == type_, events.c.id == id_,
               events.c.revision <= revision)
        .order_by(events.c.revision.desc())
        .limit(1)
    ).first()
    if row is None or row.event == DESTROYED:
        return None
    return _stored(row, eventlog.BlobReader(conn))


def versions(conn: Connection, namespace: str, type_: str, id_: str) -> Iterator[tuple[int, str, StoredResource]]:
    """Every logged change of one resource, oldest first: (revision, event, state after it)."""
    query = (sa.select(events.c.revision, events.c.event, *[events.c[n] for n in _LOGGED_COLUMNS])
             .where(events.c.namespace == namespace, events.c.type == type_, events.c.id == id_)
             .order_by(events.c.revision))
    blobs = eventlog.BlobReader(conn)
    for row in conn.execute(query):
        yield int(row.revision), row.event, _stored(row, blobs)


class Logged:
    """One logged event of a resource: its revision, kind of event, time, COSI version, and the state after
    it (a destroy carries the last state), decoded from the row only when asked for: a replay reads many
    events and needs the whole state of few."""

    __slots__ = ("revision", "event", "observed_at", "version", "_row", "_state")

    def __init__(self, row: sa.Row, blobs: eventlog.BlobReader) -> None:
        self.revision = int(row.revision)
        self.event = row.event
        self.observed_at = _moment_of(row.observed_at)
        self.version = int(row.version)
        self._row = row
        self._state: StoredResource | None = None
        if row.spec_blobs:  # large members live in the blobs table: fetch them while the connection is open
            self._decode(blobs)

    @property
    def state(self) -> StoredResource:
        if self._state is None:
            self._decode(None)
        return self._state

    def _decode(self, blobs: eventlog.BlobReader | None) -> None:
        row = self._row
        spec = _decoded(row.spec) or {}
        if blobs is not None:
            spec = eventlog.resolve_spec(spec, _decoded(row.spec_blobs), blobs)
        self._state = StoredResource(
            row.namespace, row.type, row.id, self.version, row.phase, row.owner, _moment_of(row.created),
            _moment_of(row.updated), _decoded(row.labels) or {}, _decoded(row.annotations) or {},
            _decoded(row.finalizers) or [], spec)


_JSON_COLUMNS = ("labels", "annotations", "finalizers", "spec", "spec_blobs")
_TIME_COLUMNS = ("created", "updated", "observed_at")


def _raw(name: str) -> sa.ColumnElement:
    """A column without SQLAlchemy's result processing (``Logged`` decodes what it needs): JSON as text on
    both backends, times as the driver gives them (a string on SQLite, a datetime on PostgreSQL)."""
    column = events.c[name]
    if name in _JSON_COLUMNS:
        return sa.cast(column, sa.Text).label(name)
    if name in _TIME_COLUMNS:
        return sa.type_coerce(column, sa.String).label(name)
    return column


def _decoded(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _moment_of(value: Any) -> datetime | None:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return _aware(value)


def log_of(conn: Connection, namespace: str, type_: str, id_: str, until: int) -> list[Logged]:
    """Every logged event of one resource up to ``until``, oldest first: one range of the
    (namespace, type, id, revision) index, so the cost follows this resource's history, not the log's."""
    query = (sa.select(events.c.revision, events.c.event, *[_raw(n) for n in ("observed_at", *_LOGGED_COLUMNS)])
             .where(events.c.namespace == namespace, events.c.type == type_, events.c.id == id_,
                    events.c.revision <= until)
             .order_by(events.c.revision))
    blobs = eventlog.BlobReader(conn)
    return [Logged(row, blobs) for row in conn.execute(query)]


@dataclass(frozen=True, slots=True)
class Changed:
    """One resource's events in a revision range: the first and last (with the labels after the last)."""

    namespace: str
    type: str
    id: str
    first_revision: int
    first_event: str
    last_revision: int
    last_event: str
    events: int
    labels: dict


def changed_between(conn: Connection, low: int, high: int, kinds: list[tuple[str, str]], cap: int) -> list[Changed]:
    """Resources of ``kinds`` with events in (``low``, ``high``], at most ``cap`` of them (the caller
    refuses a range with more). A range of the revision key: the cost follows the events in the range."""
    if not kinds:
        return []
    grouped = (sa.select(events.c.namespace, events.c.type, events.c.id,
                         sa.func.min(events.c.revision).label("first"), sa.func.max(events.c.revision).label("last"),
                         sa.func.count().label("n"))
               .where(events.c.revision > low, events.c.revision <= high,
                      sa.or_(*[sa.and_(events.c.namespace == ns, events.c.type == t) for ns, t in kinds]))
               .group_by(events.c.namespace, events.c.type, events.c.id)
               .limit(cap)
               .subquery("g"))
    first, last = events.alias("f"), events.alias("l")
    query = (sa.select(grouped.c.namespace, grouped.c.type, grouped.c.id, grouped.c.first, first.c.event,
                       grouped.c.last, last.c.event, grouped.c.n, last.c.labels)
             .join(first, first.c.revision == grouped.c.first)
             .join(last, last.c.revision == grouped.c.last))
    return [Changed(row[0], row[1], row[2], int(row[3]), row[4], int(row[5]), row[6], int(row[7]), row[8] or {})
            for row in conn.execute(query)]


def last_revision_statement() -> sa.Select:
    """The newest revision at or before ``until`` of one resource's events (binds namespace, type, id,
    until): one index seek, as one statement for callers that compile theirs once (the API's driver reads)."""
    return sa.select(sa.func.max(events.c.revision)).where(
        events.c.namespace == sa.bindparam("namespace"), events.c.type == sa.bindparam("type"),
        events.c.id == sa.bindparam("id"), events.c.revision <= sa.bindparam("until"))


def horizon_statement() -> sa.Select:
    """``retention_horizon`` as one statement."""
    return sa.select(meta.c.horizon_revision).where(meta.c.singleton == 1)


def log_rows(conn: Connection, low: int, high: int) -> Iterator[tuple[int, str, StoredResource, datetime]]:
    """Logged events with ``low < revision <= high``, oldest first: (revision, event, state, observed_at)."""
    query = (sa.select(events.c.revision, events.c.event, events.c.observed_at,
                       *[events.c[n] for n in _LOGGED_COLUMNS])
             .where(events.c.revision > low, events.c.revision <= high)
             .order_by(events.c.revision))
    blobs = eventlog.BlobReader(conn)
    for row in conn.execute(query):
        yield int(row.revision), row.event, _stored(row, blobs), _aware(row.observed_at)
