"""``omni-readmodel export``: the read model as JSON lines, now or as of a revision or time.

One resource per line, sorted by namespace, type, id, in the exact text ``simulator/export.py`` writes
for Omni's state (``{"annotations","id","labels","namespace","phase","spec","type","version"}``, keys
sorted, compact), so the two compare byte for byte. ``version`` is the COSI version string; versionless
resources (EtcdBackups, stored as 0) export as ``"undefined"``.
"""

from __future__ import annotations

import argparse
import heapq
import json
import sys
from collections.abc import Iterator
from typing import TextIO

from models import catalog, history, migrate
from models.db import SchemaError, create_engine, redacted
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
    for kind in catalog.KINDS:
        if value in (kind.type, kind.name):
            return kind.type
    return value  # not in the catalog: an empty result, not an error


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


def run(args: argparse.Namespace) -> int:
    engine = create_engine(args.database_url)
    try:
        migrate.check_schema(engine)
        with engine.connect() as conn:
            write_export(conn, sys.stdout, args.type, args.at)
    except SchemaError as exc:
        print(f"omni-readmodel export: {redacted(engine.url)}: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"omni-readmodel export: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    sys.stdout.flush()
    return 0
