"""``omni-readmodel migrate``: bring the database to this release's schema (a no-op when it is)."""

from __future__ import annotations

import argparse

from models import migrate
from models.db import create_engine, redacted
from models.options import add_database_url


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_database_url(parser)


def run(args: argparse.Namespace) -> int:
    engine = create_engine(args.database_url)
    try:
        with engine.connect() as connection:
            before = migrate.current_revision(connection)
        migrate.upgrade(engine)
        after = migrate.head_revision()
    finally:
        engine.dispose()
    where = redacted(engine.url)
    if before == after:
        print(f"{where}: schema already at {after}")
    else:
        print(f"{where}: migrated {before or 'empty database'} -> {after}")
    return 0
