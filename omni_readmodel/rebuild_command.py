"""``omni-readmodel rebuild [--check]``: recompute the projection (resources, labels, documents) and the daily
rollup from the log.

The path for shipping a new document field, a fixed projection or a changed rollup. ``--check`` does not
write: it lists how the stored projection and rollup differ from the log and exits 1 if they do (the
rollup is folded afresh in temporary tables). Once history has been pruned the rollup is left alone: its
days before the horizon exist nowhere else. Without it, the command is a writer: it
takes the writer lock (so no watcher may run meanwhile), takes over the fencing epoch, and replaces the
projection in one transaction whose commit is fenced like the watcher's.
"""

from __future__ import annotations

import argparse
import sys
import threading
from dataclasses import replace

import sqlalchemy as sa

from models import migrate, rebuild, rollup
from models.db import SchemaError, create_engine, database_url, missing_sqlite_file, redacted
from models.options import add_database_url
from models.schema import kind_revisions, resources
from watcher.documents import load_projections
from watcher.lock import WriterLockHeld, writer_lock
from watcher.sql import read_json
from watcher.state import decoded_from_stored
from watcher.writer import Writer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_database_url(parser)
    parser.add_argument("--check", action="store_true",
                        help="compare the projection with the log; exit 1 listing the differences (default: rebuild)")
    parser.add_argument("--lock-wait", type=float, default=5.0, metavar="SECONDS",
                        help="how long to wait for the writer lock held by a watcher (default: 5)")


def _fail(message: str) -> int:
    print(f"omni-readmodel rebuild: {message}", file=sys.stderr)
    return 2


def check(engine) -> int:
    with engine.connect() as conn:
        wanted = rebuild.expected(conn)
        found = list(rebuild.differences(conn, wanted))
        pruned = not rollup.recomputable(conn)
        if not pruned:
            folded_to, stored = rollup.stored_counts(conn)
    if not pruned:
        found += rollup.count_differences(stored, rollup.recomputed_counts(engine, folded_to))
    for line in found:
        print(line)
    if found:
        print(f"omni-readmodel rebuild --check: {len(found)} differences from the log; "
              "run `omni-readmodel rebuild` with the watcher stopped", file=sys.stderr)
        return 1
    print(f"projection matches the log: {len(wanted)} resources")
    print("rollup not checked: the log was pruned, the days before the horizon exist only in the rollup" if pruned
          else f"rollup matches the log: {len(stored)} daily counts up to revision {folded_to}")
    return 0


def write(engine, lock_wait: float) -> int:
    lock = writer_lock(engine)
    if lock is not None:
        stop = threading.Event()
        timer = threading.Timer(lock_wait, stop.set)
        timer.start()
        try:
            if not lock.acquire(stop):
                return _fail(f"a watcher holds the writer lock of {redacted(engine.url)}; stop it first")
        except WriterLockHeld as exc:
            return _fail(str(exc))
        finally:
            timer.cancel()
    writer = Writer(engine, load_projections())
    try:
        writer.take_over("rebuild")
        with engine.connect() as conn:
            wanted = rebuild.expected(conn, writer.head)
            changed = sum(1 for _ in rebuild.differences(conn, wanted))
            wanted, moved = _moving_etags(conn, wanted, writer.head)
            kinds = {**rebuild.expected_kind_revisions(conn, wanted, writer.head), **moved}
            stored_kinds = {(r.namespace, r.type): int(r.revision) for r in conn.execute(sa.select(kind_revisions))}
            refold_rollup = rollup.recomputable(conn)
        kinds = {k: max(v, stored_kinds.get(k, 0)) for k, v in kinds.items()}  # never backwards (prune)
        replace_projection(writer, wanted, kinds, refold_rollup)
    finally:
        writer.close()
        if lock is not None:
            lock.release()
    print(f"rebuilt {len(wanted)} resources from {writer.head} events ({changed} differences fixed); "
          + ("daily rollup folded again" if refold_rollup else "daily rollup kept: the log was pruned"))
    return 0


def _moving_etags(conn, wanted: dict, head: int) -> tuple[dict, dict]:
    """Rows whose content the rebuild changes get the head revision, so ETags and page caches move; so do
    the kinds of rows it removes. Returns the rows and those kinds."""
    stored = {(r.namespace, r.type, r.id): r for r in conn.execute(
        sa.select(resources.c.namespace, resources.c.type, resources.c.id, resources.c.document,
                  resources.c.spec, resources.c.labels, resources.c.version))}
    out = {}
    for key, row in wanted.items():
        old = stored.get(key)
        same = old is not None and old.document == row.document and old.version == row.resource.version \
            and read_json(old.spec) == row.resource.spec and read_json(old.labels) == row.resource.labels
        out[key] = row if same else replace(row, revision=head)
    return out, {(key[0], key[1]): head for key in stored.keys() - wanted.keys()}


def replace_projection(writer: Writer, wanted: dict, kinds: dict, refold_rollup: bool = False) -> None:
    """One fenced transaction: the meta row still names this writer's epoch and head, or nothing changes."""
    sql, conn = writer.sql, writer.conn
    upserts, labels = [], []
    for key, row in sorted(wanted.items()):
        res = decoded_from_stored(row.resource)
        upserts.append((res.namespace, res.type, res.id, res.version, res.phase, res.owner,
                        sql.timestamp(res.created_text), sql.timestamp(res.updated_text), res.labels_json,
                        res.annotations_json, res.finalizers_json, res.spec_json, row.revision, row.document))
        labels += [(key[0], key[1], k, v, key[2]) for k, v in res.labels.items()]
    cur = conn.cursor()
    if writer.sqlite:
        cur.execute("BEGIN IMMEDIATE")
    try:
        cur.execute(sql.advance_head.sql, writer._bind(sql.advance_head, epoch=writer.epoch, old_head=writer.head,
                                                       head=writer.head, heartbeat=writer._now_value()))
        if cur.rowcount != 1:
            raise RuntimeError("another writer took over during the rebuild; nothing was changed")
        cur.execute("DELETE FROM resource_labels")
        cur.execute("DELETE FROM resources")
        if upserts:
            cur.executemany(sql.upsert_resource.sql, upserts)
        if labels:
            cur.executemany(sql.insert_label.sql, labels)
        if kinds:
            cur.executemany(sql.upsert_kind_revision.sql, [(*kind, revision) for kind, revision in kinds.items()])
        if refold_rollup:
            rollup.refold(cur, writer.engine.dialect, writer.head)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise


def run(args: argparse.Namespace) -> int:
    url = database_url(args.database_url)
    if missing_sqlite_file(url) is not None:
        return _fail(f"database {redacted(url)} does not exist")
    engine = create_engine(url)
    try:
        migrate.check_schema(engine)
        return check(engine) if args.check else write(engine, args.lock_wait)
    except SchemaError as exc:
        return _fail(f"{redacted(engine.url)}: {exc}")
    finally:
        engine.dispose()
