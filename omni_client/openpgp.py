"""A small OpenPGP subset for Omni service-account keys (RFC 4880, v4 keys and signatures).

Only what Omni's request signing needs is supported: legacy EdDSA keys (public-key algorithm 22) on
Ed25519 (OID 1.3.6.1.4.1.11591.15.1), unencrypted secret keys, detached binary-document signatures
with SHA-256/384/512, ASCII armor, and generation of a service-account key pair like
``omnictl serviceaccount create`` produces. Everything else fails with :class:`OpenPGPError`.

Error messages never contain key material.

Why not pysequoia (0.1.35, checked against gpg 2.2.40): its ``sign()`` has no hash choice and made
SHA-512 signatures even for keys preferring SHA-256; ``Tsk.generate`` cannot make Omni's key shape
(a primary key that signs: it makes a certify-only primary plus a signing subkey); and ``verify()``
has no reference time and accepted text (0x01) signatures, keys expired in 2020, signatures 20 min in
the future, RSA and ECDSA keys, so every Omni refusal would still be code here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "ALGO_EDDSA_LEGACY",
    "ED25519_OID",
    "OpenPGPError",
    "Packet",
    "PrivateKey",
    "PublicKey",
    "Signature",
    "armor",
    "crc24",
    "dearmor",
    "generate_key",
    "load_private_key",
    "load_public_key",
    "parse_signature",
    "read_packets",
    "service_account_user_id",
    "sign_detached",
    "verify_detached",
    "write_packet",
]


class OpenPGPError(ValueError):
    """Any malformed, unsupported or invalid OpenPGP data, or a failed verification."""


# Packet tags (RFC 4880 §4.3).
TAG_SIGNATURE = 2
TAG_SECRET_KEY = 5
TAG_PUBLIC_KEY = 6
TAG_SECRET_SUBKEY = 7
TAG_MARKER = 10
TAG_TRUST = 12
TAG_USER_ID = 13
TAG_PUBLIC_SUBKEY = 14
TAG_USER_ATTRIBUTE = 17

ALGO_EDDSA_LEGACY = 22
ED25519_OID = bytes.fromhex("2b06010401da470f01")  # 1.3.6.1.4.1.11591.15.1

# Signature types (RFC 4880 §5.2.1).
SIG_BINARY = 0x00
SIG_CERTIFICATIONS = (0x10, 0x11, 0x12, 0x13)
SIG_POSITIVE_CERTIFICATION = 0x13
SIG_DIRECT_KEY = 0x1F

# Signature subpacket types (RFC 4880 §5.2.3.1).
SUB_CREATION_TIME = 2
SUB_SIG_EXPIRATION = 3
SUB_KEY_EXPIRATION = 9
SUB_PREFERRED_SYMMETRIC = 11
SUB_ISSUER_KEY_ID = 16
SUB_PREFERRED_HASH = 21
SUB_PREFERRED_COMPRESSION = 22
SUB_KEY_FLAGS = 27
SUB_FEATURES = 30
SUB_ISSUER_FINGERPRINT = 33
# Subpackets we understand well enough to accept when they are marked critical.
_KNOWN_SUBPACKETS = frozenset({2, 3, 4, 9, 11, 16, 21, 22, 23, 25, 27, 28, 30, 33})

KEY_FLAG_CERTIFY = 0x01
KEY_FLAG_SIGN = 0x02

HASH_SHA256 = 8
_HASHES = {8: "sha256", 9: "sha384", 10: "sha512", 11: "sha224"}
# Hashes accepted on detached data signatures (what Omni's go-crypto accepts for v4 signatures).
_DATA_HASHES = frozenset({8, 9, 10})

_ARMOR_DASHES = "-----"
_PRIVATE_BLOCKS = ("PGP PRIVATE KEY BLOCK", "PGP SECRET KEY BLOCK")
_PUBLIC_BLOCK = "PGP PUBLIC KEY BLOCK"
_SIGNATURE_BLOCK = "PGP SIGNATURE"


# --------------------------------------------------------------------------------------------------
# ASCII armor (RFC 4880 §6)


def crc24(data: bytes) -> int:
    """The OpenPGP CRC-24 checksum (RFC 4880 §6.1)."""
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def armor(kind: str, data: bytes, headers: tuple[tuple[str, str], ...] = ()) -> str:
    """ASCII-armor ``data`` as a ``-----BEGIN <kind>-----`` block with a CRC-24 line."""
    encoded = base64.b64encode(data).decode("ascii")
    lines = [f"{_ARMOR_DASHES}BEGIN {kind}{_ARMOR_DASHES}"]
    lines += [f"{key}: {value}" for key, value in headers]
    lines.append("")
    lines += [encoded[i : i + 64] for i in range(0, len(encoded), 64)]
    lines.append("=" + base64.b64encode(crc24(data).to_bytes(3, "big")).decode("ascii"))
    lines.append(f"{_ARMOR_DASHES}END {kind}{_ARMOR_DASHES}")
    return "\n".join(lines) + "\n"


def dearmor(text: str | bytes) -> tuple[str, bytes]:
    """Decode the first armored block in ``text``; return ``(kind, data)``, e.g. ``("PGP SIGNATURE", ...)``.

    Armor headers are skipped. The CRC-24 line is optional (RFC 9580) but checked when present.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError:
            raise OpenPGPError("armored data is not ASCII") from None
    lines = [line.strip() for line in text.splitlines()]
    start = next((i for i, line in enumerate(lines) if _armor_kind(line, "BEGIN")), None)
    if start is None:
        raise OpenPGPError("no '-----BEGIN PGP ...-----' armor line found")
    kind = _armor_kind(lines[start], "BEGIN")
    assert kind is not None
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith(_ARMOR_DASHES)), None)
    if end is None or _armor_kind(lines[end], "END") != kind:
        raise OpenPGPError(f"armored {kind} has no matching END line")
    body = lines[start + 1 : end]
    while body and not body[-1]:
        body.pop()
    # Skip armor headers ("Key: value") up to the blank separator line, if there is one.
    if "" in body:
        body = body[body.index("") + 1 :]
    else:
        while body and ": " in body[0]:
            body = body[1:]
    checksum = None
    if body and body[-1].startswith("="):
        checksum = body.pop()[1:]
    try:
        data = base64.b64decode("".join(body), validate=True)
    except (binascii.Error, ValueError):
        raise OpenPGPError(f"armored {kind} has invalid base64") from None
    if checksum is not None:
        try:
            expected = int.from_bytes(base64.b64decode(checksum, validate=True), "big")
        except (binascii.Error, ValueError):
            raise OpenPGPError(f"armored {kind} has an invalid checksum line") from None
        if crc24(data) != expected:
            raise OpenPGPError(f"armored {kind} fails its CRC-24 check (corrupted or truncated)")
    return kind, data


