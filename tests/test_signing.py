"""Omni service-account signing: OpenPGP subset, client signing, server verification, interceptors.

The OpenPGP code is checked against GnuPG in both directions (gpg verifies our signatures and keys; we
read gpg's keys and verify its signatures), not only against our own verifier.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent import futures
from datetime import timedelta
from pathlib import Path

import grpc
import grpc.aio
import pytest

from omni_client import openpgp
from omni_client.openpgp import OpenPGPError
from omni_client.signing import (
    ServiceAccountKey,
    ServiceAccountKeyError,
    SigningInterceptor,
    aio_signing_interceptors,
    build_payload,
    new_service_account,
)
from simulator.auth import (
    AioSignatureInterceptor,
    AuthError,
    SignatureInterceptor,
    SignatureVerifier,
    current_identity,
    metadata_to_mapping,
)

WATCH = "/cosi.resource.State/Watch"
NAME = "automation"
GPG = shutil.which("gpg")
# In CI the GnuPG cross-checks are the independent oracle for the OpenPGP code: a missing gpg fails there.
GPG_REQUIRED = os.environ.get("CI", "").lower() in ("true", "1") or os.environ.get(
    "OMNI_READMODEL_REQUIRE_PG"
) == "1"


@pytest.fixture(scope="module")
def account() -> tuple[str, str]:
    """(OMNI_SERVICE_ACCOUNT_KEY value, armored public key)."""
    return new_service_account(NAME, timedelta(hours=1))


@pytest.fixture(scope="module")
def key(account: tuple[str, str]) -> ServiceAccountKey:
    return ServiceAccountKey.from_value(account[0])


@pytest.fixture(scope="module")
def verifier(account: tuple[str, str]) -> SignatureVerifier:
    return SignatureVerifier([account[1]])


def signed(key: ServiceAccountKey, method: str = WATCH, extra=(), now: float | None = None) -> dict:
    return metadata_to_mapping([*extra, *key.sign_call(method, extra, now=now)])


def sign_payload(key: ServiceAccountKey, payload: dict, now: float | None = None) -> dict[str, list[str]]:
    """Metadata for a hand-made payload (correctly signed), to test what the server does with it."""
    now = time.time() if now is None else now
    text = json.dumps(payload)
    return {
        "x-sidero-timestamp": [str(int(now))],
        "x-sidero-payload": [text],
        "x-sidero-signature": [key.signature_header(text, now=now)],
    }


# --------------------------------------------------------------------------------------------------
# OpenPGP subset


def test_sign_verify_round_trip() -> None:
    private, public = openpgp.generate_key("rt", timedelta(days=1))
    sk, pk = openpgp.load_private_key(private), openpgp.load_public_key(public)
    assert sk.fingerprint == pk.fingerprint and len(pk.fingerprint) == 40 and pk.fingerprint.islower()
    assert openpgp.load_public_key(private) == pk  # a private block also yields the public key
    assert pk.user_ids == ("rt (linux/amd64) <rt@serviceaccount.omni.sidero.dev>",)
    assert pk.expires == pk.created + 86400
    sig = sk.sign(b"payload")
    openpgp.verify_detached(pk, b"payload", sig)
    with pytest.raises(OpenPGPError, match="does not match"):
        openpgp.verify_detached(pk, b"payload!", sig)


def test_generate_without_ttl_never_expires() -> None:
    _, public = openpgp.generate_key("forever", None)
    key = openpgp.load_public_key(public)
    assert key.expires is None and not key.is_expired(time.time() + 10 * 365 * 86400)


def test_signature_time_and_key_expiry_checks() -> None:
    now = time.time()
    private, public = openpgp.generate_key("t", timedelta(hours=1), now=now - 100)
    sk, pk = openpgp.load_private_key(private), openpgp.load_public_key(public)
    future = sk.sign(b"x", now=now + 60)
    with pytest.raises(OpenPGPError, match="future"):
        pk.verify(b"x", future, now=now)
    pk.verify(b"x", future, now=now, skew=60)
    with pytest.raises(OpenPGPError, match="expired"):
        pk.verify(b"x", sk.sign(b"x", now=now), now=now + 7200)
    with pytest.raises(OpenPGPError, match="older than the key"):
        pk.verify(b"x", sk.sign(b"x", now=now - 1000), now=now)


def test_armor_crc_detects_corruption() -> None:
    text = openpgp.armor("PGP SIGNATURE", b"\x01\x02\x03 hello")
    assert openpgp.dearmor(text) == ("PGP SIGNATURE", b"\x01\x02\x03 hello")
    lines = text.splitlines()
    lines[2] = lines[2][:-4] + ("AAAA" if lines[2][-4:] != "AAAA" else "BBBB")
    with pytest.raises(OpenPGPError, match="CRC"):
        openpgp.dearmor("\n".join(lines))
    with pytest.raises(OpenPGPError, match="BEGIN"):
        openpgp.dearmor("no armor here")


def _old_format(packets: list[openpgp.Packet]) -> bytes:
    out = b""
    for packet in packets:  # old format, two-octet length
        out += bytes([0x80 | packet.tag << 2 | 1]) + len(packet.body).to_bytes(2, "big") + packet.body
    return out


def test_old_format_packets_and_armor_headers() -> None:
    private, _ = openpgp.generate_key("old", timedelta(days=1))
    packets = list(openpgp.read_packets(openpgp.dearmor(private)[1]))
    assert [p.tag for p in packets] == [5, 13, 2]
    rearmored = openpgp.armor(
        "PGP PRIVATE KEY BLOCK", _old_format(packets), (("Version", "x"), ("Comment", "y"))
    )
    assert openpgp.load_private_key(rearmored).fingerprint == openpgp.load_private_key(private).fingerprint


def test_encrypted_or_public_only_secret_key_is_rejected() -> None:
    private, public = openpgp.generate_key("enc", timedelta(days=1))
    packets = list(openpgp.read_packets(openpgp.dearmor(private)[1]))
    body = bytearray(packets[0].body)
    body[len(openpgp.load_public_key(public).body)] = 254  # S2K usage: encrypted with SHA-1 check
    packets[0] = openpgp.Packet(5, bytes(body))
    data = b"".join(openpgp.write_packet(p.tag, p.body) for p in packets)
    with pytest.raises(OpenPGPError, match="encrypted"):
        openpgp.load_private_key(data)
    with pytest.raises(OpenPGPError, match="no secret key"):
        openpgp.load_private_key(public)


# --------------------------------------------------------------------------------------------------
# Independent check with GnuPG


def require_gpg() -> None:
    """Skip (with the reason in the -ra summary) without gpg; fail instead when CI requires it."""
    if GPG is not None:
        return
    reason = "gpg (GnuPG) is not on PATH: install gnupg to run the independent OpenPGP checks"
    if GPG_REQUIRED:
        pytest.fail(f"{reason}; required because CI=true or OMNI_READMODEL_REQUIRE_PG=1", pytrace=False)
    pytest.skip(reason)


@contextlib.contextmanager
def new_gnupg_home() -> Iterator[Path]:
    require_gpg()
    # A short path: gpg-agent's socket lives in the home directory and socket paths are length-limited.
    home = Path(tempfile.mkdtemp(prefix="gpg-"))
    home.chmod(0o700)
    try:
        yield home
    finally:
        if shutil.which("gpgconf"):
            subprocess.run(
                ["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"], capture_output=True, timeout=30
            )
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def gnupg_home() -> Iterator[Path]:
    with new_gnupg_home() as home:
        yield home


def gpg(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GNUPGHOME": str(home), "LC_ALL": "C", "LANGUAGE": "C"}
    assert GPG is not None
    return subprocess.run(
        [GPG, "--batch", "--no-tty", *args], capture_output=True, text=True, env=env, timeout=120
    )


def gpg_colons(home: Path, *args: str) -> dict[str, list[str]]:
    """First 'pub'/'sec' and 'fpr' records of gpg --with-colons output."""
    out = gpg(home, "--with-colons", "--fixed-list-mode", *args).stdout
    records: dict[str, list[str]] = {}
    for line in out.splitlines():
        fields = line.split(":")
        records.setdefault(fields[0], fields)
    return records


def gpg_verify(home: Path, payload: bytes, signature: bytes) -> subprocess.CompletedProcess[str]:
    (home / "payload").write_bytes(payload)
    (home / "payload.sig").write_bytes(signature)
    return gpg(home, "--verify", str(home / "payload.sig"), str(home / "payload"))


def test_gpg_verifies_our_key_and_signature(gnupg_home: Path, account, key: ServiceAccountKey) -> None:
    (gnupg_home / "pub.asc").write_text(account[1])
    imported = gpg(gnupg_home, "--import", str(gnupg_home / "pub.asc"))
    assert imported.returncode == 0, imported.stderr
    records = gpg_colons(gnupg_home, "--list-keys")
    assert records["fpr"][9].lower() == key.fingerprint
    public = openpgp.load_public_key(account[1])
    assert int(records["pub"][5]) == public.created and int(records["pub"][6]) == public.expires
    assert "s" in records["pub"][11]  # usable for signing

    metadata = dict(key.sign_call(WATCH, [("nodes", "n1")]))
    payload = metadata["x-sidero-payload"].encode()
    signature = base64.b64decode(metadata["x-sidero-signature"].split(" ")[3])
    result = gpg_verify(gnupg_home, payload, signature)
    assert result.returncode == 0 and "Good signature" in result.stderr, result.stderr
    bad = gpg_verify(gnupg_home, payload + b" ", signature)
    assert bad.returncode != 0 and "BAD signature" in bad.stderr


@pytest.mark.parametrize("digest", ["SHA256", "SHA384", "SHA512"])
def test_gpg_uses_our_private_key_and_we_verify(
    gnupg_home: Path, account, key: ServiceAccountKey, digest
) -> None:
    (gnupg_home / "sa.asc").write_text(pgp_key_of(account[0]))
    imported = gpg(gnupg_home, "--import", str(gnupg_home / "sa.asc"))
    assert imported.returncode == 0 and "secret keys imported: 1" in imported.stderr, imported.stderr
    (gnupg_home / "data").write_bytes(b'{"method":"/x"}')
    signing = gpg(
        gnupg_home,
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        "",
        "--digest-algo",
        digest,
        "-u",
        key.fingerprint,
        "--detach-sign",
        "-o",
        str(gnupg_home / "data.sig"),
        str(gnupg_home / "data"),
    )
    assert signing.returncode == 0, signing.stderr
    signature = (gnupg_home / "data.sig").read_bytes()
    openpgp.verify_detached(openpgp.load_public_key(account[1]), b'{"method":"/x"}', signature)
    with pytest.raises(OpenPGPError, match="does not match the data"):
        openpgp.verify_detached(openpgp.load_public_key(account[1]), b'{"method":"/y"}', signature)


def pgp_key_of(value: str) -> str:
    return json.loads(base64.b64decode(value))["pgp_key"]


def test_gpg_generated_key_is_read_and_signs_for_gpg(gnupg_home: Path) -> None:
    created = gpg(
        gnupg_home,
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        "",
        "--quick-gen-key",
        "x <x@example.com>",
        "ed25519",
        "sign",
        "1d",
    )
    assert created.returncode == 0, created.stderr
    exported = gpg(
        gnupg_home, "--pinentry-mode", "loopback", "--passphrase", "", "--export-secret-keys", "--armor"
    )
    assert exported.returncode == 0 and "PGP PRIVATE KEY BLOCK" in exported.stdout, exported.stderr
    public_armored = gpg(gnupg_home, "--export", "--armor").stdout

    private = openpgp.load_private_key(exported.stdout)
    records = gpg_colons(gnupg_home, "--list-secret-keys")
    assert private.fingerprint == records["fpr"][9].lower()
    assert private.public.created == int(records["sec"][5])
    assert private.public.expires == int(records["sec"][6])
    assert private.public.user_ids == ("x <x@example.com>",)
    assert openpgp.load_public_key(public_armored) == private.public

    payload = b'{"headers":{},"method":"/cosi.resource.State/Watch"}'
    result = gpg_verify(gnupg_home, payload, private.sign(payload))
    assert result.returncode == 0 and "Good signature" in result.stderr, result.stderr

    # And the whole scheme with gpg's key: our client signs, our server verifies.
    account = ServiceAccountKey("x", exported.stdout)
    assert SignatureVerifier([public_armored]).verify(WATCH, signed(account)) == "x"


def test_gpg_passphrase_protected_key_is_rejected_clearly(gnupg_home: Path) -> None:
    created = gpg(
        gnupg_home,
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        "hunter2",
        "--quick-gen-key",
        "p <p@example.com>",
        "ed25519",
        "sign",
        "1d",
    )
    assert created.returncode == 0, created.stderr
    exported = gpg(
        gnupg_home,
        "--pinentry-mode",
        "loopback",
        "--passphrase",
        "hunter2",
        "--export-secret-keys",
        "--armor",
    )
    assert exported.returncode == 0, exported.stderr
    with pytest.raises(OpenPGPError, match="encrypted") as excinfo:
        openpgp.load_private_key(exported.stdout)
    assert "hunter2" not in str(excinfo.value)


# --------------------------------------------------------------------------------------------------
# Refusals, with keys and signatures made by GnuPG: what Omni's verifier refuses, we refuse too


class GnuPGKeys:
    """A GnuPG home holding keys by e-mail, for signatures that our own code never produces."""

    def __init__(self, home: Path) -> None:
        self.home = home

    def generate(self, email: str, algo: str, expire: str, *extra: str) -> None:
        user_id = f"{email.split('@')[0]} <{email}>"
        created = gpg(self.home, *extra, *NO_PASSPHRASE, "--quick-gen-key", user_id, algo, "sign", expire)
        assert created.returncode == 0, created.stderr

    def public(self, email: str) -> bytes:
        exported = gpg(self.home, "--export", "--armor", email)
        assert exported.returncode == 0 and exported.stdout, exported.stderr
        return exported.stdout.encode()

    def secret(self, email: str) -> str:
        exported = gpg(self.home, *NO_PASSPHRASE, "--export-secret-keys", "--armor", email)
        assert exported.returncode == 0 and exported.stdout, exported.stderr
        return exported.stdout

    def sign(self, email: str, data: bytes, *options: str) -> bytes:
        """A binary detached signature of ``data`` by ``email``'s key, with extra gpg ``options``."""
        (self.home / "data").write_bytes(data)
        signature = self.home / "data.sig"
        signature.unlink(missing_ok=True)
        made = gpg(
            self.home, *NO_PASSPHRASE, *options, "-u", email, "--detach-sign", "-o", str(signature),
            str(self.home / "data"),
        )
        assert made.returncode == 0, made.stderr
        return signature.read_bytes()


