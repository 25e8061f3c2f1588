"""The processes as an operator runs them: ``--log-level`` on either side of the subcommand, one log format
(JSON lines off a terminal, readable on one, uvicorn's included), every flag's default in ``--help``,
nothing left in the temporary directory after SIGTERM or Ctrl-C, and a demo that refuses a port or database
another demo holds and starts empty with ``--fresh``. Waits have safety timeouts only; nothing is timed."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa

from omni_readmodel.cli import SUBCOMMANDS, build_parser, main
from tests.api_support import free_port

REPO = Path(__file__).resolve().parents[1]


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "omni_readmodel", *args]


def _environment(tmpdir: Path) -> dict[str, str]:
    env = dict(os.environ, TMPDIR=str(tmpdir), PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for name in ("PROMETHEUS_MULTIPROC_DIR", "OMNI_ENDPOINT", "OMNI_SERVICE_ACCOUNT_KEY", "SIDERO_SERVICE_ACCOUNT_KEY",
                 "OMNI_READMODEL_DATABASE_URL"):
        env.pop(name, None)
    return env


def _wait_until(predicate, what: str, process: subprocess.Popen | None = None, timeout: float = 120):
    """Poll until truthy; the timeout is a safety net, not a measurement."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if process is not None and process.poll() is not None:
            raise AssertionError(f"exited with {process.returncode} while waiting for {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _answers(url: str) -> bool:
    with contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError):
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback test server
            return response.status == 200
    return False


def _migrated(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'readmodel.db'}"
    subprocess.run(_command("migrate", "--database-url", url), check=True, capture_output=True, timeout=120)
    return url


# -- --log-level -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("argv", "level"), [
    (["serve"], "INFO"),
    (["--log-level", "WARNING", "serve"], "WARNING"),
    (["serve", "--log-level", "DEBUG"], "DEBUG"),
    (["serve", "--log-level", "debug"], "DEBUG"),
    (["--log-level", "WARNING", "watch", "--log-level", "ERROR"], "ERROR"),
])
def test_log_level_before_or_after_the_subcommand(argv: list[str], level: str) -> None:
    assert build_parser(argv).parse_args(argv).log_level == level


def test_log_level_after_the_subcommand_takes_effect(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'readmodel.db'}"
    result = subprocess.run(_command("migrate", "--database-url", url, "--log-level", "DEBUG"), capture_output=True,
                            text=True, timeout=120, env=_environment(tmp_path))
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stderr.splitlines()]  # not a terminal: JSON lines only
    assert any(r["level"] == "DEBUG" and r["logger"].startswith("alembic") for r in records), records[:5]


def test_log_lines_are_readable_on_a_terminal(tmp_path: Path) -> None:
    controller, terminal = os.openpty()
    try:
        process = subprocess.Popen(_command("migrate", "--database-url", f"sqlite:///{tmp_path / 'x.db'}",
                                            "--log-level", "DEBUG"),
                                   stdout=subprocess.DEVNULL, stderr=terminal, env=_environment(tmp_path))
        os.close(terminal)
        output = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError as exc:  # EIO: every writer of the terminal is gone
                assert exc.errno == errno.EIO
                break
            if not chunk:
                break
            output += chunk
        assert process.wait(timeout=120) == 0
    finally:
        os.close(controller)
    lines = output.decode().splitlines()
    assert lines
    assert not any(line.startswith("{") for line in lines), lines[:3]
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} DEBUG alembic\S*: ", output.decode(), re.MULTILINE)


# -- --help ----------------------------------------------------------------------------------------------

def _option_blocks(help_text: str) -> dict[str, str]:
    """Each option's entry in --help (its flags line and help text), keyed by its first flag."""
    blocks: dict[str, str] = {}
    current = None
    for line in help_text.splitlines():
        match = re.match(r"^  (-{1,2}[\w-]+)", line)
        if match:
            current = match.group(1)
            blocks[current] = line
        elif current and line.startswith("    "):
            blocks[current] += " " + line.strip()
        else:
            current = None
    return blocks


# `token` has actions of its own, each with its options
HELP_COMMANDS = [[name] for name in sorted(SUBCOMMANDS) if name != "token"] + [
    ["token", action] for action in ("create", "list", "revoke")]


