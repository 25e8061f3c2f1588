"""``omni-readmodel``: one command, a subcommand per process or task.

Each subcommand lives in the package that owns it and exposes ``add_arguments(parser)`` and
``run(args) -> int``; this module only lists them, so ``--help`` stays fast (modules load on use).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from models.logs import DEFAULT_LEVEL, LEVELS, configure_logging
from models.options import HelpFormatter
from omni_readmodel import __version__

# name -> (module exposing add_arguments/run, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "migrate": ("omni_readmodel.migrate_command", "create or upgrade the read model's schema"),
    "token": ("omni_readmodel.token_command", "create, list and revoke the API's bearer tokens"),
    "watch": ("watcher.cli", "stream Omni into the read model"),
    "export": ("watcher.export_cli", "dump the read model as JSON lines"),
    "serve": ("api.cli", "serve the REST API over the read model"),
    "simulate": ("simulator.cli", "run an Omni-compatible gRPC server with a generated fleet"),
    "demo": ("omni_readmodel.demo", "simulator + watcher + API on SQLite with one command"),
    "prune": ("omni_readmodel.prune_command", "remove history older than a horizon (current answers unchanged)"),
    "rebuild": ("omni_readmodel.rebuild_command", "recompute the projection from the event log (--check: compare only)"),
    "report": ("omni_readmodel.report_command", "fleet reports from the history (machine counts, versions, ...)"),
}


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser; only the subcommand named in ``argv`` is imported (and can add its arguments).

    Importing one subcommand's module must not affect another (prometheus_client, for one, reads
    ``PROMETHEUS_MULTIPROC_DIR`` when it is first imported, which ``serve`` sets before importing it).
    """
    selected = next((arg for arg in argv if arg in SUBCOMMANDS), None)
    parser = argparse.ArgumentParser(
        prog="omni-readmodel", formatter_class=HelpFormatter,
        description="An event-sourced caching read model for Sidero Omni: watch Omni into SQL, serve REST.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    add_log_level(parser, DEFAULT_LEVEL)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text, formatter_class=HelpFormatter)
        # Also after the subcommand; SUPPRESS: when absent there, the value before it (or the default) stands.
        add_log_level(sub, argparse.SUPPRESS)
        if name == selected:
            module = importlib.import_module(module_name)
            module.add_arguments(sub)
            sub.set_defaults(_run=module.run)
    return parser


def add_log_level(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument("--log-level", default=default, choices=LEVELS, type=str.upper,
                        help=f"log records at this level and above, as JSON lines unless stderr is a terminal "
                             f"(default {DEFAULT_LEVEL}; also accepted after the subcommand)")


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    configure_logging(args.log_level)
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
