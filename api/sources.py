"""Where answers come from: the current state (stored documents, SQL) or a past revision (the event log).

Both sources answer the same questions, so the responders in ``api.resources`` are written once:
``LiveSource`` reads precomputed documents with compiled statements on the driver; ``HistorySource``
rebuilds the state at a revision with ``models.history`` and renders documents on the fly with the
same projections.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from api import params as qp
from api import selectors
from api.byte_cache import ByteBudgetCache
from api.database import Database, Statement
from api.problems import bad_parameter
from api.queries import CollectionShape, Queries, selector_params
from api.routes import Filter, Match
from models import catalog, history, projections
from models.resource import StoredResource

SECOND = 1.0


@dataclass(frozen=True)
class ListQuery:
    """A collection request, parsed: seed filters with values, selector, sort, cursor, limit."""

    filters: tuple[tuple[Filter, str], ...]
    requirements: tuple[selectors.Requirement, ...]
    sort: str
    cursor: qp.Cursor | None
    limit: int | None


@dataclass(frozen=True)
class Page:
    body: bytes  # the JSON array, links still as placeholders
    total: int
    next_cursor: qp.Cursor | None


def json_array(documents: list[bytes]) -> bytes:
    """``[doc,doc,...]`` with a single join: concatenating the large result again costs more than the join."""
    if not documents:
        return b"[]"
    documents[0] = b"[" + documents[0]
    documents[-1] = documents[-1] + b"]"
    return b",".join(documents)


@dataclass(frozen=True)
class Schematic:
    id: str
    machines: int
    spec: dict[str, Any] | None


class LiveSource:
    """The current state: stored documents and labels, compiled statements on the driver."""

    COUNT_CACHE = 256

    def __init__(self, db: Database, queries: Queries, *, page_cache_bytes: int = 0) -> None:
        self.db = db
        self.q = queries
        self._counts: dict[tuple, tuple[int | str, int]] = {}
        self._bytes = db.backend == "sqlite"  # whether documents arrive as bytes (see queries.document_bytes)
        # plan -> (version, page): the answer to an exact query, kept while the revisions of the kinds it reads
        # stay where they are (unchanged kinds, unchanged rows), however much other kinds churn
        self.pages: ByteBudgetCache[tuple[int | str, Page]] = ByteBudgetCache(
            page_cache_bytes, lambda entry: len(entry[1].body))
        # id-sorted pages come joined by the database in one row, not as a row per document joined here (the
        # same bytes: tests/test_api_pages.py compares both ways)
        self.one_row = True

    def document(self, kind: catalog.Kind, id_: str) -> bytes | None:
        row = self.db.one(self.q.document, {"namespace": kind.namespace, "type": kind.type, "id": id_})
        if row is None:
            return None
        document = row[0]
        return document if self._bytes or document is None else document.encode()

    def exists(self, kind: catalog.Kind, id_: str) -> bool:
        return self.db.one(self.q.exists, {"namespace": kind.namespace, "type": kind.type, "id": id_}) is not None

    def label(self, kind: catalog.Kind, id_: str, key: str) -> str | None:
        row = self.db.one(self.q.label_value, {"namespace": kind.namespace, "type": kind.type, "id": id_,
                                               "key": key})
        return None if row is None else row[0]

    def newest_with_label(self, kind: catalog.Kind, key: str, value: str) -> bytes | None:
        row = self.db.one(self.q.newest_with_label, {"namespace": kind.namespace, "type": kind.type, "key": key,
                                                     "value": value})
        if row is None or row[0] is None:
            return None
        return row[0] if self._bytes else row[0].encode()

    def resource(self, kind: catalog.Kind, id_: str) -> StoredResource | None:
        """Enough of a resource for derivations: id, namespace, version, labels, spec."""
        row = self.db.one(self.q.row, {"namespace": kind.namespace, "type": kind.type, "id": id_})
        if row is None:
            return None
        return StoredResource(row[0], row[1], row[2], int(row[3]), row[4], row[5],
                              labels=_json(row[8]) or {}, spec=_json(row[11]) or {})

    def schematics(self, full_id: str | None) -> list[Schematic]:
        kind = catalog.by_name("MachineStatus")
        base = {"namespace": kind.namespace, "type": kind.type}
        if full_id is None:
            rows = self.db.all(self.q.schematics, base)
        else:
            rows = [(full_id, *row) for row in self.db.all(self.q.schematic, {**base, "schematic": full_id})]
        out = []
        for schematic_id, machines, sample in rows:
            if not machines:
                continue
            spec_row = self.db.one(self.q.spec, {**base, "id": sample})
            spec = _json(spec_row[0]) if spec_row else None
            out.append(Schematic(schematic_id, int(machines), (spec or {}).get("schematic")))
        return out

    def plan(self, kind: catalog.Kind, query: ListQuery) -> Plan:
        """Everything about a collection request that does not depend on the data; reusable."""
        shape = CollectionShape(tuple(f for f, _ in query.filters),
                                tuple((r.op, len(r.values)) for r in query.requirements),
                                query.sort, query.cursor is not None, query.limit is not None)
        values: dict[str, Any] = {"namespace": kind.namespace, "type": kind.type}
        for index, (_, value) in enumerate(query.filters):
            values[f"f{index}"] = value
        values.update(selector_params(query.requirements))
        count_values = dict(values)
        count_shape = CollectionShape(shape.filters, shape.requirements, "id", False, False, count=True)
        if query.sort.lstrip("-") != "id":
            values["null_time"] = self.q.null_time
        if query.cursor is not None:
            values["after_id"] = query.cursor.id
            if query.sort.lstrip("-") != "id":
                try:
                    values["after_key"] = self.q.bind_key(query.cursor)
                except ValueError:
                    raise bad_parameter("cursor", "not a cursor this API issued") from None
        if query.limit is not None:
            values["limit"] = query.limit + 1
        count_key = (count_shape, tuple(sorted(count_values.items())))
        page, page_values = None, None
        if self.one_row and query.sort.lstrip("-") == "id":
            page = self.q.page(shape)
            page_values = {key: value for key, value in values.items() if key != "limit"}
            if query.limit is not None:
                page_values["rows"] = query.limit
        return Plan(query, self.q.collection(shape), values, self.q.collection(count_shape), count_values, count_key,
                    page, page_values)

    def cached_page(self, plan: Plan, version: int | str) -> Page | None:
        """The page this plan answered at ``version`` (``api.freshness``), if the page cache still holds it."""
        cached = self.pages.get(plan)
        if cached is not None and cached[0] == version:
            return cached[1]
        return None

    def bounded(self, plan: Plan, version: int | str) -> bool:
        """Whether reading this page costs O(limit) whatever the fleet size, so it may run on the event
        loop: an id-ordered page (an index range) without filters or selector, its total already counted
        at this version (counting is O(fleet))."""
        query = plan.query
        if query.filters or query.requirements or query.limit is None or query.sort.lstrip("-") != "id":
            return False
        counted = self._counts.get(plan.count_key)
        return counted is not None and counted[0] == version

    def collection(self, kind: catalog.Kind, query: ListQuery, version: int | str, plan: Plan | None = None) -> Page:
        """``version``: the token of what the answer depends on (``api.freshness``), its cache key."""
        if plan is not None:
            cached = self.cached_page(plan, version)
            if cached is not None:
                return cached
        plan = plan or self.plan(kind, query)
        total = self._count(plan, version)
        if plan.page is not None:  # the database joins the documents: one row, not one per document
            body, last, more = self.db.one(plan.page, plan.page_values)
            page = Page(body if self._bytes else body.encode(), total,
                        qp.Cursor(query.sort, None, last) if more else None)
            self.pages.put(plan, (version, page))
            return page
        rows = self.db.all(plan.statement, plan.values)
        next_cursor = None
        if query.limit is not None and len(rows) > query.limit:
            rows = rows[: query.limit]
            last = rows[-1]
            key = None if len(last) < 3 else self.q.cursor_key(last[2])
            next_cursor = qp.Cursor(query.sort, key, last[1])
        if self._bytes:
            documents = [row[0] for row in rows if row[0] is not None]
        else:
            documents = [row[0].encode() for row in rows if row[0] is not None]
        page = Page(json_array(documents), total, next_cursor)
        self.pages.put(plan, (version, page))
        return page

    def _count(self, plan: Plan, version: int | str) -> int:
        """X-Total-Count, cached until the kinds it reads move."""
        cached = self._counts.get(plan.count_key)
        if cached is not None and cached[0] == version:
            return cached[1]
        total = int(self.db.one(plan.count_statement, plan.count_values)[0])
        if len(self._counts) >= self.COUNT_CACHE:
            self._counts.clear()
        self._counts[plan.count_key] = (version, total)
        return total


@dataclass(frozen=True, eq=False)  # identity: plans are memoised per route and query string
class Plan:
    """A prepared live collection query (see ``LiveSource.plan``)."""

    query: ListQuery
    statement: Statement
    values: dict[str, Any]
    count_statement: Statement
    count_values: dict[str, Any]
    count_key: tuple
    page: Statement | None = None  # id sorts: the page in one row (``queries.page_statement``)
    page_values: dict[str, Any] | None = None


class HistorySource:
    """The state right after ``revision``, rebuilt from the event log (``at=`` reads)."""

    def __init__(self, db: Database, revision: int) -> None:
        self.db = db
        self.revision = revision
        self._states: dict[tuple[str, str], dict[str, StoredResource]] = {}

    def _run(self, read: Callable[[sa.Connection], Any]) -> Any:
        return self.db.history(read)

    def _all(self, namespace: str, type_: str) -> dict[str, StoredResource]:
        key = (namespace, type_)
        if key not in self._states:
            self._states[key] = self._run(lambda c: {
                res.id: res for res in history.at_revision(c, self.revision, namespace=namespace, type_=type_)})
        return self._states[key]

    def resource(self, kind: catalog.Kind, id_: str) -> StoredResource | None:
        if kind.stream_key in self._states:
            return self._states[kind.stream_key].get(id_)
        return self._run(lambda c: history.resource_at(c, kind.namespace, kind.type, id_, self.revision))

    def _lookup(self, namespace: str, type_: str, id_: str) -> StoredResource | None:
        return self.resource(catalog.by_type(type_), id_)

    def _render(self, resource: StoredResource) -> bytes | None:
        text = projections.render(resource, self._lookup)
        return None if text is None else text.encode()

    def document(self, kind: catalog.Kind, id_: str) -> bytes | None:
        resource = self.resource(kind, id_)
        return None if resource is None else self._render(resource)

    def exists(self, kind: catalog.Kind, id_: str) -> bool:
        return self.resource(kind, id_) is not None

    def label(self, kind: catalog.Kind, id_: str, key: str) -> str | None:
        resource = self.resource(kind, id_)
        return None if resource is None else resource.labels.get(key)

    def newest_with_label(self, kind: catalog.Kind, key: str, value: str) -> bytes | None:
        matching = [r for r in self._all(*kind.stream_key).values() if r.labels.get(key) == value]
        if not matching:
            return None
        newest = max(matching, key=lambda r: (r.created is not None, r.created or 0, r.id))
        return self._render(newest)

    def schematics(self, full_id: str | None) -> list[Schematic]:
        kind = catalog.by_name("MachineStatus")
        grouped: dict[str, list[StoredResource]] = {}
        for status in self._all(*kind.stream_key).values():
            schematic = (status.spec or {}).get("schematic") or {}
            sid = schematic.get("full_id")
            if sid and (full_id is None or sid == full_id):
                grouped.setdefault(sid, []).append(status)
        out = []
        for sid in sorted(grouped):
            sample = min(grouped[sid], key=lambda r: r.id)
            out.append(Schematic(sid, len(grouped[sid]), sample.spec.get("schematic")))
        return out

    def collection(self, kind: catalog.Kind, query: ListQuery, head: int, plan: Any = None) -> Page:
        for namespace, type_ in projections.joined_kinds(kind.type):
            self._all(namespace, type_)  # prefetch joined kinds: one query, not one per item
        candidates = [r for r in self._all(*kind.stream_key).values()
                      if selectors.matches(query.requirements, r.labels)
                      and all(self._filter(f, value, r) for f, value in query.filters)]
        keyed = [(_sort_key(query.sort, r), r) for r in candidates]
        return paginate(keyed, query, lambda r: self._render(r))

    def _filter(self, f: Filter, value: str, resource: StoredResource) -> bool:
        if f.match is Match.ID:
            return resource.id == value
        if f.match is Match.SPEC:
            return (resource.spec or {}).get(f.target) == value
        if f.match is Match.LABEL:
            return resource.labels.get(f.target) == value
        other = self._all(*catalog.by_name(f.kind).stream_key).get(resource.id)
        return other is not None and other.labels.get(f.target) == value


def _sort_key(sort: str, resource: StoredResource) -> str | None:
    name = sort.lstrip("-")
    if name == "id":
        return None
    moment = getattr(resource, name)
    return "" if moment is None else projections.rfc3339(moment)


def paginate(items: list[tuple[str | None, Any]], query: ListQuery, render: Callable[[Any], bytes | None]) -> Page:
    """Keyset pagination in Python for collections that are not read with SQL: ``items`` are
    (sort key or None for id sorts, item with ``.id`` or a (id, document) pair)."""

    def ident(item: Any) -> str:
        return item[0] if isinstance(item, tuple) else item.id

    descending = query.sort.startswith("-")
    ordered = sorted(items, key=lambda pair: (pair[0] or "", ident(pair[1])), reverse=descending)
    if query.cursor is not None:
        mark = (query.cursor.key or "", query.cursor.id)
        ordered = [pair for pair in ordered
                   if ((pair[0] or "", ident(pair[1])) < mark if descending else (pair[0] or "", ident(pair[1])) > mark)]
    next_cursor = None
    if query.limit is not None and len(ordered) > query.limit:
        ordered = ordered[: query.limit]
        key, last = ordered[-1]
        next_cursor = qp.Cursor(query.sort, key, ident(last))
    documents = [doc for doc in (render(item) for _, item in ordered) if doc is not None]
    return Page(json_array(documents), len(items), next_cursor)


def _json(value: Any) -> Any:
    if isinstance(value, str | bytes):
        return json.loads(value)
    return value
