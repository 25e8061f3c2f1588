"""The API's SQL, defined with SQLAlchemy Core and compiled once per shape.

Fixed statements are compiled at start-up. Collection statements vary with the filters, the label
selector's operators and value counts, the sort and whether a cursor is given; each distinct shape is
compiled on first use and cached (a bounded number of shapes: values are always bound, never part of
the shape). Selector requirements become ``id [NOT] IN (SELECT id FROM resource_labels ...)`` so the
label index drives them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from api import selectors
from api.database import Database, Statement
from api.params import Cursor
from api.routes import Filter, Match
from models import catalog
from models.schema import meta, resource_labels, resources, streams

r = resources
rl = resource_labels

SORT_COLUMNS = {"created": r.c.created, "updated": r.c.updated}
_PG_NULL_TIME = datetime(1, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class CollectionShape:
    filters: tuple[Filter, ...]
    requirements: tuple[tuple[str, int], ...]  # (operator, number of values)
    sort: str
    after: bool
    limited: bool
    count: bool = False


def _labels_subquery(prefix: str, op: str, count: int, namespace: Any, type_: Any) -> sa.Select:
    query = sa.select(rl.c.id).where(rl.c.namespace == namespace, rl.c.type == type_,
                                     rl.c.key == sa.bindparam(f"{prefix}k"))
    if op not in (selectors.EXISTS, selectors.NOT_EXISTS):
        values = [sa.bindparam(f"{prefix}v{i}") for i in range(count)]
        query = query.where(rl.c.value == values[0] if count == 1 else rl.c.value.in_(values))
    return query


def spec_text(backend: str, *path: str) -> sa.ColumnElement:
    """A string inside the JSON spec. Spelled as plain SQL functions whose arguments are ordinary bound
    strings: SQLAlchemy's JSON index operators rely on bind processors the raw driver path skips."""
    if backend == "sqlite":
        return sa.func.json_extract(r.c.spec, _constant("$." + ".".join(f'"{part}"' for part in path)))
    return sa.func.jsonb_extract_path_text(r.c.spec, *(_constant(part) for part in path))


def _constant(text: str) -> sa.ColumnElement:
    """A string constant of our own (never request data) written into the SQL, so compiled statements
    carry no bound defaults that would have to be merged into every call's parameters."""
    if not all(ch.isalnum() or ch in '$._"-' for ch in text):
        raise ValueError(f"not a safe SQL constant: {text!r}")
    return sa.literal_column(f"'{text}'")


def document_bytes(backend: str) -> sa.ColumnElement:
    """The stored document, as bytes where the driver can hand them over without a conversion: SQLite
    returns a BLOB cast of the text as is. psycopg would ship a bytea in hex over the text protocol, so
    PostgreSQL returns text and ``LiveSource`` encodes it."""
    if backend == "sqlite":
        return sa.cast(r.c.document, sa.LargeBinary).label("document")
    return r.c.document


def _filter_clause(index: int, f: Filter, namespace: Any, type_: Any, backend: str) -> sa.ColumnElement:
    value = sa.bindparam(f"f{index}")
    if f.match is Match.ID:
        return r.c.id == value
    if f.match is Match.SPEC:
        return spec_text(backend, f.target) == value
    if f.match is Match.LABEL:
        namespace_, type__ = namespace, type_
    else:
        other = catalog.by_name(f.kind)
        namespace_, type__ = sa.literal(other.namespace), sa.literal(other.type)
    return r.c.id.in_(sa.select(rl.c.id).where(rl.c.namespace == namespace_, rl.c.type == type__,
                                               rl.c.key == f.target, rl.c.value == value))


def sort_expression(sort: str) -> sa.ColumnElement:
    name = sort.lstrip("-")
    if name == "id":
        return r.c.id
    return sa.func.coalesce(SORT_COLUMNS[name], sa.bindparam("null_time"))