NO_PASSPHRASE = ("--pinentry-mode", "loopback", "--passphrase", "")
DATA = b'{"headers":{},"method":"/cosi.resource.State/Watch"}'
DAY = 86400


@pytest.fixture(scope="module")
def gpg_keys() -> Iterator[GnuPGKeys]:
    with new_gnupg_home() as home:
        keys = GnuPGKeys(home)
        keys.generate("ed@example.com", "ed25519", "2d")
        # Created and expired in January 2020.
        keys.generate("old@example.com", "ed25519", "1d", "--faked-system-time", "20200101T000000")
        keys.generate("rsa@example.com", "rsa2048", "1d")
        keys.generate("ecdsa@example.com", "nistp256", "1d")
        yield keys


def gpg_signed_call(keys: GnuPGKeys, email: str, *options: str) -> dict[str, list[str]]:
    """Metadata of a call whose payload gpg signed with ``options``, with the key's real fingerprint."""
    now = int(time.time())
    payload = build_payload(WATCH, [("x-sidero-timestamp", str(now))])
    signature = keys.sign(email, payload.encode(), *options)
    fingerprint = openpgp.load_public_key(keys.public(email)).fingerprint
    return {
        "x-sidero-timestamp": [str(now)],
        "x-sidero-payload": [payload],
        "x-sidero-signature": [f"siderov1 x {fingerprint} {base64.b64encode(signature).decode()}"],
    }


