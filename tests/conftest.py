"""Shared fixtures: real databases (a SQLite file per test; a fresh PostgreSQL database per test when
OMNI_READMODEL_TEST_PG_URL is set, skipped with a visible reason when it is not)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

pytest_plugins = ("tests.simulator_fixtures",)

PG_URL_ENV = "OMNI_READMODEL_TEST_PG_URL"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'readmodel.db'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for this test, dropped afterwards."""
    base = os.environ.get(PG_URL_ENV)
    if not base:
        if os.environ.get("OMNI_READMODEL_REQUIRE_PG") == "1":
            pytest.fail(f"OMNI_READMODEL_REQUIRE_PG=1 but {PG_URL_ENV} is not set")
        pytest.skip(f"PostgreSQL tests need {PG_URL_ENV} (e.g. postgresql://postgres@127.0.0.1:5432/test)")
    with new_pg_database(base) as url:
        yield url


@contextmanager
def new_pg_database(server_url: str, name: str | None = None) -> Iterator[str]:
    """A new, empty database on the server of ``server_url`` (a random name unless given), dropped after."""
    admin_url = make_url(server_url).set(drivername="postgresql+psycopg")
    name = name or f"omni_rm_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs once on SQLite and once on PostgreSQL."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


REQUIRE_PG_ENV = "OMNI_READMODEL_REQUIRE_PG"
_postgres_passed = 0
# Tools some tests need as independent oracles (gpg checks our OpenPGP code). Outside CI a missing tool skips
# those tests and says so in the header and the summary; in CI it fails the run before any test.
CI_TOOLS = {"gpg": "the OpenPGP cross-checks against GnuPG (tests/test_signing.py)",
            "chromium": "the fleet page's browser tests (tests/test_ui_browser.py)"}
PACKAGES = {"gpg": "gnupg", "chromium": "chromium"}  # the Debian package of each tool


def in_ci() -> bool:
    return os.environ.get(REQUIRE_PG_ENV) == "1" or os.environ.get("CI", "").lower() == "true"


def missing_tools() -> dict[str, str]:
    return {tool: what for tool, what in CI_TOOLS.items() if shutil.which(tool) is None}


def pytest_configure(config: pytest.Config) -> None:
    missing = missing_tools()
    if missing and in_ci():
        raise pytest.UsageError("CI needs " + "; ".join(f"{tool} for {what}" for tool, what in missing.items())
                                + " (install: apt-get install "
                                + " ".join(PACKAGES[tool] for tool in missing) + ")")


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [f"{tool}: {shutil.which(tool) or 'MISSING, ' + what + ' are skipped'}" for tool, what in CI_TOOLS.items()]


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    for tool, what in missing_tools().items():
        terminalreporter.write_line(f"{tool} is not on PATH: {what} were skipped", yellow=True)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    global _postgres_passed
    if report.when == "call" and report.passed and "postgres" in report.keywords:
        _postgres_passed += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI (OMNI_READMODEL_REQUIRE_PG=1) a run in which no PostgreSQL test passed is a failure."""
    if hasattr(session.config, "workerinput"):
        return  # a pytest-xdist worker: the controller sees every worker's reports and decides
    if os.environ.get(REQUIRE_PG_ENV) == "1" and _postgres_passed == 0 and session.testscollected:
        print(f"\n{REQUIRE_PG_ENV}=1 but no PostgreSQL test ran: failing the run")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
