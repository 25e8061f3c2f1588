"""Who may call the API, end to end over real uvicorn: bearer tokens (``serve --auth tokens`` and the
``omni-readmodel token`` command), the refusal to listen beyond loopback without a choice, TLS and mutual
TLS, CORS, and the per-worker in-flight cap."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy.engine import make_url

from api.auth import TokenCache
from api.database import Database
from models import tokens
from models.schema import api_tokens
from tests.api_support import ROOT, ReadModel, resource, serve
from tests.test_watcher_e2e import wait_until

WAIT = 30.0  # generous upper bound of every poll below; never a timing assertion


def token_command(url: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "omni_readmodel", "token", *args, "--database-url", url],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def model(db_url: str) -> Iterator[ReadModel]:
    """A read model with one cluster and one machine, every stream bootstrapped (so /readyz is 200)."""
    read_model = ReadModel(db_url)
    read_model.apply([resource("Cluster", "c1", {"kubernetes_version": "1.31.1"}),
                      resource("Machine", "m1", {"management_address": "10.0.0.1"})])
    read_model.bootstrap_streams()
    yield read_model
    read_model.close()


def create_token(model: ReadModel, name: str, *scopes: str, lifetime: timedelta | None = None,
                 now: datetime | None = None) -> str:
    with model.engine.begin() as connection:
        return tokens.create(connection, name, scopes, lifetime, now)


# -- the token command -------------------------------------------------------------------------------

def test_token_command_creates_lists_and_revokes_storing_only_the_hash(model: ReadModel) -> None:
    created = token_command(model.url, "create", "ci", "--scope", "read", "--expires", "90d")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith(tokens.PREFIX) and len(token) == len(tokens.PREFIX) + 43  # 32 random bytes
    assert "shown only this once" in created.stderr
    both = token_command(model.url, "create", "admin", "--scope", "read", "--scope", "sensitive").stdout.strip()
    assert both != token

    with model.engine.connect() as connection:
        rows = {row.name: row for row in connection.execute(sa.select(api_tokens))}
    assert rows["ci"].sha256 == tokens.digest(token) and rows["admin"].sha256 == tokens.digest(both)
    assert all(token not in str(tuple(row)) and both not in str(tuple(row)) for row in rows.values())
    assert rows["ci"].scopes == "read" and rows["admin"].scopes == "read sensitive"

    listing = token_command(model.url, "list")
    assert listing.returncode == 0
    lines = listing.stdout.splitlines()
    assert lines[0].split() == ["NAME", "SCOPES", "CREATED", "EXPIRES", "STATE"]
    assert lines[1].split()[0::4] == ["admin", "active"] and lines[1].split()[3] == "never"
    assert lines[2].split()[:2] == ["ci", "read"] and lines[2].split()[4] == "active"
    assert lines[2].split()[3] != "never"
    for secret in (token, both, tokens.digest(token), tokens.digest(both)):
        assert secret not in listing.stdout

    revoked = token_command(model.url, "revoke", "ci")
    assert revoked.returncode == 0 and "'ci' revoked at " in revoked.stdout
    assert token_command(model.url, "list").stdout.splitlines()[2].split()[4] == "revoked"

    duplicate = token_command(model.url, "create", "ci", "--scope", "read")
    assert duplicate.returncode == 1 and "exists already" in duplicate.stderr and duplicate.stdout == ""
    unknown = token_command(model.url, "revoke", "nobody")
    assert unknown.returncode == 1 and "no token named 'nobody'" in unknown.stderr
    bad = token_command(model.url, "create", "x", "--scope", "read", "--expires", "soon")
    assert bad.returncode == 1 and "invalid duration 'soon'" in bad.stderr


def test_token_command_needs_a_migrated_database(sqlite_url: str) -> None:
    result = token_command(sqlite_url, "list")
    assert result.returncode == 1 and "omni-readmodel migrate" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(("text", "expected"), [
    ("90d", timedelta(days=90)), ("12h", timedelta(hours=12)), ("30m", timedelta(minutes=30)),
    ("2w", timedelta(weeks=2)), ("45s", timedelta(seconds=45)), ("never", None),
])
def test_durations(text: str, expected: timedelta | None) -> None:
    assert tokens.parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "0d", "-1d", "5y", "d", "1.5h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(tokens.TokenError, match="invalid duration"):
        tokens.parse_duration(text)


# -- serve --auth tokens -----------------------------------------------------------------------------

# one path of every route class; each needs the read scope
PROTECTED = ["/api/v1/clusters", "/api/v1/clusters/c1", "/api/v1/machines/m1", "/metrics", "/openapi.json",
             "/docs", "/health", "/api/v1/timeline"]


def assert_unauthorized(response: httpx.Response, error: str | None) -> None:
    assert response.status_code == 401, (response.request.url, response.text)
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="omni-readmodel"')
    assert (f'error="{error}"' in challenge) if error else ("error=" not in challenge)
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 401 and body["error"] == body["detail"]


def test_every_route_needs_a_token_with_its_scope(model: ReadModel, tmp_path: Path) -> None:
    reader = create_token(model, "reader", tokens.READ)
    admin = create_token(model, "admin", tokens.READ, tokens.SENSITIVE)
    log = tmp_path / "serve.log"
    with serve(model.url, "--auth", "tokens", "--access-log", log_level="INFO", log=log) as base:
        for path in ["/livez", "/readyz", "/ui/", "/ui/app.js"]:  # the page's files hold no data
            assert httpx.get(base + path).status_code == 200
        assert httpx.get(base + "/").status_code == 302  # to the page, which asks for a token
        for path in PROTECTED + ["/api/v1/no-such-route", "/docs/swagger-ui.css"]:
            assert_unauthorized(httpx.get(base + path), None)
            assert_unauthorized(httpx.get(base + path, headers=bearer(reader + "x")), "invalid_token")
            assert_unauthorized(httpx.get(base + path, headers={"Authorization": f"Basic {reader}"}),
                                "invalid_request")
        for path in PROTECTED:
            assert httpx.get(base + path, headers=bearer(reader)).status_code == 200, path
        assert httpx.get(base + "/api/v1/machines/m1", headers=bearer(reader)).json()["id"] == "m1"
        assert httpx.get(base + "/api/v1/no-such-route", headers=bearer(reader)).status_code == 404

        # the kubeconfig route declares the sensitive scope
        refused = httpx.get(base + "/api/v1/clusters/nope/kubeconfig", headers=bearer(reader))
        assert refused.status_code == 403 and refused.headers["content-type"] == "application/problem+json"
        assert 'error="insufficient_scope", scope="sensitive"' in refused.headers["www-authenticate"]
        assert refused.json()["detail"] == "this token lacks the 'sensitive' scope this route needs"
        assert httpx.get(base + "/api/v1/clusters/nope/kubeconfig", headers=bearer(admin)).status_code == 404
    output = log.read_text()
    for secret in (reader, admin, reader + "x"):
        assert secret not in output
    output = "\n".join(json.loads(line)["msg"] for line in output.splitlines())  # the log is JSON lines
    assert 'token=reader - "GET /api/v1/machines/m1 HTTP/1.1" 200' in output
    assert 'token=admin - "GET /api/v1/clusters/nope/kubeconfig HTTP/1.1" 404' in output
    assert 'token=- - "GET /api/v1/clusters HTTP/1.1" 401' in output
    assert_not_stored(model, [reader, admin])


def assert_not_stored(model: ReadModel, secrets: list[str]) -> None:
    """The database holds the tokens' hashes, never the tokens: the SQLite files' bytes, or pg_dump."""
    url = make_url(model.url)
    if url.get_backend_name() == "sqlite":
        files = [Path(url.database + suffix) for suffix in ("", "-wal")]
        stored = b"".join(path.read_bytes() for path in files if path.exists())
    else:
        if shutil.which("pg_dump") is None:
            pytest.fail("pg_dump is needed to check the PostgreSQL database for secrets")
        dump = subprocess.run(["pg_dump", "--data-only", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432),
                               "-U", url.username or "postgres", url.database], capture_output=True, check=True)
        stored = dump.stdout
    for secret in secrets:
        assert tokens.digest(secret).encode() in stored
        assert secret.encode() not in stored
        assert secret[len(tokens.PREFIX):].encode() not in stored


def test_expired_tokens_are_refused(sqlite_url: str) -> None:
    model = ReadModel(sqlite_url)
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    stale = create_token(model, "stale", tokens.READ, lifetime=timedelta(hours=1), now=long_ago)
    shortened = create_token(model, "shortened", tokens.READ, lifetime=timedelta(days=1))
    with serve(model.url, "--auth", "tokens") as base:
        assert_unauthorized(httpx.get(base + "/api/v1/clusters", headers=bearer(stale)), "invalid_token")
        assert httpx.get(base + "/api/v1/clusters", headers=bearer(shortened)).status_code == 200
        with model.engine.begin() as connection:
            connection.execute(sa.update(api_tokens).where(api_tokens.c.name == "shortened").values(expires=long_ago))
        wait_until(lambda: httpx.get(base + "/api/v1/clusters", headers=bearer(shortened)).status_code == 401,
                   timeout=WAIT, what="the worker to see the new expiry")
    model.close()


def test_a_remembered_token_still_expires_on_time(sqlite_url: str) -> None:
    """The worker's memory of a lookup does not outlive the token: expiry is checked on every request."""
    model = ReadModel(sqlite_url)
    token = create_token(model, "day", tokens.READ, lifetime=timedelta(days=1))
    now = [time.time()]
    db = Database(sqlite_url)
    cache = TokenCache(db, ttl=3600, clock=lambda: now[0])
    grant = cache.find(f"Bearer {token}")
    assert grant is not None and grant.name == "day" and grant.scopes == {tokens.READ}
    assert cache.find(f"bearer   {token} ") == grant  # the scheme is case-insensitive
    token_command(model.url, "revoke", "day")
    assert cache.find(f"Bearer {token}") == grant  # remembered: the database is not read again within the ttl
    now[0] += 86400 + 1
    assert cache.find(f"Bearer {token}") is None
    assert TokenCache(db).find(f"Bearer {token}") is None  # a fresh lookup sees the revocation
    for wrong in (f"Bearer {token}x", f"Basic {token}", token, "Bearer ", ""):
        assert cache.find(wrong) is None
    db.close()
    model.close()


