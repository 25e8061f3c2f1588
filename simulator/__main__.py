"""``python -m simulator ...``: the ``simulate`` subcommand without the product's CLI."""

from __future__ import annotations

import argparse
import sys

from models.logs import LEVELS, configure_logging
from models.options import HelpFormatter
from simulator import cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulator", formatter_class=HelpFormatter)
    parser.add_argument("--log-level", default="WARNING", choices=LEVELS, type=str.upper)
    cli.add_arguments(parser)
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    return cli.run(args)


if __name__ == "__main__":
    sys.exit(main())
