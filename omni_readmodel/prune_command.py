"""``omni-readmodel prune --older-than 30d | --before REVISION``: remove history older than a horizon.

Current answers and every point at or after the horizon stay as they were (models/retention.py). Safe
while the watcher runs: it deletes only below the head, in small transactions.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from models import migrate, reports, retention
from models.db import SchemaError, create_engine, database_url, missing_sqlite_file, redacted
from models.options import add_database_url


def add_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--older-than", metavar="AGE", help="remove history older than this age (30d, 12h, 2w); no default: this or --before is required")
    which.add_argument("--before", metavar="REVISION", type=int, help="remove history before this revision; no default: this or --older-than is required")
    parser.add_argument("--chunk", type=int, default=retention.DEFAULT_CHUNK, metavar="N",
                        help=f"revisions per transaction (default {retention.DEFAULT_CHUNK})")
    add_database_url(parser)


def _fail(message: str) -> int:
    print(f"omni-readmodel prune: {message}", file=sys.stderr)
    return 2


def _age(text: str) -> datetime:
    """An age as `report --since` reads one; only ages (a date or time is not an age)."""
    if not reports.is_age(text):
        raise retention.RetentionError(f"--older-than {text!r}: give an age such as 30d, 12h or 2w")
    return reports.parse_time("older-than", text, datetime.now(UTC))


def run(args: argparse.Namespace) -> int:
    url = database_url(args.database_url)
    if missing_sqlite_file(url) is not None:
        return _fail(f"database {redacted(url)} does not exist")
    if args.chunk < 1:
        return _fail("--chunk must be at least 1")
    engine = create_engine(url)
    try:
        migrate.check_schema(engine)
        older_than = _age(args.older_than) if args.older_than else None
        with engine.connect() as conn:
            horizon = retention.horizon_for(conn, before=args.before, older_than=older_than)
        done = retention.prune(engine, horizon, args.chunk)
    except retention.RetentionError as exc:
        return _fail(str(exc))
    except SchemaError as exc:
        return _fail(f"{redacted(engine.url)}: {exc}")
    finally:
        engine.dispose()
    if done.deleted == 0 and done.horizon == done.previous_horizon:
        print(f"horizon already at revision {done.horizon}: nothing to prune")
    else:
        print(f"horizon now revision {done.horizon} (was {done.previous_horizon}): {done.deleted} events removed")
    return 0


