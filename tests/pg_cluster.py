"""A throwaway PostgreSQL cluster of the test's own (``initdb`` on a free port in a temporary folder), and a
streaming-replication standby of it made with ``pg_basebackup``: real servers from the machine's PostgreSQL
binaries. The server refuses to run as root, so as root each command runs as the ``postgres`` user."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _bin_dir() -> Path | None:
    """Debian keeps the server binaries per major version; elsewhere follow pg_ctl on the PATH."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    if versions:
        return versions[-1]
    found = shutil.which("pg_ctl")
    return Path(found).resolve().parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PgCluster:
    """One PostgreSQL server in ``directory`` listening on 127.0.0.1:``port``, trust auth, replication allowed."""

    def __init__(self, directory: Path, port: int) -> None:
        self.directory = directory
        self.port = port

    @staticmethod
    def binaries() -> Path:
        bin_dir = _bin_dir()
        if bin_dir is None or not (bin_dir / "initdb").exists() or not (bin_dir / "pg_basebackup").exists():
            pytest.skip("PostgreSQL server binaries (initdb, pg_basebackup) are not installed")
        return bin_dir

    @staticmethod
    def _run(*argv: str | Path, timeout: float = 120) -> None:
        command = [str(a) for a in argv]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {result.stdout}{result.stderr}")

    @staticmethod
    @contextmanager
    def workspace() -> Iterator[Path]:
        """A temporary folder the server user can use (pytest's own are private to root), removed after."""
        root = Path(tempfile.mkdtemp(prefix="omni-readmodel-pg-"))
        try:
            if os.geteuid() == 0:
                shutil.chown(root, "postgres")
            yield root
        finally:
            shutil.rmtree(root, ignore_errors=True)

    @staticmethod
    def _prepare(directory: Path) -> None:
        directory.mkdir()
        if os.geteuid() == 0:
            shutil.chown(directory, "postgres")
        directory.chmod(0o700)

    @classmethod
    def primary(cls, root: Path) -> PgCluster:
        bin_dir = cls.binaries()
        cluster = cls(root / "primary", _free_port())
        cls._prepare(cluster.directory)
        cls._run(bin_dir / "initdb", "-D", cluster.directory, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                 "--no-sync")
        with open(cluster.directory / "postgresql.conf", "a") as conf:
            conf.write(f"\nport = {cluster.port}\nlisten_addresses = '127.0.0.1'\n"
                       f"unix_socket_directories = '{cluster.directory}'\nwal_level = replica\n"
                       "max_wal_senders = 4\nfsync = off\nhot_standby = on\nhot_standby_feedback = on\n")
        with open(cluster.directory / "pg_hba.conf", "w") as hba:
            hba.write("local all all trust\nhost all all 127.0.0.1/32 trust\n"
                      "host replication all 127.0.0.1/32 trust\n")
        cluster.start()
        return cluster

    def standby(self, root: Path) -> PgCluster:
        """A hot standby streaming from this cluster (``pg_basebackup -R``), started."""
        bin_dir = self.binaries()
        standby = PgCluster(root / "standby", _free_port())
        self._prepare(standby.directory)
        self._run(bin_dir / "pg_basebackup", "-D", standby.directory, "-h", "127.0.0.1", "-p", str(self.port),
                  "-U", "postgres", "-R", "-X", "stream", "--no-sync", "--checkpoint=fast")
        with open(standby.directory / "postgresql.conf", "a") as conf:
            conf.write(f"\nport = {standby.port}\nunix_socket_directories = '{standby.directory}'\n")
        standby.start()
        return standby

    def start(self) -> None:
        self._run(self.binaries() / "pg_ctl", "-D", self.directory, "-l", self.directory / "server.log",
                  "-w", "-t", "60", "start")

    def stop(self) -> None:
        self._run(self.binaries() / "pg_ctl", "-D", self.directory, "-m", "immediate", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def sql(self, statement: str, database: str = "postgres") -> str:
        """Run one statement with psql; returns its unaligned output."""
        psql = self.binaries() / "psql"
        result = subprocess.run([str(psql), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database,
                                 "-Atc", statement], capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(result.stderr)
        return result.stdout.strip()

    def wait_for(self, predicate, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.1)