def test_gpg_sha256_signature_is_accepted(gpg_keys: GnuPGKeys) -> None:
    # The control for the refusals below: the same key, data and verifier accept a SHA-256 signature.
    key = openpgp.load_public_key(gpg_keys.public("ed@example.com"))
    openpgp.verify_detached(key, DATA, gpg_keys.sign("ed@example.com", DATA, "--digest-algo", "SHA256"))
    verifier = SignatureVerifier([gpg_keys.public("ed@example.com")])
    assert verifier.verify(WATCH, gpg_signed_call(gpg_keys, "ed@example.com", "--digest-algo", "SHA256")) == "x"


def test_sha1_signature_is_refused(gpg_keys: GnuPGKeys) -> None:
    key = openpgp.load_public_key(gpg_keys.public("ed@example.com"))
    signature = gpg_keys.sign("ed@example.com", DATA, "--digest-algo", "SHA1")
    with pytest.raises(OpenPGPError, match=r"hash algorithm 2 is not accepted \(SHA-256/384/512 only\)"):
        openpgp.verify_detached(key, DATA, signature)
    verifier = SignatureVerifier([gpg_keys.public("ed@example.com")])
    with pytest.raises(AuthError, match="hash algorithm 2 is not accepted"):
        verifier.verify(WATCH, gpg_signed_call(gpg_keys, "ed@example.com", "--digest-algo", "SHA1"))


