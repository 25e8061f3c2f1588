"""``omni-readmodel serve``: the REST API on uvicorn (uvloop + httptools), N worker processes."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import shutil
import signal
import ssl
import sys
import tempfile
from typing import TYPE_CHECKING

from api.settings import SETTINGS_ENV, Settings
from models.db import SchemaError
from models.logs import uvicorn_log_config
from models.options import add_database_url
from omni_client.endpoint import add_endpoint

if TYPE_CHECKING:
    from api.database import Database

log = logging.getLogger(__name__)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="TCP port (default 8080)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    add_database_url(parser)
    parser.add_argument(
        "--trust-proxy-headers", action="store_true",
        help="build _links and Link headers from X-Forwarded-Proto, X-Forwarded-Host and X-Forwarded-Prefix "
             "(only behind a proxy that sets them)")
    _add_access_arguments(parser)
    parser.add_argument("--access-log", action="store_true", help="log every request (costs throughput)")
    parser.add_argument("--head-cache-ms", type=float, default=5.0,
                        help="how long a worker reuses the head revision and the kind revisions (read together) for "
                             "ETags (default 5 ms)")
    parser.add_argument("--page-cache-mb", type=int, default=64,
                        help="per worker: keep assembled collection pages while the head revision does not "
                             "move, so identical list requests skip the database (default 64; 0 disables)")
    parser.add_argument("--item-cache-mb", type=int, default=Settings.item_cache_bytes >> 20,
                        help="per worker: keep item documents while their kind does not move, so repeated item "
                             f"GETs skip the database (default {Settings.item_cache_bytes >> 20}; 0 disables)")
    parser.add_argument("--query-timeout", type=float, default=Settings.query_timeout_seconds, metavar="SECONDS",
                        help="cancel any database statement running longer; the request answers 503 saying the "
                             f"query took too long (default {Settings.query_timeout_seconds:g})")
    parser.add_argument("--query-threads", type=int, default=Settings.query_threads, metavar="N",
                        help="per worker: threads that run list pages and point-in-time reads, so a heavy "
                             f"request never stalls the others (default {Settings.query_threads})")
    _add_feed_arguments(parser)
    omni = parser.add_argument_group(
        "kubeconfig pass-through", "GET /api/v1/clusters/{id}/kubeconfig asks Omni live, signed with the service "
        "account key in OMNI_SERVICE_ACCOUNT_KEY (it needs the Operator role); without --endpoint the route "
        "answers 404 saying so")
    add_endpoint(omni)
    omni.add_argument("--ca-file", help="PEM CA bundle for an https:// endpoint (default: system roots)")
    omni.add_argument("--insecure-no-auth", action="store_true",
                      help="call Omni unsigned (only for a simulator started without a key)")
    omni.add_argument("--kubeconfig-user", default="omni-readmodel",
                      help="the Kubernetes user the kubeconfig's token is issued to (default omni-readmodel)")
    omni.add_argument("--kubeconfig-group", action="append", dest="kubeconfig_groups", metavar="GROUP",
                      help="a Kubernetes group of that user, repeatable (default system:masters)")
    omni.add_argument("--kubeconfig-ttl", type=float, default=3600.0, metavar="SECONDS",
                      help="how long the issued token is valid (default 3600 s; Omni allows up to 10 years)")


def _add_feed_arguments(parser: argparse.ArgumentParser) -> None:
    feed = parser.add_argument_group("change feed", "GET /api/v1/events: each worker polls the event log once for "
                                     "all of its feed clients")
    feed.add_argument("--feed-max-subscribers", type=int, default=Settings.feed_max_subscribers, metavar="N",
                      help="per worker: answer 503 with Retry-After beyond N feed clients (0: no feed) "
                           f"(default {Settings.feed_max_subscribers})")
    feed.add_argument("--feed-queue-events", type=int, default=Settings.feed_queue_events, metavar="N",
                      help="a feed client more than N events behind gets `overflow` with the revision to resume "
                           f"from and is closed (default {Settings.feed_queue_events})")
    feed.add_argument("--feed-poll-ms", type=float, default=Settings.feed_poll_seconds * 1000, metavar="MS",
                      help="how often a worker with feed clients looks for new revisions "
                           f"(default {Settings.feed_poll_seconds * 1000:g})")
    feed.add_argument("--feed-heartbeat", type=float, default=Settings.feed_heartbeat_seconds, metavar="SECONDS",
                      help=f"idle feed streams get a heartbeat this often (default {Settings.feed_heartbeat_seconds:g})")
    feed.add_argument("--feed-bookmark", type=float, default=Settings.feed_bookmark_seconds, metavar="SECONDS",
                      help="while filters hide events, a feed client gets a bookmark of the head revision at "
                           f"least this often (default {Settings.feed_bookmark_seconds:g})")


def _feed_problem(args: argparse.Namespace) -> str | None:
    if args.feed_max_subscribers < 0 or args.feed_queue_events < 1:
        return "--feed-max-subscribers must be 0 or more and --feed-queue-events at least 1"
    if not (args.feed_poll_ms > 0 and args.feed_heartbeat > 0 and args.feed_bookmark > 0):
        return "--feed-poll-ms, --feed-heartbeat and --feed-bookmark must be positive"
    return None


class Terminated(Exception):
    """SIGTERM, raised where the process is so that ``finally`` blocks run (the default action skips them)."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