def _members(shape: CollectionShape, backend: str) -> list[sa.ColumnElement]:
    """The conditions on a ``resources`` row of the collection: its kind, the filters, the selector."""
    namespace, type_ = sa.bindparam("namespace"), sa.bindparam("type")
    where = [r.c.namespace == namespace, r.c.type == type_]
    for index, f in enumerate(shape.filters):
        where.append(_filter_clause(index, f, namespace, type_, backend))
    for index, (op, count) in enumerate(shape.requirements):
        subquery = _labels_subquery(f"s{index}", op, count, namespace, type_)
        negative = op in (selectors.NOT_EQUALS, selectors.NOT_IN, selectors.NOT_EXISTS)
        where.append(r.c.id.not_in(subquery) if negative else r.c.id.in_(subquery))
    return where


def collection_statement(shape: CollectionShape, backend: str) -> sa.Select:
    where = _members(shape, backend)
    if shape.count:
        return sa.select(sa.func.count()).select_from(r).where(*where)
    descending = shape.sort.startswith("-")
    key = sort_expression(shape.sort)
    if shape.after:
        after_id = sa.bindparam("after_id")
        if key is r.c.id:
            where.append(r.c.id < after_id if descending else r.c.id > after_id)
        else:
            after_key = sa.bindparam("after_key")
            beyond = key < after_key if descending else key > after_key
            where.append(sa.or_(beyond, sa.and_(key == after_key, r.c.id < after_id if descending
                                                else r.c.id > after_id)))
    order = [key.desc(), r.c.id.desc()] if descending else [key, r.c.id]
    if key is r.c.id:
        order = order[:1]
    columns = [document_bytes(backend), r.c.id] + ([] if key is r.c.id else [key.label("sort_key")])
    query = sa.select(*columns).where(*where).order_by(*order)
    if shape.limited:
        query = query.limit(sa.bindparam("limit", type_=sa.Integer))
    return query


def page_statement(shape: CollectionShape, backend: str) -> sa.Select:
    """An id-sorted page in one row, built by the database: (the JSON array of the page's documents as
    ``collection_statement`` reads them, joined in id order; the id of its last row; whether a row follows).
    The same rows as ``collection_statement``, whose ``limit`` is one more than ``rows`` here.

    SQLite has no ordered aggregate before 3.44; it aggregates a subquery with a LIMIT as that subquery
    yields its rows (such a subquery is never flattened into an aggregate), so in id order."""
    if shape.sort.lstrip("-") != "id" or shape.count:
        raise ValueError(f"not an id-sorted page: {shape}")
    descending = shape.sort.startswith("-")
    members = _members(shape, backend)
    where = list(members)
    if shape.after:
        where.append(r.c.id < sa.bindparam("after_id") if descending else r.c.id > sa.bindparam("after_id"))
    rows = sa.select(r.c.document, r.c.id).where(*where).order_by(r.c.id.desc() if descending else r.c.id)
    if shape.limited:
        # SQLAlchemy would add a bound OFFSET 0 on SQLite, merged into every call's parameters
        rows = rows.limit(sa.bindparam("rows", type_=sa.Integer)).offset(sa.literal_column("0"))
    page = rows.subquery("page")
    comma = sa.literal_column("','")
    if backend == "sqlite":
        joined = sa.func.group_concat(page.c.document, comma)
    else:
        joined = sa.func.string_agg(page.c.document,
                                    postgresql.aggregate_order_by(comma, page.c.id.desc() if descending else page.c.id))
    array = sa.func.coalesce(sa.literal_column("'['").concat(joined).concat(sa.literal_column("']'")),
                             sa.literal_column("'[]'"))
    if backend == "sqlite":
        array = sa.cast(array, sa.LargeBinary)
    last = (sa.func.min if descending else sa.func.max)(page.c.id)
    summary = sa.select(array.label("documents"), last.label("last")).subquery("summary")
    if not shape.limited:
        return sa.select(summary.c.documents, summary.c.last, sa.false())
    beyond = r.c.id < summary.c.last if descending else r.c.id > summary.c.last
    more = sa.exists(sa.select(sa.literal_column("1")).select_from(r).where(*members, beyond))
    return sa.select(summary.c.documents, summary.c.last, more)