def test_expired_signature_is_refused(gpg_keys: GnuPGKeys) -> None:
    key = openpgp.load_public_key(gpg_keys.public("ed@example.com"))  # the key lives 2 days
    signature = gpg_keys.sign("ed@example.com", DATA, "--default-sig-expire", "1d")
    openpgp.verify_detached(key, DATA, signature, now=time.time() + DAY - 600)
    with pytest.raises(OpenPGPError, match="signature is expired"):
        openpgp.verify_detached(key, DATA, signature, now=time.time() + DAY + 600)


def test_expired_key_is_refused_even_for_a_signature_made_while_valid(gpg_keys: GnuPGKeys) -> None:
    public = gpg_keys.public("old@example.com")
    key = openpgp.load_public_key(public)
    assert key.expires == key.created + DAY and key.is_expired()
    # Made on the key's first day, when it was valid: Omni still refuses it once the key has expired.
    signature = gpg_keys.sign("old@example.com", DATA, "--faked-system-time", "20200101T010000")
    openpgp.verify_detached(key, DATA, signature, now=key.created + 7200)
    with pytest.raises(OpenPGPError, match="key is expired"):
        openpgp.verify_detached(key, DATA, signature)
    call = gpg_signed_call(gpg_keys, "old@example.com", "--faked-system-time", "20200101T010000")
    with pytest.raises(AuthError, match="key is expired"):
        SignatureVerifier([public]).verify(WATCH, call)


