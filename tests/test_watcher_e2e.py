"""The watcher end to end: ``omni-readmodel watch`` as a subprocess, signing its calls, against the real
simulator over a real socket, on SQLite and PostgreSQL. Waits have safety timeouts only; nothing is timed.

The helpers here are shared with tests/test_watcher_ha.py.
"""

from __future__ import annotations

import io
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from models import migrate
from models.db import create_engine
from omni_client.signing import new_service_account
from simulator.auth import AioSignatureInterceptor, SignatureVerifier
from simulator.export import export_lines
from tests.simulator_fixtures import SimulatorThread
from watcher.export_cli import write_export

REPO = Path(__file__).resolve().parents[1]
KEY_VALUE, PUBLIC_KEY = new_service_account("readmodel-tests", None)
MACHINES = "Machines.omni.sidero.dev"


# -- harness ------------------------------------------------------------------------------------------

def wait_until(predicate: Callable[[], object], timeout: float = 90, what: str = "condition",
               interval: float = 0.1) -> object:
    """Poll ``predicate`` until it is truthy. The timeout is a safety net, not a measurement."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def start_simulator(machines: int = 40, clusters: int = 3, seed: int = 11, **options) -> SimulatorThread:
    """The simulator in this process (its loop in a thread), verifying the watcher's signatures."""
    verifier = SignatureVerifier([PUBLIC_KEY])
    return SimulatorThread(seed=seed, clusters=clusters, machines=machines,
                           interceptors=[AioSignatureInterceptor(verifier)], **options).start()


