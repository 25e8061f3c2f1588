"""Command-line options shared by several subcommands, each with its environment fallback."""

from __future__ import annotations

import argparse
import os

from models.db import DATABASE_URL_ENV, DEFAULT_DATABASE_URL

ENDPOINT_ENV = "OMNI_ENDPOINT"
SERVICE_ACCOUNT_KEY_ENVS = ("SIDERO_SERVICE_ACCOUNT_KEY", "OMNI_SERVICE_ACCOUNT_KEY")


def add_database_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        default=os.environ.get(DATABASE_URL_ENV, DEFAULT_DATABASE_URL),
        help=f"SQLAlchemy URL of the read model (env {DATABASE_URL_ENV}; default {DEFAULT_DATABASE_URL}); "
        "postgresql://user@host/db uses psycopg 3",
    )


def add_endpoint(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--endpoint",
        default=os.environ.get(ENDPOINT_ENV),
        help=f"Omni endpoint URL, as omnictl takes it (env {ENDPOINT_ENV}): https://host[:443] is TLS, "
        "http:// and grpc:// are plaintext h2c. The service account key is read from "
        "OMNI_SERVICE_ACCOUNT_KEY (or SIDERO_SERVICE_ACCOUNT_KEY), never from the command line",
    )
