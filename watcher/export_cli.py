"""``omni-readmodel export``: the read model as JSON lines, now or as of a revision or time.

One resource per line, sorted by namespace, type, id, in the exact text ``simulator/export.py`` writes
for Omni's state (``{"annotations","id","labels","namespace","phase","spec","type","version"}``, keys
sorted, compact), so the two compare byte for byte. ``version`` is the COSI version string; versionless
resources (EtcdBackups, stored as 0) export as ``"undefined"``.

``--at`` follows the API's ``at=`` rules (models/history.py): beyond the head, before the log or inside
the first bootstrap is an error. An unknown ``--type`` is an error listing the known ones; a SQLite
file that does not exist is an error (never a new empty database). Writing into a closed pipe
(``export | head``) ends quietly with status 141, as a program killed by SIGPIPE does.
"""

from __future__ import annotations

import argparse
import heapq
import json
import os
import sys
from collections.abc import Iterator
from typing import TextIO

from models import catalog, history, migrate
from models.db import SchemaError, create_engine, missing_sqlite_file, redacted
from models.options import add_database_url
from models.resource import StoredResource

UNDEFINED_VERSION = "undefined"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_database_url(parser)
    parser.add_argument("--type", action="append", metavar="TYPE",
                        help="only this kind: a type string (Machines.omni.sidero.dev) or catalog name "
                        "(Machine); repeatable (default: every stored kind)")
    parser.add_argument("--at", metavar="REVISION|TIME",
                        help="the state as of this event-log revision or RFC 3339 time (default: now)")


def export_line(res: StoredResource) -> str:
    """One line, without newline (the same text as ``simulator.export.format_record``)."""
    version = UNDEFINED_VERSION if res.version == 0 else str(res.version)
    return json.dumps({"namespace": res.namespace, "type": res.type, "id": res.id, "version": version,
                       "phase": res.phase, "labels": res.labels, "annotations": res.annotations,
                       "spec": res.spec}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _type_string(value: str) -> str:
    for kind in catalog.stored_kinds():
        if value in (kind.type, kind.name):
            return kind.type
    known = ", ".join(sorted(kind.name for kind in catalog.stored_kinds()))
    raise ValueError(f"unknown --type {value!r}: known kinds (by name or type string) are {known}")


def resources(conn, types: list[str] | None = None, at: str | None = None) -> Iterator[StoredResource]:
    """The exported resources in order: current, or as of ``at`` (a revision or an RFC 3339 time)."""
    revision = None if at is None else history.resolve_point(conn, history.parse_point(at))
    selected = sorted({_type_string(t) for t in types}) if types else [None]
    streams = [history.current(conn, type_=t) if revision is None else history.at_revision(conn, revision, type_=t)
               for t in selected]
    if len(streams) == 1:
        return streams[0]
    return heapq.merge(*streams, key=lambda r: (r.namespace, r.type, r.id))


def write_export(conn, out: TextIO, types: list[str] | None = None, at: str | None = None) -> int:
    """Write the export to ``out``; returns the number of lines."""
    lines = 0
    for res in resources(conn, types, at):
        out.write(export_line(res))
        out.write("\n")
        lines += 1
    return lines


EXIT_BROKEN_PIPE = 128 + 13  # what a shell reports for a program killed by SIGPIPE


def run(args: argparse.Namespace) -> int:
    missing = missing_sqlite_file(args.database_url)
    if missing is not None:
        print(f"omni-readmodel export: no database at {missing} (run the watcher, or pass --database-url)",
              file=sys.stderr)
        return 2
    engine = create_engine(args.database_url)
    try:
        migrate.check_schema(engine)
        with engine.connect() as conn:
            write_export(conn, sys.stdout, args.type, args.at)
        sys.stdout.flush()
    except SchemaError as exc:
        print(f"omni-readmodel export: {redacted(engine.url)}: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"omni-readmodel export: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader left (export | head): nothing more to say, and nothing for Python to flush at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    finally:
        engine.dispose()
    return 0
