"""``omni-readmodel serve``: refusals before it listens (remote without an auth choice, unusable schemas)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import sqlalchemy as sa

from api.cli import is_loopback
from models import migrate
from models.db import create_engine
from tests.api_support import ROOT


def serve(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "omni_readmodel", "serve", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("10.1.2.3", False), ("example.com", False),
])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_refuses_remote_listening_without_an_auth_choice(sqlite_url: str) -> None:
    result = serve("--host", "0.0.0.0", "--database-url", sqlite_url)
    assert result.returncode == 2
    assert "--auth tokens" in result.stderr and "Traceback" not in result.stderr


def test_missing_or_unmigrated_database_names_the_migrate_command(db_url: str) -> None:
    result = serve("--database-url", db_url, "--port", "1")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "omni-readmodel migrate" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_newer_schema_is_refused(db_url: str) -> None:
    engine = create_engine(db_url)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    result = serve("--database-url", db_url, "--port", "1")
    assert result.returncode == 1 and "newer" in result.stderr and "Traceback" not in result.stderr
