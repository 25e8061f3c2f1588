"""``omni-readmodel watch``: stream Omni into the read model (the only writer).

Exit codes: 0 stopped on SIGTERM/SIGINT (the open batch committed); 1 a runtime failure (fenced by a
newer writer, lost the writer lock, database unusable); 2 a configuration problem (unmigrated or newer
schema, missing key, bad endpoint, unknown kind, another watcher already writing to the SQLite file).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from models import catalog, migrate, reports
from models.catalog import Delivery, Kind
from models.db import SchemaError, create_engine, redacted, sqlite_page_cache
from models.options import add_database_url
from omni_client.endpoint import EndpointError, add_endpoint, open_aio_channel, parse_endpoint
from omni_client.signing import ServiceAccountKey, ServiceAccountKeyError
from watcher import metrics
from watcher.backoff import BackoffPolicy
from watcher.decode import ZstdDictionary
from watcher.documents import load_projections
from watcher.pruner import DEFAULT_EVERY
from watcher.service import EXIT_CONFIG, EXIT_FAILED, WatchConfig, Watcher

log = logging.getLogger("watcher")


def _int_in(low: int, high: int | None = None, unit: str = "") -> Callable[[str], int]:
    """An argparse type: an int in [low, high] (no upper bound when high is None)."""
    def parse(text: str) -> int:
        value = int(text)
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(
                f"must be at least {low}" if high is None else f"must be between {low} and {high}{unit}")
        return value
    return parse


# Measured bootstrapping 10k machines (docs/benchmarks.md): on SQLite 1000 instead of 2000 took the peak RSS
# from ~222 to ~202 MB at the same rate; on PostgreSQL (WatchConfig's 2000) 1000 bootstrapped ~15 % slower.
SQLITE_BATCH_ITEMS = 1000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_endpoint(parser)
    add_database_url(parser)
    parser.add_argument("--ca-file", type=Path, help="PEM CA bundle for an https:// endpoint (default: system roots)")
    parser.add_argument("--insecure-no-auth", action="store_true",
                        help="do not sign calls (an Omni with authentication disabled, or a local simulator); "
                        "without it OMNI_SERVICE_ACCOUNT_KEY is required")
    parser.add_argument("--kinds", action="append", metavar="KIND[,KIND...]",
                        help="only these kinds: catalog names (Machine) or type strings "
                        "(Machines.omni.sidero.dev); repeatable; default: every watched and polled kind")
    parser.add_argument("--migrate", action="store_true",
                        help="run the schema migrations first (otherwise an unmigrated database is an error)")
    parser.add_argument("--metrics-port", type=int, metavar="PORT",
                        help="serve Prometheus metrics on this port (default: off)")
    parser.add_argument("--poll-interval", type=float, default=60.0, metavar="SECONDS",
                        help="how often polled kinds (EtcdBackups) are listed (default 60)")
    parser.add_argument("--zstd-dictionary", type=Path, metavar="FILE",
                        help="Omni's zstd dictionary, to decode compressed_* spec fields directly (needs the "
                        "'zstandard' package; default: none, their text is then taken from yaml_spec)")
    parser.add_argument("--retention", metavar="AGE",
                        help="keep this much history (30d, 12h, 2w) and prune older events while watching, in "
                        "small transactions (as `omni-readmodel prune --older-than AGE` does); default: keep all")
    parser.add_argument("--retention-every", type=float, default=DEFAULT_EVERY, metavar="SECONDS",
                        help=f"how often --retention moves the horizon (default {DEFAULT_EVERY:g})")
    tuning = parser.add_argument_group("tuning")
    tuning.add_argument("--batch-size", type=_int_in(1), metavar="ITEMS",
                        help="max queued items per transaction (default: 1000 on SQLite, where the batch's "
                        "memory adds to the page cache's in this process; 2000 on PostgreSQL, where smaller "
                        "batches bootstrap slower)")
    tuning.add_argument("--sqlite-cache-mib", type=_int_in(1, 65536, " MiB"), default=32, metavar="MIB",
                        help="SQLite page cache per connection, grown only as pages are used; it counts in the "
                        "watcher's memory, and a larger one keeps freshness on a log of millions of events "
                        "(docs/deployment.md) (default: 32)")
    tuning.add_argument("--batch-latency-ms", type=float, default=20.0,
                        help="max wait after the first queued item before committing (default 20)")
    tuning.add_argument("--batch-quiet-ms", type=float, default=3.0,
                        help="live: commit once no event arrived for this long (default 3)")
    tuning.add_argument("--batch-window-factor", type=float, default=0.5, metavar="FACTOR",
                        help="live: a batch gathers for FACTOR times the recent average commit time, between "
                        "--batch-quiet-ms and --batch-latency-ms, so batches grow with bursts and stay small "
                        "when quiet; 0 always waits up to --batch-latency-ms (default 0.5)")
    tuning.add_argument("--writer-thread", choices=("auto", "on", "off"), default="auto",
                        help="apply batches on a thread while the streams go on reading: 'auto' on PostgreSQL "
                        "(a batch mostly waits on round trips), not on SQLite (default auto)")
    tuning.add_argument("--pg-synchronous-commit", choices=("on", "off"), default="on",
                        help="PostgreSQL: 'off' does not wait for the WAL flush at each commit (lower latency "
                        "under load). A server crash may then lose the last moments of commits: the watcher "
                        "re-reads them from Omni (the bookmarks are in the same transactions), but readers "
                        "may have seen revisions that get other events afterwards (default on)")
    tuning.add_argument("--backoff-initial", type=float, default=0.5, metavar="SECONDS",
                        help="first reconnect delay; doubles per failure (with jitter)")
    tuning.add_argument("--backoff-max", type=float, default=30.0, metavar="SECONDS", help="reconnect delay cap")
    tuning.add_argument("--lock-check-interval", type=float, default=5.0, metavar="SECONDS",
                        help="how often a PostgreSQL writer checks that it still holds the writer lock (default 5)")


def select_kinds(names: list[str] | None) -> list[Kind]:
    """The kinds to follow: every WATCH and POLL kind, or those named (by name or type string)."""
    followed = [kind for kind in catalog.KINDS if kind.delivery in (Delivery.WATCH, Delivery.POLL)]
    if not names:
        return followed
    wanted: list[Kind] = []
    for name in (n.strip() for value in names for n in value.split(",")):
        if not name:
            continue
        kind = next((k for k in catalog.KINDS if name in (k.name, k.type)), None)
        if kind is None:
            raise ValueError(f"unknown kind {name!r}: use a catalog name (e.g. Machine) or type string")
        if kind not in followed:
            raise ValueError(f"kind {kind.name} is not readable through the State API ({kind.note or 'live only'})")
        if kind not in wanted:
            wanted.append(kind)
    clusters = catalog.by_name("Cluster")
    if any(k.delivery is Delivery.POLL for k in wanted) and clusters not in wanted:
        wanted.append(clusters)  # polled kinds are listed per cluster, from the Clusters this watcher follows
    return wanted


def _retention(text: str | None, every: float) -> timedelta | None:
    """``--retention AGE`` as a duration (None: keep everything)."""
    if every <= 0:
        raise ValueError("--retention-every must be a positive number of seconds")
    if text is None:
        return None
    if not reports.is_age(text):
        raise ValueError(f"--retention {text!r}: give an age such as 30d, 12h or 2w")
    now = datetime.now(UTC)
    keep = now - reports.parse_time("retention", text, now)
    if keep <= timedelta(0):
        raise ValueError(f"--retention {text!r}: give an age above zero")
    return keep


def commit_without_flush(engine: sa.Engine, enabled: bool) -> None:
    """``--pg-synchronous-commit off``: every connection of ``engine`` commits without waiting for its WAL
    flush (PostgreSQL only; SQLite in WAL mode with synchronous=NORMAL already does not sync per commit)."""
    if enabled and engine.dialect.name == "postgresql":
        sa.event.listen(engine, "connect", _asynchronous_commit)


def _asynchronous_commit(dbapi_connection, _record) -> None:
    """``--pg-synchronous-commit off``: this session's commits return before their WAL is flushed."""
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
    dbapi_connection.commit()


