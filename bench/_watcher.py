"""Shared by the watcher benchmarks: a simulator subprocess, a watcher subprocess, and their readings."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from omni_client.signing import new_service_account

REPO = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def rss_target_mb(machines: int) -> float:
    """The watcher's peak RSS target: 200 MB up to 10k machines, 600 MB at 50k, linear between and beyond
    (bench/fleet_scale.py and bench/watcher_bootstrap.py)."""
    return 200.0 + max(0, machines - 10_000) * 400.0 / 40_000


class Simulator:
    """``python -m simulator`` on free ports, verifying the signatures of one fresh service account."""

    LINE = re.compile(r"listening on (\S+) control (\S+)")

    def __init__(self, workdir: Path, machines: int, clusters: int, seed: int = 1, churn: float = 0) -> None:
        self.key_value, public_key = new_service_account("bench", None)
        key_file = workdir / "bench-public.asc"
        key_file.write_text(public_key)
        command = [sys.executable, "-m", "simulator", "--listen", "127.0.0.1:0", "--control-listen", "127.0.0.1:0",
                   "--machines", str(machines), "--clusters", str(clusters), "--seed", str(seed),
                   "--churn", str(churn), "--service-account-public-key", str(key_file), "--log-level", "WARNING"]
        self.process = subprocess.Popen(command, cwd=REPO, env=_env(), stdout=subprocess.PIPE, text=True)
        line = _read_line(self.process, timeout=600)
        match = self.LINE.search(line)
        if match is None:
            self.process.kill()
            raise RuntimeError(f"simulator did not start: {line!r}")
        self.address, self.control_address = match.groups()

    def control(self, method: str, path: str) -> dict:
        request = urllib.request.Request(f"http://{self.control_address}{path}", method=method)
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback
            return json.loads(response.read())

    def stop(self) -> None:
        _stop(self.process)


class Watcher:
    """``omni-readmodel watch`` with JSON logs in a file; ``wait_for(msg)`` returns that log record."""

    def __init__(self, workdir: Path, db_url: str, simulator: Simulator, *extra: str,
                 program: tuple[str, ...] = ("-m", "omni_readmodel")) -> None:
        """``program``: how the interpreter runs the CLI (bench/writer_waits.py runs an instrumented one)."""
        self.log_path = workdir / "watcher.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        env = dict(_env(), OMNI_SERVICE_ACCOUNT_KEY=simulator.key_value)
        command = [sys.executable, *program, "watch", "--endpoint", f"http://{simulator.address}",
                   "--database-url", db_url, *extra]
        self.process = subprocess.Popen(command, cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def wait_for(self, message: str, timeout: float = 1800) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log_path.read_text().splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if record.get("msg", "").startswith(message):
                    return record
            if self.process.poll() is not None:
                raise RuntimeError(f"watcher exited: {self.log_path.read_text()[-2000:]}")
            time.sleep(0.1)
        raise RuntimeError(f"no {message!r} in the watcher log")

    def peak_rss_bytes(self) -> int:
        """VmHWM: the process's peak resident set size so far."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmHWM in /proc")

    def stop(self) -> int:
        code = _stop(self.process)
        self._log.close()
        return code


def _read_line(process: subprocess.Popen, timeout: float) -> str:
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: lines.put(process.stdout.readline()), daemon=True).start()
    return lines.get(timeout=timeout)


def _stop(process: subprocess.Popen) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()
