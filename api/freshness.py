"""What a live answer depends on, as cheap version tokens: ETags and the page cache key on them.

The writer keeps ``kind_revisions``: per (namespace, type), the last revision that changed a row of that
kind, documents re-rendered because of a joined kind included (a MachineStatus change re-renders the
Machine document and moves the machines' revision too). So:

- a collection's token is the revisions of the kinds it reads (its own, plus a kind a filter reads);
- an item's token is its own row's revision (the row carries the revision of the joined change that
  re-rendered its document, so joins need nothing more).

The whole table (one row per kind, a few dozen) is re-read at most every ``ttl`` seconds per worker,
like the head. Item revisions are remembered with the kind revision seen before the row was read: while
that kind revision has not moved, the row has not either, so a 304 on an item reads no row. For the same
reason a bounded cache of item documents (``serve --item-cache-mb``) answers a repeated item GET without a
row read while its kind stands still; the document answered is the one at the head revision the answer
reports. A kind that churns (machines during an upgrade) moves its revision every batch and finds little
in it.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from api.byte_cache import ByteBudgetCache
from api.database import Database
from api.queries import document_bytes
from models import catalog
from models.schema import kind_revisions, meta, resources

StreamKey = tuple[str, str]


class Freshness:
    """One worker's view of the kind revisions, and the revisions of the items it has served."""

    MAX_ITEMS = 50_000  # about 10 MB at most; cleared when full

    def __init__(self, db: Database, *, ttl: float = 0.005, item_cache_bytes: int = 0) -> None:
        self.db = db
        self._ttl = ttl
        # (type, id) -> (kind revision, row revision, document)
        self.documents: ByteBudgetCache[tuple[int, int, bytes]] = ByteBudgetCache(
            item_cache_bytes, lambda entry: len(entry[2]))
        self._kinds: dict[StreamKey, int] = {}
        self._read_at = float("-inf")
        self._tokens: dict[tuple[StreamKey, ...], str] = {}
        self._items: dict[tuple[str, str], tuple[int, int]] = {}  # (type, id) -> (kind revision, row's)
        self._bytes = db.backend == "sqlite"
        # the head revision rides along (namespace and type NULL): one round trip refreshes both
        self._select_kinds = db.compile(sa.union_all(
            sa.select(kind_revisions.c.namespace, kind_revisions.c.type, kind_revisions.c.revision),
            sa.select(sa.null(), sa.null(), meta.c.head_revision).where(meta.c.singleton == sa.literal_column("1"))))
        key = sa.and_(resources.c.namespace == sa.bindparam("namespace"), resources.c.type == sa.bindparam("type"),
                      resources.c.id == sa.bindparam("id"))
        self._select_item = db.compile_positional(sa.select(document_bytes(db.backend), resources.c.revision).where(key))
        if self._select_item.names != ("namespace", "type", "id"):  # the order ``item`` passes them in
            raise RuntimeError(f"unexpected parameter order {self._select_item.names}")

    def kinds(self) -> dict[StreamKey, int]:
        """Every kind's revision (absent: never changed), re-read at most every ``ttl`` seconds."""
        now = time.monotonic()
        if now - self._read_at > self._ttl:
            kinds = {(namespace, type_): int(revision) for namespace, type_, revision in
                     self.db.all(self._select_kinds, {})}
            head = kinds.pop((None, None), None)
            if head is not None:
                self.db.note_head(head, now)
            if kinds != self._kinds:
                self._kinds = kinds
                self._tokens = {}
            self._read_at = now
        return self._kinds

    def refresh(self) -> None:
        """Re-read on next use (after a ``min_revision`` wait: the answer must include that revision)."""
        self._read_at = float("-inf")

    def token(self, depends_on: tuple[StreamKey, ...]) -> str:
        """The revisions of ``depends_on``, as ETag text: ``"12"`` for one kind, ``"12.40"`` for two."""
        kinds = self.kinds()
        token = self._tokens.get(depends_on)
        if token is None:
            token = self._tokens[depends_on] = ".".join(str(kinds.get(key, 0)) for key in depends_on)
        return token

    def known_item(self, kind: catalog.Kind, id_: str) -> int | None:
        """The row revision of an item served before, if its kind has not changed since: no row read."""
        remembered = self._items.get((kind.type, id_))
        if remembered is None or remembered[0] != self.kinds().get(kind.stream_key, 0):
            return None
        return remembered[1]

    def item(self, kind: catalog.Kind, id_: str) -> tuple[int, bytes] | None:
        """(row revision, document) of a current item with a document; the revision is remembered."""
        kind_revision = self.kinds().get(kind.stream_key, 0)  # read before the row: see known_item
        key = (kind.type, id_)
        cached = self.documents.get(key)
        if cached is not None and cached[0] == kind_revision:
            return cached[1], cached[2]
        row = self.db.first(self._select_item, (kind.namespace, kind.type, id_))
        if row is None or row[0] is None:
            return None
        document, revision = row[0] if self._bytes else row[0].encode(), int(row[1])
        if len(self._items) >= self.MAX_ITEMS:
            self._items.clear()
        self._items[key] = (kind_revision, revision)
        self.documents.put(key, (kind_revision, revision, document))
        return revision, document