class Queries:
    """Compiled statements for one database, with the collection shapes compiled on demand."""

    MAX_SHAPES = 512

    def __init__(self, db: Database) -> None:
        self.db = db
        c = db.compile
        key = (r.c.namespace == sa.bindparam("namespace"), r.c.type == sa.bindparam("type"),
               r.c.id == sa.bindparam("id"))
        document = document_bytes(db.backend)
        self.document = c(sa.select(document).where(*key))
        self.exists = c(sa.select(sa.literal(1)).where(*key))
        self.row = c(sa.select(r.c.namespace, r.c.type, r.c.id, r.c.version, r.c.phase, r.c.owner, r.c.created,
                               r.c.updated, r.c.labels, r.c.annotations, r.c.finalizers, r.c.spec).where(*key))
        self.label_value = c(sa.select(rl.c.value).where(
            rl.c.namespace == sa.bindparam("namespace"), rl.c.type == sa.bindparam("type"),
            rl.c.id == sa.bindparam("id"), rl.c.key == sa.bindparam("key")))
        self.newest_with_label = c(
            sa.select(document)
            .where(r.c.namespace == sa.bindparam("namespace"), r.c.type == sa.bindparam("type"),
                   r.c.id.in_(sa.select(rl.c.id).where(
                       rl.c.namespace == sa.bindparam("namespace"), rl.c.type == sa.bindparam("type"),
                       rl.c.key == sa.bindparam("key"), rl.c.value == sa.bindparam("value"))))
            .order_by(r.c.created.desc(), r.c.id.desc()).limit(1))
        schematic_id = spec_text(db.backend, "schematic", "full_id")
        in_use = (r.c.namespace == sa.bindparam("namespace"), r.c.type == sa.bindparam("type"),
                  schematic_id.isnot(None), schematic_id != _constant(""))
        # one representative MachineStatus per schematic (the smallest id) carries its extensions.
        self.schematics = c(
            sa.select(schematic_id.label("schematic"), sa.func.count().label("machines"),
                      sa.func.min(r.c.id).label("sample"))
            .where(*in_use).group_by(schematic_id).order_by(schematic_id))
        self.schematic = c(
            sa.select(sa.func.count(), sa.func.min(r.c.id)).where(*in_use, schematic_id == sa.bindparam("schematic")))
        self.spec = c(sa.select(r.c.spec).where(*key))
        self.streams = c(sa.select(streams.c.namespace, streams.c.type, streams.c.bootstrapped,
                                   streams.c.last_event_at, streams.c.last_error, streams.c.last_error_at,
                                   streams.c.last_revision))
        self.commit = c(sa.select(meta.c.head_revision, meta.c.writer_heartbeat)
                        .where(meta.c.singleton == sa.literal_column("1")))
        self._shapes: dict[CollectionShape, Statement] = {}
        self._pages: dict[CollectionShape, Statement] = {}

    def collection(self, shape: CollectionShape) -> Statement:
        return self._compiled(self._shapes, shape, collection_statement)

    def page(self, shape: CollectionShape) -> Statement:
        """``page_statement`` of an id-sorted shape, compiled once."""
        return self._compiled(self._pages, shape, page_statement)

    def _compiled(self, cache: dict[CollectionShape, Statement], shape: CollectionShape,
                  build: Callable[[CollectionShape, str], sa.Select]) -> Statement:
        statement = cache.get(shape)
        if statement is None:
            if len(cache) >= self.MAX_SHAPES:
                cache.clear()
            statement = cache[shape] = self.db.compile(build(shape, self.db.backend))
        return statement

    # -- values the dialects store differently -------------------------------------------------

    @property
    def null_time(self) -> Any:
        """What a missing created/updated sorts as: before every real time."""
        return "" if self.db.backend == "sqlite" else _PG_NULL_TIME

    def cursor_key(self, value: Any) -> str | None:
        if value is None or isinstance(value, str):
            return value
        return value.isoformat()  # PostgreSQL timestamptz

    def bind_key(self, cursor: Cursor) -> Any:
        if self.db.backend == "sqlite" or cursor.key is None:
            return cursor.key
        return datetime.fromisoformat(cursor.key)


def selector_params(requirements: tuple[selectors.Requirement, ...]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for index, requirement in enumerate(requirements):
        params[f"s{index}k"] = requirement.key
        for value_index, value in enumerate(requirement.values):
            params[f"s{index}v{value_index}"] = value
    return params