def _armor_kind(line: str, word: str) -> str | None:
    prefix = f"{_ARMOR_DASHES}{word} "
    if line.startswith(prefix) and line.endswith(_ARMOR_DASHES) and len(line) > len(prefix) + 5:
        return line[len(prefix) : -len(_ARMOR_DASHES)]
    return None


# --------------------------------------------------------------------------------------------------
# Packets (RFC 4880 §4.2)


@dataclass(frozen=True)
class Packet:
    tag: int
    body: bytes = field(repr=False)


def read_packets(data: bytes) -> Iterator[Packet]:
    """Yield the packets in ``data``; both old- and new-format headers are accepted."""
    pos = 0
    while pos < len(data):
        first = data[pos]
        pos += 1
        if not first & 0x80:
            raise OpenPGPError("not OpenPGP packet data (bad packet header)")
        if first & 0x40:
            tag = first & 0x3F
            body, pos = _read_new_format_body(data, pos)
        else:
            tag = (first >> 2) & 0x0F
            body, pos = _read_old_format_body(data, pos, first & 0x03)
        yield Packet(tag, body)


def _take(data: bytes, pos: int, count: int) -> tuple[bytes, int]:
    if count < 0 or pos + count > len(data):
        raise OpenPGPError("truncated OpenPGP data")
    return data[pos : pos + count], pos + count


