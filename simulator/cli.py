"""``omni-readmodel simulate``: run the Omni simulator.

Authentication must be chosen explicitly: ``--service-account-public-key FILE`` (repeatable) makes the
server verify every call's ``x-sidero-*`` signature against those keys, as Omni does; ``--no-auth``
accepts unsigned calls. Without either the command refuses to start.

Once listening it prints one line to stdout and flushes it::

    simulator listening on 127.0.0.1:50051 control 127.0.0.1:50052 (12000 resources, seed 0)

(``control ...`` only with ``--control-listen``; ports are the bound ones, so ``:0`` works). SIGTERM or
SIGINT stop it cleanly with exit status 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

log = logging.getLogger(__name__)


class _ClientGone(logging.Filter):
    """grpc.aio logs a watch response it could not send because the client went away (a watcher that
    stopped or reconnected) as an ERROR with a traceback; for a simulator that is routine: DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.getMessage().startswith("ExecuteBatchError raised in core"):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        record.exc_info = record.exc_text = None
        return logging.getLogger().isEnabledFor(logging.DEBUG)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = parser.description or (
        "An Omni-compatible cosi.resource.State gRPC server with a generated fleet, churn and fault injection.")
    parser.epilog = ("Choose authentication explicitly: --service-account-public-key FILE (verify signed calls, "
                     "as Omni does) or --no-auth. The first stdout line reports the bound addresses.")
    parser.add_argument("--listen", default="127.0.0.1:50051", metavar="HOST:PORT",
                        help="gRPC listen address (port 0 picks a free port) (default %(default)s)")
    parser.add_argument("--clusters", type=int, default=50, metavar="N", help="clusters to generate (default %(default)s)")
    parser.add_argument("--machines", type=int, default=1000, metavar="M", help="machines to generate (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, metavar="S",
                        help="fleet and churn seed: the same seed gives the same fleet (default %(default)s)")
    parser.add_argument("--churn", type=float, default=0.0, metavar="EVENTS_PER_S",
                        help="change events per second (0: a still fleet) (default %(default)s)")
    parser.add_argument("--history", type=int, default=10_000, metavar="EVENTS",
                        help="events kept per kind for bookmark resume (default %(default)s)")
    parser.add_argument("--control-listen", metavar="HOST:PORT",
                        help="serve the HTTP/JSON control surface (faults, churn, state, export) here; loopback "
                             "only, unauthenticated (see simulator/control.py; default: off)")
    auth = parser.add_mutually_exclusive_group(required=True)
    auth.add_argument("--service-account-public-key", action="append", type=Path, metavar="FILE",
                      help="armored OpenPGP public key of a service account whose signed calls are accepted "
                           "(repeatable; default: none); unsigned or badly signed calls get UNAUTHENTICATED")
    auth.add_argument("--no-auth", action="store_true",
                      help="accept unsigned calls (one of this or --service-account-public-key is required)")


def _interceptors(args: argparse.Namespace) -> list:
    if args.no_auth:
        return []
    from simulator.auth import AioSignatureInterceptor, SignatureVerifier

    keys = [path.read_bytes() for path in args.service_account_public_key]
    return [AioSignatureInterceptor(SignatureVerifier(keys))]


def _loopback(address: str) -> bool:
    host = address.rpartition(":")[0].strip("[]")
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


async def _serve(args: argparse.Namespace) -> int:
    from simulator.app import Simulator
    from simulator.control import ControlServer

    simulator = Simulator(seed=args.seed, clusters=args.clusters, machines=args.machines, churn_rate=args.churn,
                          history=args.history, interceptors=_interceptors(args))
    simulator.warm()
    port = await simulator.start(args.listen)
    control = None
    address = f"{args.listen.rpartition(':')[0]}:{port}"
    line = f"simulator listening on {address}"
    if args.control_listen:
        control = ControlServer(simulator)
        try:
            control_port = await control.start(args.control_listen)
        except OSError:
            await simulator.stop()
            raise
        line += f" control {args.control_listen.rpartition(':')[0]}:{control_port}"
    resources = sum(len(c.items) for c in simulator.store.collections.values())
    print(f"{line} ({resources} resources, seed {args.seed})", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping")
    if control is not None:
        await control.stop()
    await simulator.stop()
    return 0


def run(args: argparse.Namespace) -> int:
    if args.control_listen and not _loopback(args.control_listen):
        print("--control-listen must be a loopback address (it has no authentication)", file=sys.stderr)
        return 2
    if args.clusters < 0 or args.machines < 0:
        print("--clusters and --machines must not be negative", file=sys.stderr)
        return 2
    logging.getLogger("grpc._cython.cygrpc").addFilter(_ClientGone())
    try:
        return asyncio.run(_serve(args))
    except OSError as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 1
