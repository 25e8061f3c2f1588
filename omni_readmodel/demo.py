"""``omni-readmodel demo``: simulator, watcher and API on one SQLite file, with one command.

The three run as child processes, exactly as they would be deployed (the watcher talks to the
simulator over a real gRPC socket with a freshly made service account; the API reads the file the
watcher writes). Ctrl-C or SIGTERM stops all three and removes the demo's temporary files. A second demo
on the same port or database refuses to start, naming what is in use. The simulator's fleet depends only
on ``--seed``, so restarting the demo on its database records only what changed meanwhile.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

from sqlalchemy.engine import Engine

from models import migrate
from models.db import create_engine, redacted
from models.options import add_database_url
from watcher.lock import SqliteFileLock, WriterLockHeld, writer_lock


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_database_url(parser)
    parser.add_argument("--port", type=int, default=8080, help="API port on 127.0.0.1 (default 8080)")
    parser.add_argument("--clusters", type=int, default=10, help="simulated clusters (default 10)")
    parser.add_argument("--machines", type=int, default=200, help="simulated machines (default 200)")
    parser.add_argument("--churn", type=float, default=5.0, help="simulated changes per second (default 5)")
    parser.add_argument("--seed", type=int, default=1,
                        help="fleet seed: the same seed gives the same fleet, also after a restart (default 1)")
    parser.add_argument("--fresh", action="store_true",
                        help="start from an empty database (deletes the SQLite file, or drops the schema on "
                             "PostgreSQL) instead of resuming the one there (default: off)")


class Terminated(Exception):
    """SIGTERM or SIGHUP: stop the children and clean up, as for Ctrl-C."""


def _raise_terminated(signum: int, frame: object) -> None:
    raise Terminated


def _port_in_use(port: int) -> str | None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            return (f"port {port} on 127.0.0.1 is in use ({exc.strerror}): another demo or server is running "
                    "there; stop it or pass --port")
    return None


def _prepare_database(engine: Engine, fresh: bool) -> str | None:
    """Empty (``fresh``) and migrate the database while holding the watcher's writer lock, so a database
    another watcher is writing is never touched; an error message when it is."""
    lock = writer_lock(engine)
    if isinstance(lock, SqliteFileLock):
        try:
            lock.acquire(threading.Event())
        except WriterLockHeld as exc:
            return f"the database is in use (another demo? stop it or pass --database-url): {exc}"
    try:
        if fresh:
            _empty(engine)
        migrate.upgrade(engine)
    finally:
        if isinstance(lock, SqliteFileLock):
            lock.release()
        engine.dispose()
    return None


def _empty(engine: Engine) -> None:
    database = engine.url.database
    if engine.url.get_backend_name() == "sqlite" and database and database != ":memory:":
        engine.dispose()
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(database + suffix)
    else:
        migrate.downgrade(engine)
    print(f"{redacted(engine.url)}: emptied (--fresh)", flush=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "omni_readmodel", *args]


def _wait_ready(url: str, children: list[subprocess.Popen], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in children:
            if child.poll() is not None:
                raise RuntimeError(f"{child.args[3]} exited with status {child.returncode}")
        with contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError):
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        time.sleep(0.5)
    raise RuntimeError(f"the read model did not become ready within {timeout:.0f} s ({url})")


def run(args: argparse.Namespace) -> int:
    problem = _port_in_use(args.port) or _prepare_database(create_engine(args.database_url), args.fresh)
    if problem:
        print(f"omni-readmodel demo: {problem}", file=sys.stderr)
        return 2
    # Imported here: the CLI's --help must not pay for the crypto and gRPC imports.
    from omni_client.signing import new_service_account

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    signal.signal(signal.SIGTERM, _raise_terminated)
    signal.signal(signal.SIGHUP, _raise_terminated)
    workdir: Path | None = None
    children: list[subprocess.Popen] = []
    try:
        key_value, public_key = new_service_account("omni-readmodel-demo", ttl=timedelta(days=1))
        workdir = Path(tempfile.mkdtemp(prefix="omni-readmodel-demo-"))
        public_key_file = workdir / "service-account.pub.asc"
        public_key_file.write_text(public_key)

        grpc_port = _free_port()
        env = {**os.environ, "OMNI_ENDPOINT": f"grpc://127.0.0.1:{grpc_port}", "OMNI_SERVICE_ACCOUNT_KEY": key_value}
        simulator = subprocess.Popen(_command(
            "simulate", "--listen", f"127.0.0.1:{grpc_port}", "--clusters", str(args.clusters),
            "--machines", str(args.machines), "--churn", str(args.churn), "--seed", str(args.seed),
            "--service-account-public-key", str(public_key_file),
        ), env=env, stdout=subprocess.PIPE, text=True)
        children.append(simulator)
        print(simulator.stdout.readline().strip() or "the simulator did not start", flush=True)
        shutil.rmtree(workdir, ignore_errors=True)  # read at start-up: no need to keep it
        # keep draining its stdout so it can never block on a full pipe
        threading.Thread(target=simulator.stdout.read, daemon=True).start()
        children.append(subprocess.Popen(_command("watch", "--database-url", args.database_url), env=env))
        children.append(subprocess.Popen(_command(
            "serve", "--host", "127.0.0.1", "--port", str(args.port), "--database-url", args.database_url,
        ), env=env))
        base = f"http://127.0.0.1:{args.port}"
        _wait_ready(f"{base}/readyz", children)
        print(f"\nomni-readmodel demo is ready: open {base}/ui/  (the fleet page; API docs {base}/docs, "
              f"API root {base}/api/v1/clusters)", flush=True)
        print("Ctrl-C stops the simulator, the watcher and the API.", flush=True)
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        failed = [child for child in children if child.returncode not in (None, 0)]
        return 1 if failed else 0
    except (KeyboardInterrupt, Terminated):
        return 0
    except RuntimeError as exc:
        print(f"omni-readmodel demo: {exc}", file=sys.stderr)
        return 1
    finally:
        # A second signal must not interrupt the clean-up; the children are stopped below either way.
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        _stop(children)
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stop(children: list[subprocess.Popen]) -> None:
    for child in reversed(children):
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in reversed(children):
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