def test_text_signature_is_refused(gpg_keys: GnuPGKeys) -> None:
    key = openpgp.load_public_key(gpg_keys.public("ed@example.com"))
    signature = gpg_keys.sign("ed@example.com", DATA, "--textmode")
    with pytest.raises(OpenPGPError, match=r"not a binary-document signature \(type 0x01\)"):
        openpgp.verify_detached(key, DATA, signature)
    verifier = SignatureVerifier([gpg_keys.public("ed@example.com")])
    with pytest.raises(AuthError, match=r"type 0x01"):
        verifier.verify(WATCH, gpg_signed_call(gpg_keys, "ed@example.com", "--textmode"))


def test_certification_is_not_a_data_signature(gpg_keys: GnuPGKeys) -> None:
    public = gpg_keys.public("ed@example.com")
    key = openpgp.load_public_key(public)
    self_signature = next(p for p in openpgp.read_packets(openpgp.dearmor(public)[1]) if p.tag == 2)
    certification = openpgp.write_packet(2, self_signature.body)
    with pytest.raises(OpenPGPError, match=r"not a binary-document signature \(type 0x13\)"):
        openpgp.verify_detached(key, DATA, certification)


@pytest.mark.parametrize(("email", "algorithm"), [("rsa@example.com", 1), ("ecdsa@example.com", 19)])
def test_non_eddsa_key_is_refused(gpg_keys: GnuPGKeys, email: str, algorithm: int) -> None:
    message = rf"unsupported public-key algorithm {algorithm} \(only 22, EdDSA on Ed25519\)"
    with pytest.raises(OpenPGPError, match=message):
        openpgp.load_public_key(gpg_keys.public(email))
    with pytest.raises(OpenPGPError, match=message):
        SignatureVerifier().add_public_key(gpg_keys.public(email))
    with pytest.raises(ServiceAccountKeyError, match=message):
        ServiceAccountKey("x", gpg_keys.secret(email))
    # Its signature, presented for an EdDSA key, is refused as well.
    key = openpgp.load_public_key(gpg_keys.public("ed@example.com"))
    with pytest.raises(OpenPGPError, match=rf"unsupported signature public-key algorithm {algorithm}"):
        openpgp.verify_detached(key, DATA, gpg_keys.sign(email, DATA))


# --------------------------------------------------------------------------------------------------
# Client signing and server verification


def test_payload_matches_go_client_format(key: ServiceAccountKey) -> None:
    metadata = key.sign_call(WATCH, now=1700000000)
    assert [k for k, _ in metadata] == ["x-sidero-timestamp", "x-sidero-payload", "x-sidero-signature"]
    assert metadata[0][1] == "1700000000"
    assert metadata[1][1] == (
        '{"headers":{"authorization":null,"cluster":null,"context":null,"fieldSelectors":null,"namespace":null,'
        '"nodes":null,"runtime":null,"selectors":null,"uid":null,"x-sidero-timestamp":["1700000000"]},'
        '"method":"/cosi.resource.State/Watch"}'
    )
    scheme, identity, fingerprint, signature = metadata[2][1].split(" ")
    assert (scheme, identity, fingerprint) == ("siderov1", NAME, key.fingerprint)
    assert base64.b64decode(signature, validate=True)[0] == 0xC2  # new-format tag-2 packet, binary


def test_verify_accepts_signed_call(key: ServiceAccountKey, verifier: SignatureVerifier) -> None:
    assert verifier.verify(WATCH, signed(key)) == NAME
    extra = [("nodes", "a"), ("nodes", "b"), ("cluster", "c1"), ("other", "ignored")]
    assert verifier.verify(WATCH, signed(key, extra=extra)) == NAME


def test_verify_accepts_web_ui_style_payload_without_absent_keys(key, verifier) -> None:
    now = time.time()
    payload = {"method": WATCH, "headers": {"x-sidero-timestamp": [str(int(now))]}}
    assert verifier.verify(WATCH, sign_payload(key, payload, now)) == NAME
    payload["headers"]["nodes"] = None  # null is the same as absent
    assert verifier.verify(WATCH, sign_payload(key, payload, now)) == NAME


