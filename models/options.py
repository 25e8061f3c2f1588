"""Command-line options for the read model, shared by every process that opens it (environment fallback included)."""

from __future__ import annotations

import argparse
import os

from models.db import DATABASE_URL_ENV, DEFAULT_DATABASE_URL


def add_database_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        default=os.environ.get(DATABASE_URL_ENV, DEFAULT_DATABASE_URL),
        help=f"SQLAlchemy URL of the read model (env {DATABASE_URL_ENV}; default {DEFAULT_DATABASE_URL}); "
        "postgresql://user@host/db uses psycopg 3",
    )