def server_side_pid(port: int, client_port: int) -> int | None:
    """The process holding the server end of the loopback TCP connection from ``client_port`` (Linux)."""
    wanted = f":{port:04X}", f":{client_port:04X}"
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(wanted[0]) and fields[2].endswith(wanted[1]):
            inode = fields[9]
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") == target for fd in os.listdir(f"/proc/{pid}/fd")):
                return int(pid)
        except OSError:  # the process ended or is not ours to inspect
            continue
    return None


def get_status(connection: http.client.HTTPConnection, token: str) -> int:
    """One request on this keep-alive connection; raises if the server closed it meanwhile."""
    connection.request("GET", "/api/v1/clusters", headers=bearer(token))
    response = connection.getresponse()
    response.read()
    return response.status


def connection_per_worker(port: int, token: str, workers: int) -> dict[int, http.client.HTTPConnection]:
    """Keep-alive connections, one held by each worker process, each having answered 200 to ``token`` (so
    each worker has the token in its memory)."""
    held: dict[int, http.client.HTTPConnection] = {}
    for _ in range(200):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        assert get_status(connection, token) == 200
        pid = server_side_pid(port, connection.sock.getsockname()[1])
        if pid is not None and pid not in held:
            held[pid] = connection
        else:
            connection.close()
        if len(held) == workers:
            break
    assert len(held) == workers, "could not reach every worker"
    for connection in held.values():  # again, on every worker, right before the test goes on
        assert get_status(connection, token) == 200
    return held