def _read_old_format_body(data: bytes, pos: int, length_type: int) -> tuple[bytes, int]:
    if length_type == 3:  # indeterminate length: the rest of the data
        return data[pos:], len(data)
    raw, pos = _take(data, pos, (1, 2, 4)[length_type])
    return _take(data, pos, int.from_bytes(raw, "big"))


def _read_new_format_body(data: bytes, pos: int) -> tuple[bytes, int]:
    chunks = []
    while True:
        raw, pos = _take(data, pos, 1)
        octet = raw[0]
        if octet < 192:
            length, partial = octet, False
        elif octet < 224:
            raw, pos = _take(data, pos, 1)
            length, partial = ((octet - 192) << 8) + raw[0] + 192, False
        elif octet == 255:
            raw, pos = _take(data, pos, 4)
            length, partial = int.from_bytes(raw, "big"), False
        else:
            length, partial = 1 << (octet & 0x1F), True
        chunk, pos = _take(data, pos, length)
        chunks.append(chunk)
        if not partial:
            return b"".join(chunks), pos


def write_packet(tag: int, body: bytes) -> bytes:
    """Frame ``body`` as a new-format packet with the shortest definite length encoding."""
    length = len(body)
    if length < 192:
        encoded = bytes([length])
    elif length < 8384:
        length -= 192
        encoded = bytes([(length >> 8) + 192, length & 0xFF])
    else:
        encoded = b"\xff" + struct.pack(">I", length)
    return bytes([0xC0 | tag]) + encoded + body


def _mpi(value: bytes) -> bytes:
    """Encode big-endian ``value`` as an MPI: bit count, then the bytes without leading zeros."""
    stripped = value.lstrip(b"\x00")
    bits = int.from_bytes(stripped, "big").bit_length()
    return struct.pack(">H", bits) + stripped


