"""``omni-readmodel report NAME``: the reports of ``models.reports`` (the same as ``/api/v1/reports``)."""

from __future__ import annotations

import argparse
import os
import sys

from models import migrate, reports
from models.db import SchemaError, create_engine, database_url, missing_sqlite_file, redacted
from models.options import add_database_url


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", metavar="NAME", help=f"one of: {', '.join(reports.REPORTS)}")
    parser.add_argument("--list", action="store_true", help="describe the reports and exit")
    parser.add_argument("--since", metavar="WHEN",
                        help="start: an age (90d, 12h, 2w, 30m), a date or an RFC 3339 time (UTC); "
                        "default: the first event")
    parser.add_argument("--until", metavar="WHEN", help="end, same forms (default: now)")
    parser.add_argument("--cluster", metavar="ID", help="only this cluster (default: the whole fleet)")
    parser.add_argument("--format", choices=reports.FORMATS, default="table", help="output (default: table)")
    parser.add_argument("--limit", metavar="N", default=str(reports.DEFAULT_LIMIT),
                        help=f"at most N rows (1 to {reports.MAX_LIMIT}; default {reports.DEFAULT_LIMIT})")
    add_database_url(parser)


def _fail(message: str) -> int:
    print(f"omni-readmodel report: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    if args.list:
        sys.stdout.write(reports.describe_text())
        return 0
    if not args.name:
        return _fail(f"name a report (one of: {', '.join(reports.REPORTS)}), or --list")
    try:
        report = reports.get(args.name)
        params = reports.parse_params(report, {"since": args.since, "until": args.until,
                                               "cluster": args.cluster, "limit": args.limit})
    except reports.ReportError as exc:
        return _fail(str(exc))
    url = database_url(args.database_url)
    if missing_sqlite_file(url) is not None:
        return _fail(f"database {redacted(url)} does not exist")
    engine = create_engine(url)
    try:
        migrate.check_schema(engine)
        with engine.connect() as conn:
            result = reports.run(conn, report, params)
    except SchemaError as exc:
        return _fail(f"{redacted(engine.url)}: {exc}")
    finally:
        engine.dispose()
    try:
        sys.stdout.write(reports.render(result, args.format))
        sys.stdout.flush()
    except BrokenPipeError:  # `report ... | head`: the reader is gone, which is fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    if result.truncated:
        print(f"omni-readmodel report: showing the first {params.limit} rows; raise --limit or narrow "
              "--since/--until", file=sys.stderr)
    return 0