def test_reject_empty_list_for_absent_header(key, verifier) -> None:
    now = time.time()
    payload = {"method": WATCH, "headers": {"x-sidero-timestamp": [str(int(now))], "nodes": []}}
    with pytest.raises(AuthError, match="nodes"):
        verifier.verify(WATCH, sign_payload(key, payload, now))


def test_reject_tampered_payload(key, verifier) -> None:
    metadata = signed(key)
    metadata["x-sidero-payload"] = [metadata["x-sidero-payload"][0].replace('{"headers"', '{ "headers"')]
    with pytest.raises(AuthError, match="signature verification failed"):
        verifier.verify(WATCH, metadata)


def test_reject_payload_for_other_method(key, verifier) -> None:
    with pytest.raises(AuthError, match="different method"):
        verifier.verify("/cosi.resource.State/List", signed(key, WATCH))


def test_reject_stale_timestamp() -> None:
    now = float(int(time.time()))  # whole seconds, so that the boundary case is exact
    # The key must predate the signatures: a signature older than its key is invalid.
    private, public = openpgp.generate_key(NAME, timedelta(hours=1), now=now - 1000)
    key = ServiceAccountKey(NAME, private)
    verifier = SignatureVerifier([public], clock=lambda: now)
    assert verifier.verify(WATCH, signed(key, now=now - 300)) == NAME  # the window is inclusive
    with pytest.raises(AuthError, match="timestamp"):
        verifier.verify(WATCH, signed(key, now=now - 301))
    with pytest.raises(AuthError, match="timestamp"):
        verifier.verify(WATCH, signed(key, now=now + 301))


def test_future_signature_passes_only_through_omni_retry() -> None:
    now = time.time()
    # Key lifetime 1 h: retry shift = min(5 min, 30 min) = 5 min.
    value, public = new_service_account("ahead", timedelta(hours=1))
    ahead = ServiceAccountKey.from_value(value)
    verifier = SignatureVerifier([public], clock=lambda: now)
    assert verifier.verify(WATCH, signed(ahead, now=now + 200)) == "ahead"
    # Key lifetime 2 min: retry shift = 1 min, so a signature 2 min ahead fails.
    value, public = new_service_account("short", timedelta(minutes=2))
    short = ServiceAccountKey.from_value(value)
    verifier = SignatureVerifier([public], clock=lambda: time.time())
    with pytest.raises(AuthError, match="future"):
        verifier.verify(WATCH, signed(short, now=time.time() + 90))


def test_reject_expired_key() -> None:
    now = time.time()
    private, public = openpgp.generate_key("old", timedelta(hours=1), now=now - 7200)
    old = ServiceAccountKey("old", private)
    with pytest.raises(AuthError, match="expired"):
        SignatureVerifier([public]).verify(WATCH, signed(old))


def test_reject_unknown_fingerprint(key) -> None:
    _, other_public = new_service_account("other", timedelta(hours=1))
    with pytest.raises(AuthError, match="unknown key"):
        SignatureVerifier([other_public]).verify(WATCH, signed(key))
    with pytest.raises(AuthError, match="unknown key"):
        SignatureVerifier([]).verify(WATCH, signed(key))


def test_reject_signature_by_other_key_under_known_fingerprint(key, verifier) -> None:
    other = ServiceAccountKey.from_value(new_service_account(NAME, timedelta(hours=1))[0])
    metadata = signed(other)
    scheme, name, _, sig = metadata["x-sidero-signature"][0].split(" ")
    metadata["x-sidero-signature"] = [f"{scheme} {name} {key.fingerprint} {sig}"]
    with pytest.raises(AuthError, match="signature verification failed"):
        verifier.verify(WATCH, metadata)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("x-sidero-signature", "missing x-sidero-signature header"),
        ("x-sidero-payload", "missing x-sidero-payload header"),
        ("x-sidero-timestamp", "missing or malformed x-sidero-timestamp header"),
    ],
)
def test_reject_missing_header(key, verifier, header, message) -> None:
    metadata = signed(key)
    del metadata[header]
    with pytest.raises(AuthError, match=message):
        verifier.verify(WATCH, metadata)


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda h: h.replace("siderov1 ", "siderov2 ", 1), "scheme"),
        (lambda h: h.rsplit(" ", 1)[0], "malformed"),
        (lambda h: h[:-8] + "!!!!!!!!", "base64"),
    ],
)
def test_reject_bad_signature_header(key, verifier, mangle, message) -> None:
    metadata = signed(key)
    metadata["x-sidero-signature"] = [mangle(metadata["x-sidero-signature"][0])]
    with pytest.raises(AuthError, match=message):
        verifier.verify(WATCH, metadata)