def _read_mpi(data: bytes, pos: int) -> tuple[bytes, int]:
    raw, pos = _take(data, pos, 2)
    return _take(data, pos, (int.from_bytes(raw, "big") + 7) // 8)


# --------------------------------------------------------------------------------------------------
# Signatures (RFC 4880 §5.2, v4 only)


@dataclass(frozen=True)
class Signature:
    """A parsed v4 signature packet."""

    sig_type: int
    pubkey_algo: int
    hash_algo: int
    hashed_area: bytes = field(repr=False)  # version .. end of hashed subpackets: what gets hashed
    hashed: tuple[tuple[int, bytes], ...] = field(repr=False)
    unhashed: tuple[tuple[int, bytes], ...] = field(repr=False)
    digest_prefix: bytes = field(repr=False)
    signature: bytes = field(repr=False)  # 64 bytes R || S for EdDSA

    def subpacket(self, kind: int, *, hashed_only: bool = True) -> bytes | None:
        """The first subpacket of ``kind`` (hashed area; also unhashed when ``hashed_only`` is False)."""
        areas = self.hashed if hashed_only else self.hashed + self.unhashed
        return next((value for sub_kind, value in areas if sub_kind == kind), None)

    def _u32(self, kind: int) -> int | None:
        value = self.subpacket(kind)
        if value is None:
            return None
        if len(value) != 4:
            raise OpenPGPError(f"signature subpacket {kind} has a bad length")
        return int.from_bytes(value, "big")

    @property
    def created(self) -> int:
        created = self._u32(SUB_CREATION_TIME)
        if created is None:
            raise OpenPGPError("signature has no hashed creation time")
        return created

    @property
    def expires(self) -> int | None:
        """Absolute expiry (Unix seconds) of the signature itself, or None."""
        lifetime = self._u32(SUB_SIG_EXPIRATION)
        return self.created + lifetime if lifetime else None

    @property
    def key_lifetime(self) -> int | None:
        """Key-expiration subpacket: seconds after key creation, or None (0 also means never)."""
        lifetime = self._u32(SUB_KEY_EXPIRATION)
        return lifetime or None

    @property
    def key_flags(self) -> int | None:
        flags = self.subpacket(SUB_KEY_FLAGS)
        return flags[0] if flags else None

    def issuer_fingerprint(self) -> str | None:
        value = self.subpacket(SUB_ISSUER_FINGERPRINT, hashed_only=False)
        if value is None or len(value) != 21 or value[0] != 4:
            return None
        return value[1:].hex()

    def issuer_key_id(self) -> str | None:
        value = self.subpacket(SUB_ISSUER_KEY_ID, hashed_only=False)
        return value.hex() if value is not None and len(value) == 8 else None


def _parse_subpackets(data: bytes, *, hashed: bool) -> tuple[tuple[int, bytes], ...]:
    result = []
    pos = 0
    while pos < len(data):
        octet = data[pos]
        pos += 1
        if octet < 192:
            length = octet
        elif octet < 255:
            raw, pos = _take(data, pos, 1)
            length = ((octet - 192) << 8) + raw[0] + 192
        else:
            raw, pos = _take(data, pos, 4)
            length = int.from_bytes(raw, "big")
        content, pos = _take(data, pos, length)
        if not content:
            raise OpenPGPError("empty signature subpacket")
        kind, critical = content[0] & 0x7F, bool(content[0] & 0x80)
        if hashed and critical and kind not in _KNOWN_SUBPACKETS:
            raise OpenPGPError(f"signature has an unsupported critical subpacket (type {kind})")
        result.append((kind, content[1:]))
    return tuple(result)


def parse_signature(body: bytes) -> Signature:
    """Parse the body of a tag-2 signature packet (v4, EdDSA)."""
    if not body or body[0] != 4:
        raise OpenPGPError(f"unsupported signature version {body[0] if body else 'none'} (only v4)")
    head, pos = _take(body, 0, 6)
    _, sig_type, pubkey_algo, hash_algo, hashed_len = struct.unpack(">BBBBH", head)
    hashed_raw, pos = _take(body, pos, hashed_len)
    raw, pos = _take(body, pos, 2)
    unhashed_raw, pos = _take(body, pos, int.from_bytes(raw, "big"))
    digest_prefix, pos = _take(body, pos, 2)
    if pubkey_algo != ALGO_EDDSA_LEGACY:
        raise OpenPGPError(f"unsupported signature public-key algorithm {pubkey_algo} (only 22, EdDSA)")
    r, pos = _read_mpi(body, pos)
    s, pos = _read_mpi(body, pos)
    if len(r) > 32 or len(s) > 32:
        raise OpenPGPError("malformed EdDSA signature values")
    return Signature(
        sig_type=sig_type,
        pubkey_algo=pubkey_algo,
        hash_algo=hash_algo,
        hashed_area=body[: 6 + hashed_len],
        hashed=_parse_subpackets(hashed_raw, hashed=True),
        unhashed=_parse_subpackets(unhashed_raw, hashed=False),
        digest_prefix=digest_prefix,
        signature=r.rjust(32, b"\x00") + s.rjust(32, b"\x00"),
    )


def _signature_digest(hash_algo: int, hashed_area: bytes, signed_data: bytes) -> bytes:
    name = _HASHES.get(hash_algo)
    if name is None:
        raise OpenPGPError(f"unsupported signature hash algorithm {hash_algo}")
    hasher = hashlib.new(name)
    hasher.update(signed_data)
    hasher.update(hashed_area)
    # v4 trailer: version, 0xFF, four-octet length of the hashed part (RFC 4880 §5.2.4).
    hasher.update(b"\x04\xff" + struct.pack(">I", len(hashed_area)))
    return hasher.digest()


def _subpacket(kind: int, value: bytes) -> bytes:
    content = bytes([kind]) + value
    assert len(content) < 192  # all subpackets we write are short
    return bytes([len(content)]) + content


def _make_signature(
    seed: bytes, sig_type: int, hashed_subpackets: bytes, unhashed_subpackets: bytes, signed_data: bytes
) -> bytes:
    """Build a v4 EdDSA/SHA-256 signature packet body over ``signed_data``."""
    hashed_area = (
        struct.pack(">BBBBH", 4, sig_type, ALGO_EDDSA_LEGACY, HASH_SHA256, len(hashed_subpackets))
        + hashed_subpackets
    )
    digest = _signature_digest(HASH_SHA256, hashed_area, signed_data)
    # Legacy EdDSA in OpenPGP signs the hash digest, not the data itself.
    raw = Ed25519PrivateKey.from_private_bytes(seed).sign(digest)
    return (
        hashed_area
        + struct.pack(">H", len(unhashed_subpackets))
        + unhashed_subpackets
        + digest[:2]
        + _mpi(raw[:32])
        + _mpi(raw[32:])
    )


def _verify_raw(point: bytes, sig: Signature, signed_data: bytes) -> None:
    digest = _signature_digest(sig.hash_algo, sig.hashed_area, signed_data)
    if digest[:2] != sig.digest_prefix:
        raise OpenPGPError("signature does not match the data (digest prefix mismatch)")
    try:
        Ed25519PublicKey.from_public_bytes(point).verify(sig.signature, digest)
    except InvalidSignature:
        raise OpenPGPError("signature does not match the data (EdDSA verification failed)") from None


# --------------------------------------------------------------------------------------------------
# Keys (RFC 4880 §5.5)


@dataclass(frozen=True)
class PublicKey:
    """A v4 EdDSA/Ed25519 primary key with the validity taken from its newest valid self-signature."""

    body: bytes = field(repr=False)  # public-key packet body, as hashed for the fingerprint
    point: bytes = field(repr=False)  # 32-byte Ed25519 public key
    created: int
    fingerprint: str  # 40 lowercase hex chars
    expires: int | None = None  # Unix seconds, None = never
    key_flags: int | None = None
    user_ids: tuple[str, ...] = ()

    @property
    def key_id(self) -> str:
        return self.fingerprint[-16:]

    @property
    def lifetime(self) -> int | None:
        """Seconds from creation to expiry, or None if the key never expires."""
        return None if self.expires is None else self.expires - self.created

    def is_expired(self, now: float | None = None) -> bool:
        return self.expires is not None and _now(now) > self.expires

    def verify(
        self, data: bytes, signature: bytes | str, *, now: float | None = None, skew: float = 0
    ) -> None:
        """See :func:`verify_detached`."""
        verify_detached(self, data, signature, now=now, skew=skew)


@dataclass(frozen=True, repr=False)
class PrivateKey:
    """An unencrypted secret key. Its repr never shows the secret."""

    public: PublicKey
    _seed: bytes

    @property
    def fingerprint(self) -> str:
        return self.public.fingerprint

    def __repr__(self) -> str:
        return f"PrivateKey(fingerprint={self.fingerprint!r})"

    def sign(self, data: bytes, *, now: float | None = None) -> bytes:
        """See :func:`sign_detached`."""
        return sign_detached(self, data, now=now)


def _now(now: float | None) -> float:
    return time.time() if now is None else now


def _parse_public_fields(body: bytes) -> tuple[int, bytes, int]:
    """Parse v4 EdDSA public fields; return (creation time, 32-byte point, end offset)."""
    if not body or body[0] != 4:
        raise OpenPGPError(f"unsupported key version {body[0] if body else 'none'} (only v4)")
    head, pos = _take(body, 0, 6)
    _, created, algo = struct.unpack(">BIB", head)
    if algo != ALGO_EDDSA_LEGACY:
        raise OpenPGPError(f"unsupported public-key algorithm {algo} (only 22, EdDSA on Ed25519)")
    raw, pos = _take(body, pos, 1)
    oid, pos = _take(body, pos, raw[0])
    if oid != ED25519_OID:
        raise OpenPGPError("unsupported EdDSA curve (only Ed25519)")
    q, pos = _read_mpi(body, pos)
    if len(q) != 33 or q[0] != 0x40:
        raise OpenPGPError("malformed Ed25519 public key point")
    return created, q[1:], pos


def _key_hash_prefix(public_body: bytes) -> bytes:
    """How a v4 key is hashed, for its fingerprint and for signatures over it."""
    return b"\x99" + struct.pack(">H", len(public_body)) + public_body


def _fingerprint(public_body: bytes) -> str:
    return hashlib.sha1(_key_hash_prefix(public_body)).hexdigest()


def _parse_key_block(data: bytes) -> tuple[PublicKey, bytes | None]:
    """Parse a transferable key; return the primary public key and its Ed25519 seed if present."""
    packets = [p for p in read_packets(data) if p.tag not in (TAG_MARKER, TAG_TRUST)]
    if not packets or packets[0].tag not in (TAG_SECRET_KEY, TAG_PUBLIC_KEY):
        raise OpenPGPError("key data does not start with a primary key packet")
    primary = packets[0]
    created, point, end = _parse_public_fields(primary.body)
    public_body = primary.body[:end]
    seed = _parse_secret_fields(primary.body, end, point) if primary.tag == TAG_SECRET_KEY else None
    key = PublicKey(body=public_body, point=point, created=created, fingerprint=_fingerprint(public_body))
    return _apply_self_signatures(key, packets[1:]), seed


def _parse_secret_fields(body: bytes, pos: int, point: bytes) -> bytes:
    usage, pos = _take(body, pos, 1)
    if usage[0] != 0:
        raise OpenPGPError(
            "secret key is encrypted or not present (passphrase-protected or a stub); "
            "an unencrypted key is required"
        )
    start = pos
    d, pos = _read_mpi(body, pos)
    checksum, pos = _take(body, pos, 2)
    if sum(body[start : pos - 2]) & 0xFFFF != int.from_bytes(checksum, "big"):
        raise OpenPGPError("secret key checksum mismatch (corrupted key)")
    if len(d) > 32:
        raise OpenPGPError("malformed Ed25519 secret key")
    seed = d.rjust(32, b"\x00")
    derived = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    if derived != point:
        raise OpenPGPError("secret key does not match its public key")
    return seed


def _apply_self_signatures(key: PublicKey, packets: list[Packet]) -> PublicKey:
    """Collect user IDs, and take expiry and key flags from the newest valid self-signature."""
    user_ids: list[str] = []
    component = b""  # what is hashed after the key for the current component; b"" = the key itself
    best: Signature | None = None
    for packet in packets:
        if packet.tag in (TAG_PUBLIC_SUBKEY, TAG_SECRET_SUBKEY):
            break  # subkeys are not used for service-account signing
        if packet.tag == TAG_USER_ID:
            user_ids.append(packet.body.decode("utf-8", "replace"))
            component = b"\xb4" + struct.pack(">I", len(packet.body)) + packet.body
        elif packet.tag == TAG_USER_ATTRIBUTE:
            component = b"\xd1" + struct.pack(">I", len(packet.body)) + packet.body
        elif packet.tag == TAG_SIGNATURE:
            sig = _valid_self_signature(key, packet.body, component)
            if sig is not None and (best is None or sig.created >= best.created):
                best = sig
    key = replace(key, user_ids=tuple(user_ids))
    if best is None:
        return key
    # The key stops being usable when either the key lifetime or the self-signature itself expires.
    expiries = [best.expires] if best.expires else []
    if best.key_lifetime:
        expiries.append(key.created + best.key_lifetime)
    return replace(key, expires=min(expiries, default=None), key_flags=best.key_flags)


def _valid_self_signature(key: PublicKey, body: bytes, component: bytes) -> Signature | None:
    """The parsed signature if it is a valid self-certification (or direct-key signature), else None."""
    try:
        sig = parse_signature(body)
    except OpenPGPError:
        return None  # e.g. a third-party certification with another algorithm
    wanted = SIG_CERTIFICATIONS if component else (SIG_DIRECT_KEY,)
    if sig.sig_type not in wanted or sig.hash_algo not in _HASHES:
        return None
    if not _issued_by(sig, key):
        return None
    try:
        _verify_raw(key.point, sig, _key_hash_prefix(key.body) + component)
        if sig.created < key.created:
            return None
    except OpenPGPError:
        return None
    return sig


def _issued_by(sig: Signature, key: PublicKey) -> bool:
    """False if the signature names another issuer (it may name none, then the key is tried)."""
    fingerprint, key_id = sig.issuer_fingerprint(), sig.issuer_key_id()
    return fingerprint in (None, key.fingerprint) and key_id in (None, key.key_id)


def _is_armored(data: bytes | str) -> bool:
    # Binary OpenPGP data starts with a packet header, which always has the high bit set; text does not.
    return isinstance(data, str) or not data or not data[0] & 0x80


def _decode_key_data(data: bytes | str) -> bytes:
    if not _is_armored(data):
        assert isinstance(data, bytes)
        return data
    kind, raw = dearmor(data)
    if kind not in _PRIVATE_BLOCKS + (_PUBLIC_BLOCK,):
        raise OpenPGPError(f"expected a PGP key block, got {kind}")
    return raw


def load_public_key(data: bytes | str) -> PublicKey:
    """Load a public key from an armored public or private key block, or from binary packets."""
    return _parse_key_block(_decode_key_data(data))[0]


def load_private_key(data: bytes | str) -> PrivateKey:
    """Load an unencrypted secret key from an armored PRIVATE KEY BLOCK or binary packets."""
    public, seed = _parse_key_block(_decode_key_data(data))
    if seed is None:
        raise OpenPGPError("key data holds no secret key (got a public key)")
    return PrivateKey(public, seed)


# --------------------------------------------------------------------------------------------------
# Detached signatures


def sign_detached(key: PrivateKey, data: bytes, *, now: float | None = None) -> bytes:
    """A binary (not armored) detached v4 signature packet, type 0x00, SHA-256, over ``data``."""
    if key.public.key_flags is not None and not key.public.key_flags & KEY_FLAG_SIGN:
        raise OpenPGPError("key is not allowed to sign (key flags)")
    fingerprint = bytes.fromhex(key.fingerprint)
    hashed = _subpacket(SUB_ISSUER_FINGERPRINT, b"\x04" + fingerprint) + _subpacket(
        SUB_CREATION_TIME, struct.pack(">I", int(_now(now)))
    )
    unhashed = _subpacket(SUB_ISSUER_KEY_ID, fingerprint[-8:])
    return write_packet(TAG_SIGNATURE, _make_signature(key._seed, SIG_BINARY, hashed, unhashed, data))


def verify_detached(
    key: PublicKey, data: bytes, signature: bytes | str, *, now: float | None = None, skew: float = 0
) -> None:
    """Verify a detached binary-document signature (binary packet or armored) over ``data``.

    Raises :class:`OpenPGPError` unless: the signature was made by ``key`` with SHA-256/384/512, the
    digest matches, its creation time is at most ``skew`` seconds after ``now`` and not before the
    key's creation, neither the signature nor the key is expired at ``now``, and the key may sign.
    """
    now = _now(now)
    sig = _first_signature(signature)
    if sig.sig_type != SIG_BINARY:
        raise OpenPGPError(f"not a binary-document signature (type 0x{sig.sig_type:02x})")
    if sig.hash_algo not in _DATA_HASHES:
        raise OpenPGPError(f"signature hash algorithm {sig.hash_algo} is not accepted (SHA-256/384/512 only)")
    if not _issued_by(sig, key):
        raise OpenPGPError("signature was made by a different key")
    _verify_raw(key.point, sig, data)
    if sig.created > now + skew:
        raise OpenPGPError("signature creation time is in the future")
    if sig.created < key.created:
        raise OpenPGPError("signature is older than the key")
    if sig.expires is not None and now > sig.expires:
        raise OpenPGPError("signature is expired")
    if key.is_expired(now):
        raise OpenPGPError("key is expired")
    if key.key_flags is not None and not key.key_flags & KEY_FLAG_SIGN:
        raise OpenPGPError("key is not allowed to sign (key flags)")


def _first_signature(signature: bytes | str) -> Signature:
    if _is_armored(signature):
        kind, signature = dearmor(signature)
        if kind != _SIGNATURE_BLOCK:
            raise OpenPGPError(f"expected a PGP SIGNATURE block, got {kind}")
    for packet in read_packets(signature):
        if packet.tag == TAG_SIGNATURE:
            return parse_signature(packet.body)
        if packet.tag != TAG_MARKER:
            raise OpenPGPError(f"expected a signature packet, got packet tag {packet.tag}")
    raise OpenPGPError("no signature packet found")


# --------------------------------------------------------------------------------------------------
# Key generation


def service_account_user_id(name: str) -> str:
    """The user ID ``omnictl serviceaccount create`` puts on a service-account key."""
    return f"{name} (linux/amd64) <{name}@serviceaccount.omni.sidero.dev>"


def generate_key(name: str, ttl: timedelta | None, now: float | None = None) -> tuple[str, str]:
    """Generate a service-account key pair; return ``(armored private key, armored public key)``.

    The key is a v4 EdDSA/Ed25519 primary key that may certify and sign, with one user ID and a
    positive-certification self-signature carrying key flags, key expiration (``ttl``; None = never),
    preferred hash SHA-256 and the issuer fingerprint. The private key is not encrypted.
    """
    if not name or any(c.isspace() for c in name):
        raise OpenPGPError("service account name must be non-empty and contain no whitespace")
    created = int(_now(now))
    lifetime = None if ttl is None else int(ttl.total_seconds())
    if lifetime is not None and lifetime <= 0:
        raise OpenPGPError("key TTL must be positive")
    private = Ed25519PrivateKey.generate()
    seed = private.private_bytes_raw()
    point = private.public_key().public_bytes_raw()
    public_body = struct.pack(">BIB", 4, created, ALGO_EDDSA_LEGACY) + bytes([len(ED25519_OID)]) + ED25519_OID
    public_body += _mpi(b"\x40" + point)
    mpi_d = _mpi(seed)
    secret_body = public_body + b"\x00" + mpi_d + struct.pack(">H", sum(mpi_d) & 0xFFFF)

    user_id = service_account_user_id(name).encode("utf-8")
    fingerprint = bytes.fromhex(_fingerprint(public_body))
    hashed = (
        _subpacket(SUB_CREATION_TIME, struct.pack(">I", created))
        + _subpacket(SUB_KEY_FLAGS, bytes([KEY_FLAG_CERTIFY | KEY_FLAG_SIGN]))
        + (_subpacket(SUB_KEY_EXPIRATION, struct.pack(">I", lifetime)) if lifetime else b"")
        + _subpacket(SUB_PREFERRED_HASH, bytes([HASH_SHA256]))
        + _subpacket(SUB_ISSUER_FINGERPRINT, b"\x04" + fingerprint)
    )
    unhashed = _subpacket(SUB_ISSUER_KEY_ID, fingerprint[-8:])
    signed = _key_hash_prefix(public_body) + b"\xb4" + struct.pack(">I", len(user_id)) + user_id
    self_sig = _make_signature(seed, SIG_POSITIVE_CERTIFICATION, hashed, unhashed, signed)

    tail = write_packet(TAG_USER_ID, user_id) + write_packet(TAG_SIGNATURE, self_sig)
    private_armored = armor(_PRIVATE_BLOCKS[0], write_packet(TAG_SECRET_KEY, secret_body) + tail)
    public_armored = armor(_PUBLIC_BLOCK, write_packet(TAG_PUBLIC_KEY, public_body) + tail)
    return private_armored, public_armored