def _add_access_arguments(parser: argparse.ArgumentParser) -> None:
    """Who may call, over what, how many at once: bearer tokens, TLS, CORS, the in-flight cap."""
    parser.add_argument(
        "--auth", choices=("tokens", "none"),
        help="tokens: every route but /livez and /readyz needs Authorization: Bearer (omni-readmodel token); "
             "none: no authentication, the default on loopback and refused beyond it unless given explicitly")
    parser.add_argument("--tls-cert", metavar="FILE", help="serve HTTPS with this PEM certificate (chain) (default: plain HTTP)")
    parser.add_argument("--tls-key", metavar="FILE", help="the PEM private key of --tls-cert (default: none)")
    parser.add_argument("--tls-client-ca", metavar="FILE",
                        help="mutual TLS: require a client certificate signed by a CA in this PEM file "
                             "(default: no client certificate asked)")
    parser.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                        help="allow cross-origin browser requests from ORIGIN (e.g. https://dash.example.com; "
                             "* for any); repeatable; default: no CORS headers")
    parser.add_argument("--max-in-flight", type=int, default=0, metavar="N",
                        help="per worker: answer 429 with Retry-After beyond N requests in progress "
                             "(probes exempt; default 0: no cap)")


def _access_problem(args: argparse.Namespace) -> str | None:
    """Why the access flags cannot be honoured, or None."""
    if not is_loopback(args.host) and args.auth is None:
        return (f"refusing to listen on {args.host} without authentication: pass --auth tokens (create tokens "
                "with `omni-readmodel token create`), or --auth none to serve everyone who can reach the port")
    if bool(args.tls_cert) != bool(args.tls_key):
        return "--tls-cert and --tls-key go together"
    if args.tls_client_ca and not args.tls_cert:
        return "--tls-client-ca needs --tls-cert and --tls-key"
    if args.max_in_flight < 0:
        return "--max-in-flight must be 0 (no cap) or more"
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(args.tls_cert, args.tls_key)
            if args.tls_client_ca:
                context.load_verify_locations(args.tls_client_ca)
        except (OSError, ssl.SSLError) as exc:
            return f"cannot use the TLS files: {exc}"
    return None


def _tls_options(args: argparse.Namespace) -> dict:
    """uvicorn's ssl options for the TLS flags (none without them)."""
    if not args.tls_cert:
        return {}
    options = {"ssl_certfile": args.tls_cert, "ssl_keyfile": args.tls_key}
    if args.tls_client_ca:
        options.update(ssl_ca_certs=args.tls_client_ca, ssl_cert_reqs=ssl.CERT_REQUIRED)
    return options