def _fail(message: str) -> int:
    print(f"omni-readmodel watch: {message}", file=sys.stderr)
    return EXIT_CONFIG


def run(args: argparse.Namespace) -> int:
    tty = sys.stderr.isatty()  # the log format was chosen by the CLI (models/logs.py)
    try:
        endpoint = parse_endpoint(args.endpoint)
        kinds = select_kinds(args.kinds)
        key = None if args.insecure_no_auth else ServiceAccountKey.from_env()
        zstd = ZstdDictionary(args.zstd_dictionary) if args.zstd_dictionary else None
        retention = _retention(args.retention, args.retention_every)
    except (EndpointError, ValueError, ServiceAccountKeyError, RuntimeError, OSError) as exc:
        return _fail(str(exc))

    engine = create_engine(args.database_url)
    sqlite_page_cache(engine, args.sqlite_cache_mib)
    where = redacted(engine.url)
    commit_without_flush(engine, args.pg_synchronous_commit == "off")
    try:
        if not args.migrate:
            migrate.check_schema(engine)  # fail fast, before waiting for the writer lock
    except SchemaError as exc:
        engine.dispose()
        return _fail(f"{where}: {exc}")
    except Exception as exc:  # cannot connect: say where, never with the password
        engine.dispose()
        print(f"omni-readmodel watch: cannot open {where}: {type(exc).__name__}", file=sys.stderr)
        return EXIT_FAILED

    def before_start() -> None:
        # Under the writer lock: two watchers started with --migrate never migrate at once.
        if args.migrate:
            report = migrate.upgrade_in_child(engine, args.log_level)
            if report:
                log.info("%s", report)
        migrate.check_schema(engine)

    if args.metrics_port:
        try:
            metrics.serve(args.metrics_port)
        except OSError as exc:
            engine.dispose()
            return _fail(f"cannot serve metrics on port {args.metrics_port}: {exc.strerror or exc}")
    config = WatchConfig(
        kinds=kinds,
        batch_items=args.batch_size or (SQLITE_BATCH_ITEMS if engine.dialect.name == "sqlite"
                                        else WatchConfig.batch_items),
        batch_latency=args.batch_latency_ms / 1000.0,
        batch_quiet=args.batch_quiet_ms / 1000.0,
        commit_factor=args.batch_window_factor,
        writer_thread={"auto": None, "on": True, "off": False}[args.writer_thread],
        poll_interval=args.poll_interval,
        backoff=BackoffPolicy(initial=args.backoff_initial, maximum=args.backoff_max),
        lock_check_interval=args.lock_check_interval,
        zstd=zstd,
        tty=tty,
        retention=retention,
        retention_every=args.retention_every,
    )
    watcher = Watcher(engine, lambda: open_aio_channel(endpoint, key, args.ca_file), config, load_projections(),
                      before_start)
    previous = {sig: signal.signal(sig, lambda *_: watcher.stop()) for sig in (signal.SIGTERM, signal.SIGINT)}
    log.info("watching %d kinds from %s into %s", len(kinds), endpoint, where,
             extra={"fields": {"endpoint": str(endpoint), "database": where, "kinds": len(kinds),
                               "signed": key is not None, "batch_items": config.batch_items}})
    try:
        return watcher.run()
    except SchemaError as exc:
        return _fail(f"{where}: {exc}")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        engine.dispose()