def test_revocation_reaches_every_worker(sqlite_url: str) -> None:
    model = ReadModel(sqlite_url)
    token = create_token(model, "soon-revoked", tokens.READ)
    with serve(model.url, "--auth", "tokens", "--workers", "2") as base:
        held = connection_per_worker(int(base.rsplit(":", 1)[1]), token, 2)
        sockets = {pid: connection.sock for pid, connection in held.items()}
        with model.engine.begin() as connection:
            tokens.revoke(connection, "soon-revoked")
        waiting = dict(held)

        def every_worker_refuses() -> bool:
            # every connection is used on each round: an idle one would be closed by the server
            for pid, connection in list(waiting.items()):
                if get_status(connection, token) == 401:
                    del waiting[pid]
            return not waiting

        wait_until(every_worker_refuses, timeout=WAIT, what="the revocation to reach every worker")
        assert {pid: connection.sock for pid, connection in held.items()} == sockets  # no reconnection
        for connection in held.values():
            connection.close()
    model.close()


def test_preflight_and_cors_headers_only_when_configured(sqlite_url: str) -> None:
    model = ReadModel(sqlite_url)
    token = create_token(model, "browser", tokens.READ)
    origin = {"Origin": "https://dash.example.com"}
    with serve(model.url, "--auth", "tokens") as base:
        response = httpx.get(base + "/api/v1/clusters", headers={**origin, **bearer(token)})
        assert response.status_code == 200 and "access-control-allow-origin" not in response.headers
        preflight = httpx.options(base + "/api/v1/clusters", headers={
            **origin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"})
        assert preflight.status_code == 401 and "access-control-allow-origin" not in preflight.headers
    with serve(model.url, "--auth", "tokens", "--cors-origin", "https://dash.example.com",
               "--cors-origin", "https://other.example.com") as base:
        response = httpx.get(base + "/api/v1/clusters", headers={**origin, **bearer(token)})
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "https://dash.example.com"
        assert "ETag" in response.headers["access-control-expose-headers"]
        denied = httpx.get(base + "/api/v1/clusters", headers=origin)  # the browser may read the 401
        assert denied.status_code == 401 and denied.headers["access-control-allow-origin"] == origin["Origin"]
        stranger = httpx.get(base + "/api/v1/clusters", headers={"Origin": "https://evil.example", **bearer(token)})
        assert stranger.status_code == 200 and "access-control-allow-origin" not in stranger.headers
        preflight = httpx.options(base + "/api/v1/clusters", headers={
            **origin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-headers"] == "authorization"
        assert "GET" in preflight.headers["access-control-allow-methods"]
    model.close()


# -- listening beyond loopback -----------------------------------------------------------------------

def serve_command(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "omni_readmodel", "serve", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_beyond_loopback_needs_tokens_or_an_explicit_none(sqlite_url: str) -> None:
    refused = serve_command("--host", "0.0.0.0", "--database-url", sqlite_url)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "--auth tokens" in refused.stderr and "--auth none" in refused.stderr
    # either choice passes the gate (and stops at the next one: this database is not migrated)
    for choice in ("tokens", "none"):
        passed = serve_command("--host", "0.0.0.0", "--auth", choice, "--database-url", sqlite_url, "--port", "1")
        assert passed.returncode == 1 and "omni-readmodel migrate" in passed.stderr, passed.stderr


# -- TLS -----------------------------------------------------------------------------------------------

def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey]
                 | None, *, ca: bool = False, usage: x509.ObjectIdentifier | None = None) -> x509.Certificate:
    now = datetime.now(UTC)
    issuer_name, issuer_key = issuer or (_name(subject), key)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if usage == ExtendedKeyUsageOID.SERVER_AUTH:
            import ipaddress

            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey | None = None) -> None:
    data = certificate.public_bytes(serialization.Encoding.PEM)
    path.write_bytes(data)
    if key is not None:
        path.with_suffix(".key").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("test CA", ca_key, None, ca=True)
    _write(tmp_path / "ca.pem", ca)
    for name, usage in (("server", ExtendedKeyUsageOID.SERVER_AUTH), ("client", ExtendedKeyUsageOID.CLIENT_AUTH)):
        key = ec.generate_private_key(ec.SECP256R1())
        _write(tmp_path / f"{name}.pem", _certificate(name, key, (ca.subject, ca_key), usage=usage), key)
    return tmp_path


def client_context(pki: Path, *, with_certificate: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki / "ca.pem"))
    if with_certificate:
        context.load_cert_chain(pki / "client.pem", pki / "client.key")
    return context


def test_tls_and_mutual_tls(sqlite_url: str, pki: Path) -> None:
    model = ReadModel(sqlite_url)
    model.apply([resource("Machine", "m1")])
    server = ["--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key")]
    plain = client_context(pki, with_certificate=False)
    with serve(model.url, *server, tls=plain) as base:
        assert base.startswith("https://")
        response = httpx.get(base + "/api/v1/machines/m1", verify=plain)
        assert response.status_code == 200 and response.json()["_links"]["self"].startswith(base)
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(base + "/livez")  # the system's CAs do not know the test CA
        with pytest.raises(httpx.RemoteProtocolError, match="disconnected"):
            httpx.get(base.replace("https://", "http://") + "/livez")

    mutual = client_context(pki, with_certificate=True)
    with serve(model.url, *server, "--tls-client-ca", str(pki / "ca.pem"), tls=mutual) as base:
        assert httpx.get(base + "/api/v1/machines/m1", verify=mutual).status_code == 200
        # TLS 1.3: the handshake completes, then the server drops the connection of a client without one
        with pytest.raises(httpx.RemoteProtocolError, match="Server disconnected without sending a response"):
            httpx.get(base + "/api/v1/machines/m1", verify=plain)
    model.close()


