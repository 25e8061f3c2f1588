"""The change feed ``GET /api/v1/events`` end to end: the simulator churning ~300 events/s, the real
watcher, ``serve --workers 2`` (each worker polls the log on its own), clients over HTTP. What clients
receive is compared with the ``events`` table itself. One module-scoped stack on SQLite; the poll and
ndjson path once on PostgreSQL. Waits are bounded polls, never timed assertions."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy as sa

from api import served
from models import catalog, migrate
from models.db import create_engine
from models.schema import events
from tests.api_support import ROOT, ReadModel, resource, serve, stop
from tests.simulator_fixtures import SimulatorProcess
from tests.test_api_e2e import wait_until, watcher_command

QUEUE = 64  # --feed-queue-events: small, so a stalled client overflows quickly
CAP = 6  # --feed-max-subscribers per worker
SSE = {"Accept": "text/event-stream"}


class Stack:
    def __init__(self, url: str, base: str, simulator: SimulatorProcess) -> None:
        self.url = url
        self.base = base
        self.simulator = simulator
        self.engine = create_engine(url)

    def head(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT head_revision FROM meta")).scalar())

    def logged(self, after: int, upto: int) -> list[sa.Row]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(events.c.revision, events.c.namespace, events.c.type, events.c.id,
                                               events.c.event).where(events.c.revision > after,
                                                                     events.c.revision <= upto)
                                     .order_by(events.c.revision)))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("feed")
    url = f"sqlite:///{folder / 'readmodel.db'}"
    engine = create_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    simulator = SimulatorProcess("--no-auth", "--machines", "40", "--clusters", "3", "--seed", "5")
    log = (folder / "watcher.log").open("w")
    watcher = subprocess.Popen(watcher_command(f"http://{simulator.address}", url), cwd=ROOT, env=dict(os.environ),
                               stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        with serve(url, "--workers", "2", "--feed-queue-events", str(QUEUE), "--feed-max-subscribers", str(CAP),
                   "--feed-bookmark", "1", "--feed-poll-ms", "20") as base:
            wait_until(lambda: httpx.get(base + "/readyz").status_code == 200, "/readyz")
            simulator.control("POST", "/churn?rate=300")
            built = Stack(url, base, simulator)
            yield built
            built.engine.dispose()
    finally:
        simulator.control("POST", "/churn?rate=0")
        stop(watcher, timeout=30)
        simulator.terminate()
        log.close()


def sse_events(response: httpx.Response) -> Iterator[tuple[str, int, dict]]:
    """(event, id, data) per Server-Sent Event (comments skipped)."""
    event, ident, data = "message", 0, ""
    for line in response.iter_lines():
        if line.startswith(":"):
            continue
        if not line:
            if data:
                yield event, ident, json.loads(data)
            event, ident, data = "message", 0, ""
            continue
        name, _, value = line.partition(": ")
        if name == "event":
            event = value
        elif name == "id":
            ident = int(value)
        elif name == "data":
            data = value


def test_sse_client_reconnecting_gets_every_revision_once_in_order(stack: Stack) -> None:
    start = stack.head()
    last, received = start, []
    with httpx.Client(timeout=30) as client:
        for take in (25, 60, 5, 90, 40):  # disconnect after that many events, resume with Last-Event-ID
            with client.stream("GET", stack.base + "/api/v1/events", params={"since": str(start)},
                               headers={**SSE, "Last-Event-ID": str(last)}) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                for count, (event, ident, data) in enumerate(sse_events(response), 1):
                    if event == "overflow":  # a slow moment: resume from where it says
                        assert data["revision"] == ident == last
                        break
                    assert event in ("created", "updated", "destroyed") and data["event"] == event
                    assert ident == data["revision"]
                    received.append(data)
                    last = ident
                    if count == take:
                        break
    logged = stack.logged(start, last)
    assert [d["revision"] for d in received] == [row.revision for row in logged]  # every one, once, in order
    for data, row in zip(received, logged, strict=True):
        assert (data["namespace"], data["type"], data["id"], data["event"]) == (row.namespace, row.type, row.id,
                                                                                row.event)
        assert data["collection"] == served.collection_of(row.namespace, row.type)
        if data["collection"] == "machines" and data["type"] == catalog.by_name("Machine").type:
            assert data["document"]["id"] == row.id


def test_filtered_client_gets_exactly_the_matching_events_plus_bookmarks(stack: Stack) -> None:
    start = stack.head()
    wanted = {"configpatches", "etcd-manual-backups"}  # rare in the churn: filters hide most events
    received, bookmarks, order = [], [], []
    deadline = time.monotonic() + 30
    with httpx.stream("GET", stack.base + "/api/v1/events", timeout=30, headers=SSE,
                      params=[("since", str(start)), ("collection", "configpatches"),
                              ("collection", "etcd-manual-backups")]) as response:
        for event, ident, data in sse_events(response):
            (bookmarks if event == "bookmark" else received).append((ident, data))
            order.append(ident)
            if len(bookmarks) >= 3 or time.monotonic() > deadline:
                break
    assert all(a < b for a, b in zip(order, order[1:], strict=False)), order  # bookmarks never go back
    assert len(bookmarks) >= 3, "a bookmark at least every --feed-bookmark second while filters hide events"
    seen = order[-1]
    expected = [row.revision for row in stack.logged(start, seen)
                if served.collection_of(row.namespace, row.type) in wanted]
    assert [ident for ident, _ in received] == expected
    assert all(data["collection"] in wanted for _, data in received)


def _dechunk(raw: bytes) -> bytes:
    """The body of a chunked HTTP/1.1 response (headers already removed)."""
    out, position = [], 0
    while True:
        end = raw.index(b"\r\n", position)
        size = int(raw[position:end].split(b";")[0], 16)
        if size == 0:
            return b"".join(out)
        out.append(raw[end + 2:end + 2 + size])
        position = end + 2 + size + 2


def overflows(stack: Stack) -> float:
    text = httpx.get(stack.base + "/metrics", timeout=30).text
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith("omni_readmodel_api_feed_overflows_total"))


def test_overflowing_client_gets_overflow_and_resumes_without_loss(stack: Stack) -> None:
    before_test = overflows(stack)
    start = stack.head()
    address = urlsplit(stack.base)
    with socket.socket() as stalled:
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills fast: the server must queue
        stalled.connect((address.hostname, address.port))
        stalled.sendall(f"GET /api/v1/events?since={start} HTTP/1.1\r\nHost: {address.netloc}\r\n"
                        "Accept: text/event-stream\r\nConnection: close\r\n\r\n".encode())
        # not reading: the socket buffers, then the subscriber's queue (QUEUE events) fill up, and the
        # server gives up on it (the only feed client of this test: the counter says so)
        stack.simulator.control("POST", "/churn?rate=1000")  # the kernel's socket buffers take megabytes
        try:
            wait_until(lambda: overflows(stack) > before_test, "the server to give up on the stalled client")
        finally:
            stack.simulator.control("POST", "/churn?rate=300")
        stalled.settimeout(30)
        chunks = []
        while chunk := stalled.recv(1 << 20):
            chunks.append(chunk)  # the server closes the stream after the overflow event
    body = _dechunk(b"".join(chunks).partition(b"\r\n\r\n")[2]).decode()
    frames = [frame for frame in body.split("\n\n") if frame and not frame.startswith(":")]
    before = [json.loads(frame.rpartition("data: ")[2]) for frame in frames]
    assert before[-1]["event"] == "overflow", frames[-1]
    resume = before[-1]["revision"]
    before = before[:-1]
    assert resume == (before[-1]["revision"] if before else start)
    after = []
    with httpx.stream("GET", stack.base + "/api/v1/events", timeout=30,
                      headers={**SSE, "Last-Event-ID": str(resume)}) as response:
        for _, _ident, data in sse_events(response):
            after.append(data)
            if len(after) == 50:
                break
    got = [d["revision"] for d in before + after]
    assert got == [row.revision for row in stack.logged(start, got[-1])]


def test_ndjson_ends_at_the_head_of_the_request(stack: Stack) -> None:
    start = stack.head()
    wait_until(lambda: stack.head() > start + 20, "some churn")
    response = httpx.get(stack.base + "/api/v1/events", params={"since": str(start)}, timeout=30)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/x-ndjson")
    head = int(response.headers["x-readmodel-revision"])
    revisions = [json.loads(line)["revision"] for line in response.text.splitlines()]
    assert revisions == list(range(start + 1, head + 1))


def test_bad_parameters_are_400_naming_them(stack: Stack) -> None:
    for params, headers, name in [({"since": "x"}, {}, "since"), ({"collection": "nope"}, {}, "collection"),
                                  ({"follow": "maybe"}, {}, "follow"), ({"selector": "a in"}, {}, "selector"),
                                  ({}, {"Last-Event-ID": "-1"}, "Last-Event-ID")]:
        response = httpx.get(stack.base + "/api/v1/events", params=params, headers=headers, timeout=30)
        assert response.status_code == 400 and response.json()["parameter"] == name, response.text
    head = httpx.head(stack.base + "/api/v1/events?follow=true", headers=SSE, timeout=30)  # headers, then done
    assert head.status_code == 200 and head.headers["content-type"].startswith("text/event-stream")


def test_past_the_subscriber_cap_503_and_disconnects_free_the_slots(stack: Stack) -> None:
    held = []
    with httpx.Client(timeout=30, limits=httpx.Limits(max_connections=4 * CAP)) as client:
        try:
            refused = None
            for _ in range(2 * CAP + 2):  # two workers: CAP each, whichever worker accepts
                response = client.send(client.build_request("GET", stack.base + "/api/v1/events", headers=SSE),
                                       stream=True)
                if response.status_code == 503:
                    refused = response
                    break
                held.append(response)
            assert refused is not None and refused.headers["retry-after"]
            refused.read()
            assert refused.json()["status"] == 503
        finally:
            for response in held:
                response.close()
    # the closed clients' slots are free again: a full round of subscriptions is accepted
    def all_accepted() -> bool:
        with httpx.Client(timeout=30) as client:
            responses = [client.send(client.build_request("GET", stack.base + "/api/v1/events", headers=SSE),
                                     stream=True) for _ in range(CAP)]
            codes = [r.status_code for r in responses]
            for r in responses:
                r.close()
        return codes == [200] * CAP
    wait_until(all_accepted, "the disconnected subscribers to be freed", timeout=30)


def test_since_below_the_pruned_horizon_is_410(stack: Stack) -> None:
    horizon = stack.head() - 10
    subprocess.run([sys.executable, "-m", "omni_readmodel", "prune", "--database-url", stack.url,
                    "--before", str(horizon)], cwd=ROOT, check=True, capture_output=True, timeout=120)
    response = httpx.get(stack.base + "/api/v1/events", params={"since": str(horizon - 1)}, timeout=30)
    assert response.status_code == 410, response.text
    assert response.json()["revision"] == horizon and response.json()["parameter"] == "since"
    response = httpx.get(stack.base + "/api/v1/events", params={"since": str(horizon)}, timeout=30)
    assert response.status_code == 200
    revisions = [json.loads(line)["revision"] for line in response.text.splitlines()]
    assert revisions[:5] == list(range(horizon + 1, horizon + 6))


@pytest.mark.postgres
def test_poll_and_ndjson_on_postgresql(pg_url: str) -> None:
    model = ReadModel(pg_url)
    try:
        model.apply([resource("Cluster", "c1"), resource("Machine", "m1", labels={catalog.LABEL_CLUSTER: "c1"})])
        model.bootstrap_streams()
        with serve(pg_url, "--feed-poll-ms", "20") as base:
            lines = httpx.get(base + "/api/v1/events?since=0", timeout=30).text.splitlines()
            assert [json.loads(line)["id"] for line in lines] == ["c1", "m1"]
            with httpx.stream("GET", base + "/api/v1/events?since=2&follow=true&cluster=c1", timeout=30) as response:
                model.apply([resource("MachineStatus", "m1", labels={catalog.LABEL_CLUSTER: "c1"}),
                             resource("Cluster", "c2")])
                model.apply([(catalog.by_name("Machine").namespace, catalog.by_name("Machine").type, "m1")])
                got = []
                for line in response.iter_lines():
                    got.append(json.loads(line))
                    if len(got) == 2:
                        break
            assert [(d["revision"], d["type"], d["event"]) for d in got] == [
                (3, catalog.by_name("MachineStatus").type, "created"), (5, catalog.by_name("Machine").type, "destroyed")]
            assert got[0]["collection"] == "machines" and got[0]["document"]["id"] == "m1"
            assert got[1]["document"]["id"] == "m1"  # the last state
    finally:
        model.close()

