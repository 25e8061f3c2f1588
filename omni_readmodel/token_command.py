"""``omni-readmodel token``: create, list and revoke the API's bearer tokens (``serve --auth tokens``).

An admin command like ``migrate``: it writes to the read model's database, which every API replica reads.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from models import migrate, tokens
from models.db import SchemaError, create_engine
from models.options import add_database_url


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser("create", help="create a token and print it (once)",
                                description="Create a token and print it; only its SHA-256 is stored.")
    create.add_argument("name", help="a unique name, logged by the API instead of the token")
    create.add_argument("--scope", action="append", choices=tokens.SCOPES, required=True, dest="scopes",
                        help="what the token may read: read (every route but the sensitive ones), sensitive "
                             "(kubeconfigs); repeat for both (required)")
    create.add_argument("--expires", default="never",
                        help="lifetime: 90d, 12h, 30m, 2w, or never (default never)")
    listing = actions.add_parser("list", help="name, scopes, dates and state of every token (never the token)")
    revoke = actions.add_parser("revoke", help="revoke a token; every API worker refuses it within 2 s")
    revoke.add_argument("name")
    for action in (create, listing, revoke):
        add_database_url(action)


def run(args: argparse.Namespace) -> int:
    engine = create_engine(args.database_url)
    try:
        migrate.check_schema(engine)
        with engine.begin() as connection:
            if args.action == "create":
                token = tokens.create(connection, args.name, args.scopes, tokens.parse_duration(args.expires))
                print(token)
                print(f"token {args.name!r} created; it is shown only this once", file=sys.stderr)
            elif args.action == "list":
                _print_table(tokens.list_all(connection))
            else:
                token = tokens.revoke(connection, args.name)
                print(f"token {token.name!r} revoked at {_when(token.revoked)}")
    except (SchemaError, tokens.TokenError) as exc:
        print(f"omni-readmodel token: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


def _when(moment: datetime | None) -> str:
    return "never" if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _print_table(records: list[tokens.Token]) -> None:
    now = datetime.now(UTC)
    rows = [("NAME", "SCOPES", "CREATED", "EXPIRES", "STATE")]
    rows += [(t.name, ",".join(sorted(t.scopes)), _when(t.created), _when(t.expires), t.state(now))
             for t in records]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
