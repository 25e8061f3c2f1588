"""Command-line options for the read model, shared by every process that opens it (environment fallback included)."""

from __future__ import annotations

import argparse
import os

from models.db import DATABASE_URL_ENV, DEFAULT_DATABASE_URL


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` names every option's default: appended as ``(default: X)`` unless the help text already
    says it (options whose default is None or comes from the environment must say it in words, so that
    ``--help`` never prints a secret taken from the environment)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "default" in text.lower() or action.default in (None, argparse.SUPPRESS):
            return text
        return super()._get_help_string(action)


def add_database_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        default=os.environ.get(DATABASE_URL_ENV, DEFAULT_DATABASE_URL),
        help=f"SQLAlchemy URL of the read model (env {DATABASE_URL_ENV}; default {DEFAULT_DATABASE_URL}); "
        "postgresql://user@host/db uses psycopg 3",
    )