class WatcherProcess:
    """``omni-readmodel watch`` in a subprocess; its JSON log goes to a file."""

    _count = 0
    running: set[WatcherProcess] = set()  # killed after each test, whatever happened (reap_watchers)

    def __init__(self, db_url: str, address: str, log_dir: Path, *extra: str, migrate_first: bool = True,
                 poll_interval: float = 0.3, scheme: str = "http") -> None:
        WatcherProcess._count += 1
        self.log_path = log_dir / f"watcher-{WatcherProcess._count}.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in wait()
        env = dict(os.environ, OMNI_SERVICE_ACCOUNT_KEY=KEY_VALUE,
                   PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        env.pop("SIDERO_SERVICE_ACCOUNT_KEY", None)
        command = [sys.executable, "-m", "omni_readmodel", "watch", "--endpoint", f"{scheme}://{address}",
                   "--database-url", db_url, "--poll-interval", str(poll_interval),
                   "--backoff-initial", "0.05", "--backoff-max", "0.5", *extra]
        if migrate_first:
            command.append("--migrate")
        self.process = subprocess.Popen(command, cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        WatcherProcess.running.add(self)

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text()

    def wait_for_log(self, text: str, timeout: float = 90) -> None:
        wait_until(lambda: text in self.log() or self.process.poll() is not None, timeout, repr(text))
        assert text in self.log(), self.log()

    def signal(self, sig: int) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)

    def wait(self, timeout: float = 60) -> int:
        try:
            code = self.process.wait(timeout=timeout)
        finally:
            self._log.close()
        WatcherProcess.running.discard(self)
        return code

    def terminate(self, timeout: float = 60) -> int:
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.wait()


class ReadModel:
    """Reads of the watcher's database from the test."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)

    def scalar(self, query: str, **params) -> object:
        with self.engine.connect() as conn:
            return conn.execute(sa.text(query), params).scalar()

    def rows(self, query: str, **params) -> list[tuple]:
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(query), params)]

    def export(self, at: str | None = None) -> list[str]:
        out = io.StringIO()
        with self.engine.connect() as conn:
            write_export(conn, out, at=at)
        return out.getvalue().splitlines()

    def streams(self) -> dict[str, dict]:
        with self.engine.connect() as conn:
            return {r.type: r._asdict() for r in conn.execute(sa.text("SELECT * FROM streams"))}

    def bootstrapped(self, kinds: int = 49) -> bool:
        try:
            return self.scalar("SELECT count(*) FROM streams WHERE bootstrapped") >= kinds
        except sa.exc.DBAPIError:  # not migrated yet
            return False

    def check_log(self) -> int:
        """The event log's invariants: revisions 1..head without holes, no event applied twice."""
        count, low, high = self.rows("SELECT count(*), min(revision), max(revision) FROM events")[0]
        head = self.scalar("SELECT head_revision FROM meta")
        assert head == (high or 0) == count, f"revisions not gap-free: {count} rows, {low}..{high}, head {head}"
        assert low in (None, 1)
        duplicates = self.rows(
            "SELECT namespace, type, id, version, created, event, count(*) FROM events "
            "GROUP BY namespace, type, id, version, created, event HAVING count(*) > 1")
        assert duplicates == [], f"events applied twice: {duplicates[:5]}"
        return head

    def dispose(self) -> None:
        self.engine.dispose()


def simulator_export(sim: SimulatorThread) -> list[str]:
    return sim.call(lambda: list(export_lines(sim.simulator.store)))


def wait_converged(model: ReadModel, sim: SimulatorThread, timeout: float = 90,
                   ignore: Callable[[str], bool] | None = None) -> list[str]:
    """Until the read model's export equals the simulator's state, byte for byte."""
    def same() -> list[str] | None:
        try:
            actual = [line for line in model.export() if not (ignore and ignore(line))]
        except sa.exc.DBAPIError:  # the watcher has not created the schema yet
            return None
        expected = [line for line in simulator_export(sim) if not (ignore and ignore(line))]
        return expected if actual == expected else None

    return wait_until(same, timeout, "the read model to converge")


@pytest.fixture(autouse=True)
def reap_watchers() -> Iterator[None]:
    """No watcher subprocess outlives its test, even a failed one."""
    yield
    for watcher in list(WatcherProcess.running):
        watcher.kill()


@pytest.fixture
def model(db_url: str) -> Iterator[ReadModel]:
    reader = ReadModel(db_url)
    yield reader
    reader.dispose()


@pytest.fixture
def simulator() -> Iterator[SimulatorThread]:
    sim = start_simulator()
    yield sim
    sim.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- convergence, resume, re-bootstrap ------------------------------------------------------------------

def test_converges_after_bootstrap_and_churn(db_url, model, simulator, tmp_path) -> None:
    watcher = WatcherProcess(db_url, simulator.address, tmp_path)
    first = wait_converged(model, simulator)
    assert len(first) > 400
    records = [json.loads(line) for line in watcher.log().splitlines() if line.startswith("{")]
    assert any("migrated empty database -> " in r["msg"] for r in records), watcher.log()  # by a child process
    started = next(r for r in records if r["msg"].startswith("watching "))
    assert started["batch_items"] == (1000 if db_url.startswith("sqlite") else 2000)  # the dialect's default
    head = model.check_log()
    simulator.call(simulator.simulator.apply_churn, 400)
    wait_converged(model, simulator)
    assert watcher.terminate() == 0, watcher.log()
    log = watcher.log()
    assert "stopped at head revision" in log
    assert KEY_VALUE not in log and "PRIVATE KEY" not in log  # the key is never logged
    model.check_log()
    # The event log answers for the past: as of the first head, the state was the first export.
    assert model.export(at=str(head)) == first
    # And the CLI prints the same text the simulator does.
    cli = subprocess.run([sys.executable, "-m", "omni_readmodel", "export", "--database-url", db_url],
                         cwd=REPO, capture_output=True, text=True, timeout=60, check=True)
    assert cli.stdout == "".join(line + "\n" for line in simulator_export(simulator))


def test_resumes_after_dropped_streams_without_duplicates(db_url, model, simulator, tmp_path) -> None:
    watcher = WatcherProcess(db_url, simulator.address, tmp_path)
    wait_converged(model, simulator)
    for _ in range(3):
        simulator.call(simulator.simulator.apply_churn, 80)
        simulator.call(simulator.simulator.drop_streams)
        wait_until(lambda: simulator.call(lambda: len(simulator.simulator.store.watchers)) >= 48,
                   what="streams to reconnect")
    simulator.call(simulator.simulator.apply_churn, 80)
    wait_converged(model, simulator)
    assert watcher.terminate() == 0
    model.check_log()
    streams = model.streams()
    assert all(s["rebootstraps"] == 0 for s in streams.values()), "a resume must not re-bootstrap"
    assert streams[MACHINES]["reconnects"] >= 3
    assert streams[MACHINES]["bootstrapped"]


def test_rebootstraps_after_restart_and_records_deletes(db_url, model, simulator, tmp_path) -> None:
    watcher = WatcherProcess(db_url, simulator.address, tmp_path)
    before = {line for line in wait_converged(model, simulator)}
    assert watcher.terminate() == 0
    # While the watcher is away: churn (machines leave, clusters go) and an Omni restart, which makes
    # every stored bookmark invalid.
    simulator.call(simulator.simulator.apply_churn, 1500)
    simulator.call(simulator.simulator.restart)
    watcher = WatcherProcess(db_url, simulator.address, tmp_path)
    after = wait_converged(model, simulator)
    assert watcher.terminate() == 0
    model.check_log()

    def key(line: str) -> tuple:
        import json
        doc = json.loads(line)
        return doc["namespace"], doc["type"], doc["id"]

    gone = {key(line) for line in before} - {key(line) for line in after}
    assert gone, "the churn should have destroyed something"
    for namespace, type_, id_ in gone:
        last = model.rows("SELECT event FROM events WHERE namespace = :n AND type = :t AND id = :i "
                          "ORDER BY revision DESC LIMIT 1", n=namespace, t=type_, i=id_)
        assert last == [("destroyed",)], (namespace, type_, id_)
    streams = model.streams()
    assert streams[MACHINES]["rebootstraps"] == 1
    assert all(s["bootstrapped"] and s["bookmark"] is not None
               for t, s in streams.items() if not t.startswith("EtcdBackups"))


def test_errored_event_rebootstraps_that_stream(db_url, model, simulator, tmp_path) -> None:
    watcher = WatcherProcess(db_url, simulator.address, tmp_path)
    wait_converged(model, simulator)
    assert simulator.call(simulator.simulator.inject_errored, MACHINES, "buffer overrun: simulated") == 1
    simulator.call(simulator.simulator.apply_churn, 200)
    wait_converged(model, simulator)
    wait_until(lambda: model.streams()[MACHINES]["rebootstraps"] == 1, what="the re-bootstrap to be recorded")
    assert watcher.terminate() == 0
    model.check_log()
    streams = model.streams()
    assert "buffer overrun: simulated" in streams[MACHINES]["last_error"]
    assert [t for t, s in streams.items() if s["rebootstraps"]] == [MACHINES]


def test_poison_event_is_recorded_and_skipped(db_url, model, simulator, tmp_path) -> None:
    port = free_port()
    watcher = WatcherProcess(db_url, simulator.address, tmp_path, "--metrics-port", str(port))
    wait_converged(model, simulator)
    store = simulator.simulator.store
    # Bytes that are not a MachineSpec: field 1 claims a 100-byte string that is not there.
    simulator.call(store.create, "default", MACHINES, "poison-machine", b"\x0a\x64abc")
    simulator.call(simulator.simulator.apply_churn, 200)
    poisoned = lambda line: '"id":"poison-machine"' in line  # noqa: E731
    wait_converged(model, simulator, ignore=poisoned)
    wait_until(lambda: model.scalar("SELECT count(*) FROM poison_events"), what="the poison event")
    assert model.rows("SELECT namespace, type, id, version, event FROM poison_events") == [
        ("default", MACHINES, "poison-machine", "1", "created")]
    assert "MachineSpec" in model.scalar("SELECT error FROM poison_events")
    assert model.streams()[MACHINES]["poison_events"] == 1
    assert model.scalar("SELECT count(*) FROM resources WHERE id = 'poison-machine'") == 0
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:  # noqa: S310
        text = response.read().decode()
    assert f'omni_readmodel_watcher_poison_events_total{{kind="{MACHINES}"}} 1.0' in text
    assert "omni_readmodel_watcher_batch_seconds_bucket" in text
    assert watcher.terminate() == 0
    model.check_log()


# -- documents follow the kinds they join ------------------------------------------------------------------

def stored_resources(model: ReadModel) -> dict[tuple[str, str, str], tuple]:
    """(namespace, type, id) -> (StoredResource, document text, revision) of every current resource."""
    from watcher.state import stored_from_row

    out = {}
    for row in model.rows("SELECT namespace, type, id, version, phase, owner, created, updated, labels, "
                          "annotations, finalizers, spec, document, revision FROM resources"):
        resource = stored_from_row(row[:12])
        out[resource.key] = (resource, row[12], row[13])
    return out


def test_documents_follow_joined_kinds_under_churn(db_url, model, tmp_path) -> None:
    """The real watcher re-renders a document when a kind it joins changes (a machine's document embeds
    its MachineStatus), in the batch of that change, under churn: afterwards no document is stale."""
    from models import projections

    sim = start_simulator(machines=40, clusters=3, seed=17)
    try:
        watcher = WatcherProcess(db_url, sim.address, tmp_path, "--batch-latency-ms", "5")
        wait_converged(model, sim)
        sim.call(sim.simulator.set_churn_rate, 300)
        time.sleep(3)  # churn lands in many batches, joined kinds changing alone and together
        sim.call(sim.simulator.set_churn_rate, 0)
        sim.call(sim.simulator.apply_churn, 300)
        wait_converged(model, sim)
        assert watcher.terminate() == 0
    finally:
        sim.stop()
    current = stored_resources(model)
    lookup = lambda ns, type_, id_: current[(ns, type_, id_)][0] if (ns, type_, id_) in current else None  # noqa: E731
    stale = [key for key, (resource, document, _) in current.items()
             if document != projections.render(resource, lookup)]
    assert stale == []
    # Independently of the renderer: each machine's joined fields are its MachineStatus's, as exported.
    statuses = {key[2]: resource.spec for key, (resource, _, _) in current.items()
                if key[1] == "MachineStatuses.omni.sidero.dev"}
    machines = [(key[2], json.loads(document, strict=False), revision) for key, (_, document, revision) in current.items()
                if key[1] == MACHINES]
    assert len(machines) >= 30
    for id_, document, _ in machines:
        status = statuses.get(id_, {})
        assert document.get("talos_version") == (status.get("talos_version") or None), id_
        assert document.get("hostname") == (status.get("network", {}).get("hostname") or None), id_
        assert document.get("role") == status.get("role", "NONE" if id_ in statuses else None), id_
    # And some of them were re-rendered for a status change alone: their document is newer than the
    # machine's own last event.
    rejoined = [id_ for id_, _, revision in machines
                if revision > model.scalar("SELECT max(revision) FROM events WHERE type = :t AND id = :i",
                                           t=MACHINES, i=id_)]
    assert rejoined, "churn changed no MachineStatus alone"
    model.check_log()


# -- one writer, the schema gate ------------------------------------------------------------------------

def test_second_watcher_on_sqlite_exits_with_a_clear_error(sqlite_url, simulator, tmp_path) -> None:
    model = ReadModel(sqlite_url)
    first = WatcherProcess(sqlite_url, simulator.address, tmp_path)
    wait_until(model.bootstrapped, what="the first watcher")
    second = WatcherProcess(sqlite_url, simulator.address, tmp_path)
    assert second.wait() == 2
    assert "another watcher" in second.log() and "writer.lock" in second.log()
    assert first.terminate() == 0
    model.dispose()


def test_unmigrated_database_is_refused(db_url, simulator, tmp_path) -> None:
    url = sa.engine.make_url(db_url)
    if url.get_backend_name() == "postgresql":
        url = url.set(password="hunter2")  # the test server trusts; the password must never be shown
    watcher = WatcherProcess(url.render_as_string(hide_password=False), simulator.address, tmp_path,
                             migrate_first=False)
    assert watcher.wait() == 2
    lines = watcher.log().strip().splitlines()
    assert len(lines) == 1 and "omni-readmodel migrate" in lines[0], lines
    assert "hunter2" not in lines[0]
    engine = create_engine(db_url)
    migrate.upgrade(engine)
    engine.dispose()


# -- crash safety ----------------------------------------------------------------------------------------

def test_kill_9_at_random_points_loses_and_duplicates_nothing(db_url, model, tmp_path) -> None:
    """SIGKILL the watcher 20 times while Omni churns and streams drop; then it must converge."""
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    migrate.upgrade(model.engine)  # so that the log can be checked after a kill before any migration
    sim = start_simulator(machines=60, clusters=4, seed=5)
    try:
        sim.call(sim.simulator.set_churn_rate, 150)
        heads: list[int] = []
        for round_ in range(20):
            watcher = WatcherProcess(db_url, sim.address, tmp_path, "--batch-latency-ms", "5")
            if round_ % 4:  # most kills once it writes: during bootstrap, live, mid-commit
                watcher.wait_for_log("writer for")
            time.sleep(rng.uniform(0.0, 0.8))
            if round_ % 5 == 4:
                sim.call(sim.simulator.drop_streams)
            if round_ % 7 == 6:
                sim.call(sim.simulator.restart)
            watcher.kill()
            heads.append(model.check_log())
        sim.call(sim.simulator.set_churn_rate, 0)
        watcher = WatcherProcess(db_url, sim.address, tmp_path)
        watcher.wait_for_log("all streams bootstrapped")
        wait_converged(model, sim)
        assert watcher.terminate() == 0, f"seed {seed}"
        model.check_log()
        assert len(set(heads)) > 5, f"the kills should land while work is being committed: {heads}"
    finally:
        sim.stop()


# -- TLS -------------------------------------------------------------------------------------------------

def _self_signed(tmp_path: Path) -> tuple[bytes, bytes, Path]:
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(cert_pem)
    return cert_pem, key_pem, ca_file


def test_https_endpoint_with_a_ca_file(sqlite_url, tmp_path) -> None:
    """``https://`` means TLS with the given roots (omnictl's semantics), and calls are still signed."""
    import asyncio

    import grpc

    from simulator.server import build_server

    cert_pem, key_pem, ca_file = _self_signed(tmp_path)
    sim = start_simulator(machines=10, clusters=2)
    holder: dict = {}

    async def serve() -> int:
        server = build_server(sim.simulator.service,
                              [AioSignatureInterceptor(SignatureVerifier([PUBLIC_KEY]))])
        port = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials([(key_pem, cert_pem)]))
        await server.start()
        holder["server"] = server
        return port

    port = asyncio.run_coroutine_threadsafe(serve(), sim.loop).result(timeout=30)
    model = ReadModel(sqlite_url)
    try:
        watcher = WatcherProcess(sqlite_url, f"localhost:{port}", tmp_path, "--ca-file", str(ca_file),
                                 scheme="https")
        wait_until(lambda: "all streams bootstrapped" in watcher.log() or watcher.process.poll() is not None)
        assert "grpc://" not in watcher.log()
        wait_converged(model, sim)
        assert watcher.terminate() == 0
    finally:
        asyncio.run_coroutine_threadsafe(holder["server"].stop(0), sim.loop).result(timeout=30)
        sim.stop()
        model.dispose()