def test_reject_header_values_that_differ_from_payload(key, verifier) -> None:
    metadata = signed(key, extra=[("nodes", "a")])
    metadata["nodes"] = ["b"]
    with pytest.raises(AuthError, match="nodes"):
        verifier.verify(WATCH, metadata)
    metadata = signed(key)  # header sent but not signed (null in payload)
    metadata["cluster"] = ["c1"]
    with pytest.raises(AuthError, match="cluster"):
        verifier.verify(WATCH, metadata)
    metadata = signed(key)  # the timestamp header itself is covered too
    metadata["x-sidero-timestamp"] = [str(int(metadata["x-sidero-timestamp"][0]) - 1)]
    with pytest.raises(AuthError, match="x-sidero-timestamp"):
        verifier.verify(WATCH, metadata)


def test_reject_unparsable_payload(key, verifier) -> None:
    now = time.time()
    metadata = sign_payload(key, {"method": WATCH, "headers": {}}, now)
    metadata["x-sidero-payload"] = ["{not json"]
    with pytest.raises(AuthError, match="JSON"):
        verifier.verify(WATCH, metadata)
    bad_shape = {"method": WATCH, "headers": {"x-sidero-timestamp": int(now)}}
    with pytest.raises(AuthError, match="shape"):
        verifier.verify(WATCH, sign_payload(key, bad_shape, now))


# --------------------------------------------------------------------------------------------------
# ServiceAccountKey


def test_service_account_key_from_value_and_repr(account) -> None:
    value, public = account
    key = ServiceAccountKey.from_value(value)
    assert key.name == NAME
    assert key.fingerprint == openpgp.load_public_key(public).fingerprint
    armored = pgp_key_of(value)
    for text in (repr(key), str(key), repr(key.private_key), f"{key}"):
        assert "PGP" not in text and armored[40:80] not in text and value[:40] not in text
        assert key.fingerprint in text


def test_service_account_key_from_env(account) -> None:
    value, _ = account
    other_value, _ = new_service_account("sidero", timedelta(hours=1))
    assert ServiceAccountKey.from_env({"OMNI_SERVICE_ACCOUNT_KEY": value}).name == NAME
    both = {"SIDERO_SERVICE_ACCOUNT_KEY": other_value, "OMNI_SERVICE_ACCOUNT_KEY": value}
    assert ServiceAccountKey.from_env(both).name == "sidero"
    assert (
        ServiceAccountKey.from_env({"SIDERO_SERVICE_ACCOUNT_KEY": "", "OMNI_SERVICE_ACCOUNT_KEY": value}).name
        == NAME
    )
    with pytest.raises(ServiceAccountKeyError, match="OMNI_SERVICE_ACCOUNT_KEY"):
        ServiceAccountKey.from_env({})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not base64 at all!", "not base64-encoded JSON"),
        (base64.b64encode(b"[1, 2]").decode(), "not an object"),
        (base64.b64encode(b'{"name": "a"}').decode(), "needs string fields 'name' and 'pgp_key'"),
        (base64.b64encode(json.dumps({"name": "a b", "pgp_key": "x"}).encode()).decode(), "whitespace"),
        (
            base64.b64encode(
                json.dumps({"name": "a", "pgp_key": "-----BEGIN PGP PRIVATE KEY BLOCK-----"}).encode()
            ).decode(),
            "pgp_key is unusable: armored PGP PRIVATE KEY BLOCK has no matching END line",
        ),
    ],
)
def test_service_account_key_rejects_bad_values(value: str, message: str) -> None:
    with pytest.raises(ServiceAccountKeyError, match=message) as excinfo:
        ServiceAccountKey.from_value(value)
    assert value not in str(excinfo.value)


def test_public_key_only_value_is_rejected(account) -> None:
    value = base64.b64encode(json.dumps({"name": "a", "pgp_key": account[1]}).encode()).decode()
    with pytest.raises(ServiceAccountKeyError, match="no secret key"):
        ServiceAccountKey.from_value(value)


# --------------------------------------------------------------------------------------------------
# gRPC interceptors on real servers

PING, COUNT = "/test.Echo/Ping", "/test.Echo/Count"