def test_unusable_tls_options_are_refused(sqlite_url: str, pki: Path) -> None:
    cases = [
        (["--tls-cert", str(pki / "server.pem")], "--tls-cert and --tls-key go together"),
        (["--tls-client-ca", str(pki / "ca.pem")], "--tls-client-ca needs --tls-cert"),
        (["--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "client.key")], "cannot use the TLS files"),
        (["--tls-cert", str(pki / "missing.pem"), "--tls-key", str(pki / "server.key")], "cannot use the TLS files"),
        (["--max-in-flight", "-1"], "--max-in-flight must be 0"),
    ]
    for args, message in cases:
        result = serve_command("--database-url", sqlite_url, *args)
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr, args


# -- the in-flight cap -------------------------------------------------------------------------------

def test_in_flight_cap_answers_429_and_spares_the_probes(sqlite_url: str) -> None:
    model = ReadModel(sqlite_url)
    model.apply([resource("Machine", "m1")])
    model.bootstrap_streams()
    with serve(model.url, "--max-in-flight", "1") as base:
        assert httpx.get(base + "/api/v1/machines/m1").status_code == 200

        def hold() -> None:  # waits in the worker for a revision that never comes (then 503)
            held.append(httpx.get(f"{base}/api/v1/machines/m1?min_revision={model.revision + 1000}", timeout=30))

        refusal = None
        for _ in range(5):  # a slow machine may let a holder finish before a probe gets in
            held: list[httpx.Response] = []
            holder = threading.Thread(target=hold)
            holder.start()
            while holder.is_alive() and refusal is None:
                response = httpx.get(base + "/api/v1/machines/m1")
                if response.status_code == 429:
                    refusal = response
                    assert httpx.get(base + "/livez").status_code == 200
                    assert httpx.get(base + "/readyz").status_code == 200
            holder.join()
            assert held[0].status_code == 503
            if refusal is not None:
                break
        assert refusal is not None, "no request was refused while one was in flight"
        assert refusal.headers["retry-after"] == "1"
        assert refusal.headers["content-type"] == "application/problem+json"
        assert refusal.json()["status"] == 429 and refusal.json()["instance"] == "/api/v1/machines/m1"
        # the held request has ended: the slot is free again
        assert httpx.get(base + "/api/v1/machines/m1").status_code == 200
    model.close()
