"""Reusable simulator fixtures: an in-process simulator on a free port (its event loop in a thread),
a plain grpcio client for it, and ``python -m simulator`` as a subprocess with its control surface.

Import the fixtures into a conftest (``from tests.simulator_fixtures import *``) or a test module.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import grpc
import pytest

from omni_client.wire import state_pb2, state_pb2_grpc
from simulator.app import Simulator

__all__ = [
    "SimulatorProcess",
    "SimulatorThread",
    "StreamReader",
    "fake_clock",
    "sim",
    "sim_process",
    "state_stub",
    "watch_request",
]

REPO = Path(__file__).resolve().parents[1]
START_NS = 1_760_000_000 * 1_000_000_000
T = TypeVar("T")


def fake_clock(start: int = START_NS, step: int = 1_000_000) -> Callable[[], int]:
    """A deterministic clock (each reading 1 ms later), for reproducible churn."""
    counter = itertools.count(start, step)
    return lambda: next(counter)


class SimulatorThread:
    """A :class:`Simulator` whose event loop runs in a daemon thread; :meth:`call` runs code there."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="simulator", daemon=True)
        self.simulator: Simulator | None = None
        self.port = 0

    def start(self) -> SimulatorThread:
        self._thread.start()

        async def boot() -> int:
            self.simulator = Simulator(**self._options)
            return await self.simulator.start("127.0.0.1:0")

        self.port = asyncio.run_coroutine_threadsafe(boot(), self.loop).result(timeout=60)
        return self

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` on the simulator's loop (where all state lives) and return its result."""
        done: Future = Future()

        def run() -> None:
            try:
                done.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # handed to the caller
                done.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return done.result(timeout=60)

    def stop(self) -> None:
        if self.simulator is not None:
            asyncio.run_coroutine_threadsafe(self.simulator.stop(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)


class StreamReader:
    """Reads a server stream in a background thread so a test can wait with a safety timeout (never
    to measure speed): ``next()`` returns the next message or raises the call's ``grpc.RpcError``."""

    _END = object()

    def __init__(self, call: Any) -> None:
        self.call = call
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        try:
            for message in self.call:
                self._queue.put(message)
            self._queue.put(self._END)
        except grpc.RpcError as exc:
            self._queue.put(exc)

    def next(self, timeout: float = 30) -> Any:
        item = self._queue.get(timeout=timeout)
        if item is self._END:
            raise StopIteration
        if isinstance(item, grpc.RpcError):
            raise item
        return item

    def cancel(self) -> None:
        self.call.cancel()


def channel_options() -> list[tuple[str, int]]:
    return [("grpc.max_receive_message_length", 64 << 20)]


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    """A small deterministic fleet (200 machines, 8 clusters), no background churn."""
    thread = SimulatorThread(seed=7, clusters=8, machines=200, now=START_NS, clock=fake_clock()).start()
    try:
        yield thread
    finally:
        thread.stop()


@pytest.fixture
def state_stub(sim: SimulatorThread) -> Iterator[state_pb2_grpc.StateStub]:
    channel = grpc.insecure_channel(sim.address, options=channel_options())
    try:
        yield state_pb2_grpc.StateStub(channel)
    finally:
        channel.close()


class SimulatorProcess:
    """``python -m simulator`` in a subprocess; ``control(method, path)`` talks to its control surface."""

    LINE = re.compile(r"listening on (\S+)(?: control (\S+))?")

    def __init__(self, *args: str) -> None:
        command = [sys.executable, "-m", "simulator", "--listen", "127.0.0.1:0", "--control-listen", "127.0.0.1:0",
                   *args]
        env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)
        line = self._first_line()
        match = self.LINE.search(line)
        if match is None:
            self.process.kill()
            raise RuntimeError(f"unexpected first line from the simulator: {line!r}")
        self.address, self.control_address = match.group(1), match.group(2)

    def _first_line(self, timeout: float = 60) -> str:
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: lines.put(self.process.stdout.readline()), daemon=True).start()
        try:
            return lines.get(timeout=timeout)
        except queue.Empty:
            self.process.kill()
            raise RuntimeError("the simulator did not report its address") from None

    def control(self, method: str, path: str) -> Any:
        request = urllib.request.Request(f"http://{self.control_address}{path}", method=method)
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback test server
            body = response.read().decode()
        if response.headers.get("Content-Type", "").startswith("application/x-ndjson"):
            return [json.loads(line) for line in body.splitlines()]
        return json.loads(body)

    def terminate(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


@pytest.fixture
def sim_process() -> Iterator[SimulatorProcess]:
    process = SimulatorProcess("--no-auth", "--machines", "150", "--clusters", "6", "--seed", "3")
    try:
        yield process
    finally:
        process.terminate()


def watch_request(type_: str, namespace: str = "default", **options: Any) -> state_pb2.WatchRequest:
    """A kind watch (``id`` unset) at api_version 1 unless overridden."""
    api_version = options.pop("api_version", 1)
    request = state_pb2.WatchRequest(namespace=namespace, type=type_, api_version=api_version)
    id_ = options.pop("id", None)
    if id_ is not None:
        request.id = id_
    for key, value in options.items():
        if key == "label_query":
            request.options.label_query.extend(value)
        elif key == "id_query":
            request.options.id_query.CopyFrom(value)
        else:
            setattr(request.options, key, value)
    return request