async def _aio_ping(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return (current_identity.get() or "-").encode() + b":" + request


async def _aio_count(request: bytes, context: grpc.aio.ServicerContext):
    for i in range(3):
        yield f"{i}:{current_identity.get()}".encode()


def _sync_ping(request: bytes, context: grpc.ServicerContext) -> bytes:
    return b"pong:" + request


def _sync_count(request: bytes, context: grpc.ServicerContext):
    for i in range(3):
        yield str(i).encode()


def _handler(ping, count) -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(
        "test.Echo",
        {
            "Ping": grpc.unary_unary_rpc_method_handler(ping),
            "Count": grpc.unary_stream_rpc_method_handler(count),
        },
    )


async def _aio_client_calls(address: str, interceptors) -> tuple[bytes, list[bytes]]:
    async with grpc.aio.insecure_channel(address, interceptors=interceptors) as channel:
        reply = await channel.unary_unary(PING)(b"hi", metadata=(("nodes", "n1"),), timeout=10)
        stream = [m async for m in channel.unary_stream(COUNT)(b"", timeout=10)]
        return reply, stream


def _sync_client_calls(address: str, interceptor=None) -> tuple[bytes, list[bytes]]:
    with grpc.insecure_channel(address) as raw:
        channel = grpc.intercept_channel(raw, interceptor) if interceptor else raw
        reply = channel.unary_unary(PING)(b"hi", metadata=(("nodes", "n1"),), timeout=10)
        return reply, list(channel.unary_stream(COUNT)(b"", timeout=10))


async def _expect_unauthenticated_aio(address: str, interceptors) -> None:
    async with grpc.aio.insecure_channel(address, interceptors=interceptors) as channel:
        with pytest.raises(grpc.aio.AioRpcError, match="invalid signature") as unary:
            await channel.unary_unary(PING)(b"hi", timeout=10)
        with pytest.raises(grpc.aio.AioRpcError, match="invalid signature") as stream:
            _ = [m async for m in channel.unary_stream(COUNT)(b"", timeout=10)]
    for error in (unary.value, stream.value):
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED and error.details() == "invalid signature"


def _expect_unauthenticated_sync(address: str, interceptor=None) -> None:
    for call in (
        lambda ch: ch.unary_unary(PING)(b"hi", timeout=10),
        lambda ch: list(ch.unary_stream(COUNT)(b"", timeout=10)),
    ):
        with grpc.insecure_channel(address) as raw:
            channel = grpc.intercept_channel(raw, interceptor) if interceptor else raw
            with pytest.raises(grpc.RpcError, match="invalid signature") as excinfo:
                call(channel)
        assert excinfo.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert excinfo.value.details() == "invalid signature"


def test_aio_server_interceptor(key: ServiceAccountKey, verifier: SignatureVerifier) -> None:
    stranger = ServiceAccountKey.from_value(new_service_account("stranger", timedelta(hours=1))[0])

    async def scenario() -> None:
        server = grpc.aio.server(interceptors=[AioSignatureInterceptor(verifier)])
        server.add_generic_rpc_handlers((_handler(_aio_ping, _aio_count),))
        address = f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}"
        await server.start()
        try:
            reply, stream = await _aio_client_calls(address, aio_signing_interceptors(key))
            assert reply == b"automation:hi"
            assert stream == [b"0:automation", b"1:automation", b"2:automation"]
            # A sync client (in a thread: it blocks) against the aio server.
            reply, stream = await asyncio.to_thread(_sync_client_calls, address, SigningInterceptor(key))
            assert reply == b"automation:hi" and len(stream) == 3
            await _expect_unauthenticated_aio(address, None)
            await _expect_unauthenticated_aio(address, aio_signing_interceptors(stranger))
            await asyncio.to_thread(_expect_unauthenticated_sync, address, SigningInterceptor(stranger))
        finally:
            await server.stop(None)

    asyncio.run(scenario())


def test_aio_server_without_verifier_passes_through() -> None:
    async def scenario() -> None:
        server = grpc.aio.server(interceptors=[AioSignatureInterceptor(None)])
        server.add_generic_rpc_handlers((_handler(_aio_ping, _aio_count),))
        address = f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}"
        await server.start()
        try:
            reply, stream = await _aio_client_calls(address, None)
            assert reply == b"-:hi" and len(stream) == 3
        finally:
            await server.stop(None)

    asyncio.run(scenario())


def test_sync_server_interceptor(key: ServiceAccountKey, verifier: SignatureVerifier) -> None:
    stranger = ServiceAccountKey.from_value(new_service_account("stranger", timedelta(hours=1))[0])
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4), interceptors=[SignatureInterceptor(verifier)]
    )
    server.add_generic_rpc_handlers((_handler(_sync_ping, _sync_count),))
    address = f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}"
    server.start()
    try:
        reply, stream = _sync_client_calls(address, SigningInterceptor(key))
        assert reply == b"pong:hi" and stream == [b"0", b"1", b"2"]
        _expect_unauthenticated_sync(address)
        _expect_unauthenticated_sync(address, SigningInterceptor(stranger))
    finally:
        server.stop(None)