@pytest.mark.parametrize("argv", HELP_COMMANDS, ids=" ".join)
def test_help_shows_every_default(argv: list[str], capsys: pytest.CaptureFixture,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    with pytest.raises(SystemExit, match="^0$"):
        main([*argv, "--help"])
    blocks = _option_blocks(capsys.readouterr().out)
    if len(argv) == 1:
        assert "--log-level" in blocks
        assert len(blocks) >= 3
    missing = [flag for flag, text in blocks.items()
               if flag != "-h" and "default" not in text.lower() and "required" not in text.lower()]
    assert missing == [], f"{' '.join(argv)}: no default in the help of {missing}"


def test_help_never_shows_a_database_url_from_the_environment(capsys, monkeypatch) -> None:
    monkeypatch.setenv("OMNI_READMODEL_DATABASE_URL", "postgresql://reader:s3cret@db/readmodel")
    with pytest.raises(SystemExit, match="^0$"):
        main(["serve", "--help"])
    assert "s3cret" not in capsys.readouterr().out


# -- serve: temp files, one log format ------------------------------------------------------------------

@pytest.mark.parametrize("workers", [1, 2])
def test_serve_sigterm_leaves_nothing_in_tmp_and_logs_json(tmp_path: Path, workers: int) -> None:
    url = _migrated(tmp_path)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    port = free_port()
    log_path = tmp_path / "serve.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(_command("serve", "--database-url", url, "--port", str(port), "--workers",
                                            str(workers), "--log-level", "INFO"),
                                   stdout=log, stderr=subprocess.STDOUT, env=_environment(tmpdir))
        try:
            _wait_until(lambda: _answers(f"http://127.0.0.1:{port}/livez"), "/livez", process)
            assert [p.name[:23] for p in tmpdir.iterdir()] == ["omni-readmodel-metrics-"]
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=60) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert list(tmpdir.iterdir()) == []
    records = [json.loads(line) for line in log_path.read_text().splitlines()]
    loggers = {record["logger"] for record in records}
    assert {"api.cli", "uvicorn.error"} <= loggers, loggers
    assert all(set(record) >= {"time", "level", "logger", "msg"} for record in records)


def test_serve_sigterm_while_starting_leaves_nothing_in_tmp(tmp_path: Path) -> None:
    url = _migrated(tmp_path)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    process = subprocess.Popen(_command("serve", "--database-url", url, "--port", str(free_port())),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=_environment(tmpdir))
    # the metrics directory by name: Python's tempfile first probes the directory with a file of its own
    # (created and removed at once), and a SIGTERM landing inside that probe, before the process has any
    # handler, would leave it
    _wait_until(lambda: any(p.name.startswith("omni-readmodel-metrics-") for p in tmpdir.iterdir()),
                "the metrics directory", process)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    assert list(tmpdir.iterdir()) == []


# -- demo ------------------------------------------------------------------------------------------------

class Demo:
    def __init__(self, tmp_path: Path, url: str, port: int, *extra: str, name: str = "demo") -> None:
        self.out = tmp_path / f"{name}.out"
        self.err = tmp_path / f"{name}.err"
        self.tmpdir = tmp_path / "tmp"
        self.tmpdir.mkdir(exist_ok=True)
        self.port = port
        with open(self.out, "w") as out, open(self.err, "w") as err:
            self.process = subprocess.Popen(
                _command("demo", "--database-url", url, "--port", str(port), "--clusters", "2", "--machines", "12",
                         "--churn", "0", *extra), stdout=out, stderr=err, env=_environment(self.tmpdir))

    def wait_ready(self) -> None:
        _wait_until(lambda: "demo is ready" in self.out.read_text(), "the demo to be ready", self.process)

    def children(self) -> list[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()]

    def stop(self, sig: int) -> int:
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=90)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")  # a zombie is gone too


def _demo_refusal(tmp_path: Path, url: str, port: int) -> subprocess.CompletedProcess:
    return subprocess.run(_command("demo", "--database-url", url, "--port", str(port), "--fresh"),
                          capture_output=True, text=True, timeout=120, env=_environment(tmp_path / "tmp"))


def test_demo_refuses_what_another_holds_stops_cleanly_and_starts_fresh(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    first = Demo(tmp_path, url, free_port(), "--seed", "1", name="first")
    try:
        first.wait_ready()
        children = first.children()
        assert len(children) == 3

        same_port = _demo_refusal(tmp_path, f"sqlite:///{tmp_path / 'other.db'}", first.port)
        assert same_port.returncode == 2
        assert f"port {first.port} on 127.0.0.1 is in use" in same_port.stderr
        assert "ready" not in same_port.stdout
        assert not (tmp_path / "other.db").exists()

        same_database = _demo_refusal(tmp_path, url, free_port())
        assert same_database.returncode == 2
        assert "the database is in use" in same_database.stderr
        assert f"{tmp_path / 'demo.db'}.writer.lock" in same_database.stderr
        assert "ready" not in same_database.stdout

        assert first.stop(signal.SIGTERM) == 0
    finally:
        if first.process.poll() is None:
            first.process.kill()
    assert list(first.tmpdir.iterdir()) == []
    assert all(_gone(pid) for pid in children)
    assert _events(url)["created"] > 100

    # Another fleet on the same file with --fresh: nothing of the first fleet is destroyed, because nothing
    # of it is there any more (without --fresh its every resource would be).
    second = Demo(tmp_path, url, free_port(), "--seed", "2", "--fresh", name="second")
    try:
        second.wait_ready()
        assert "emptied (--fresh)" in second.out.read_text()
        assert second.stop(signal.SIGINT) == 0
    finally:
        if second.process.poll() is None:
            second.process.kill()
    assert list(second.tmpdir.iterdir()) == []
    assert set(_events(url)) == {"created"}


def _events(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return dict(conn.execute(sa.text("SELECT event, count(*) FROM events GROUP BY event")).all())
    finally:
        engine.dispose()