def _warn_without_tokens(db: Database) -> None:
    from models import tokens

    engine = db.engine()
    try:
        with engine.connect() as connection:
            active = [t for t in tokens.list_all(connection) if t.state() == "active"]
    finally:
        engine.dispose()
    if not active:
        log.warning("--auth tokens: %s holds no active token, every request but the probes will get 401; "
                    "create one with `omni-readmodel token create NAME --scope read`", db.where)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    if args.workers < 1:
        print("omni-readmodel serve: --workers must be at least 1", file=sys.stderr)
        return 2
    problem = _access_problem(args) or _feed_problem(args)
    if problem:
        print(f"omni-readmodel serve: {problem}", file=sys.stderr)
        return 2
    if args.auth == "none" and not is_loopback(args.host):
        log.warning("--auth none on %s: anyone who can reach the port can read the whole read model", args.host)
    if not args.query_timeout > 0 or args.query_threads < 1:
        print("omni-readmodel serve: --query-timeout must be positive and --query-threads at least 1",
              file=sys.stderr)
        return 2
    settings = Settings(args.database_url, args.trust_proxy_headers, max(0.0, args.head_cache_ms) / 1000,
                        max(0, args.page_cache_mb) << 20, item_cache_bytes=max(0, args.item_cache_mb) << 20,
                        query_timeout_seconds=args.query_timeout,
                        query_threads=args.query_threads, omni_endpoint=args.endpoint, omni_ca_file=args.ca_file,
                        omni_insecure_no_auth=args.insecure_no_auth, kubeconfig_user=args.kubeconfig_user,
                        kubeconfig_groups=tuple(args.kubeconfig_groups or ("system:masters",)),
                        kubeconfig_ttl_seconds=args.kubeconfig_ttl, auth=args.auth or "none",
                        cors_origins=tuple(args.cors_origin), max_in_flight=args.max_in_flight,
                        feed_max_subscribers=args.feed_max_subscribers, feed_queue_events=args.feed_queue_events,
                        feed_poll_seconds=args.feed_poll_ms / 1000, feed_heartbeat_seconds=args.feed_heartbeat,
                        feed_bookmark_seconds=args.feed_bookmark)
    from api.kubeconfig import OmniAccess

    try:  # fail here, once, rather than in every worker
        OmniAccess.configure(settings.omni_endpoint, user=settings.kubeconfig_user,
                             groups=settings.kubeconfig_groups, ttl_seconds=settings.kubeconfig_ttl_seconds,
                             ca_file=settings.omni_ca_file, insecure_no_auth=settings.omni_insecure_no_auth)
    except ValueError as exc:
        print(f"omni-readmodel serve: kubeconfig pass-through: {exc}", file=sys.stderr)
        return 2

    from api.database import Database

    db = Database(settings.database_url)
    try:
        db.check_schema()
    except SchemaError as exc:
        print(f"omni-readmodel serve: {exc}", file=sys.stderr)
        return 1
    finally:
        db.close()
    if settings.auth == "tokens":
        _warn_without_tokens(db)

    # uvicorn stops gracefully on SIGTERM, then raises it again with the previous handler restored: with
    # the default one the process would die before removing its metrics directory.
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    own_metrics_dir = None
    try:
        if not os.environ.get(MULTIPROC_ENV):
            own_metrics_dir = tempfile.mkdtemp(prefix="omni-readmodel-metrics-")
            os.environ[MULTIPROC_ENV] = own_metrics_dir
        else:  # a directory we are handed: stale files from an earlier run would be summed in
            for name in os.listdir(os.environ[MULTIPROC_ENV]):
                if name.endswith(".db"):
                    os.unlink(os.path.join(os.environ[MULTIPROC_ENV], name))
        os.environ[SETTINGS_ENV] = settings.to_environment()
        import uvicorn

        level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
        from api.http_limits import LimitedHttpToolsProtocol

        log.info("serving %s on %s://%s:%d with %d worker(s), auth %s", db.where, "https" if args.tls_cert else "http",
                 args.host, args.port, args.workers, settings.auth)
        uvicorn.run("api.app:app_from_environment", factory=True, host=args.host, port=args.port,
                    workers=args.workers, loop="uvloop", http=LimitedHttpToolsProtocol, lifespan="off",
                    proxy_headers=False, server_header=False, access_log=args.access_log,
                    log_config=uvicorn_log_config(level), log_level=level.lower(), **_tls_options(args))
    except Terminated:
        log.info("stopped (SIGTERM)")
    finally:
        signal.signal(signal.SIGTERM, previous)
        if own_metrics_dir:
            shutil.rmtree(own_metrics_dir, ignore_errors=True)
    return 0
