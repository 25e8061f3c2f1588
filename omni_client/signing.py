"""Omni service-account request signing (client side), see omni-wire.md §3.

Every gRPC call carries three metadata entries, computed fresh at call start:

* ``x-sidero-timestamp``: Unix seconds;
* ``x-sidero-payload``: JSON ``{"headers": {...}, "method": "/pkg.Service/Method"}``;
* ``x-sidero-signature``: ``siderov1 <name> <fingerprint> <base64 detached OpenPGP signature of the payload>``.
"""

from __future__ import annotations

import base64
import binascii
import collections
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

import grpc
import grpc.aio

from omni_client.openpgp import OpenPGPError, PrivateKey, generate_key, load_private_key

__all__ = [
    "ENV_VARS",
    "INCLUDED_HEADERS",
    "PAYLOAD_HEADER",
    "SIGNATURE_HEADER",
    "SIGNATURE_SCHEME",
    "TIMESTAMP_HEADER",
    "AioStreamStreamSigningInterceptor",
    "AioStreamUnarySigningInterceptor",
    "AioUnaryStreamSigningInterceptor",
    "AioUnaryUnarySigningInterceptor",
    "ServiceAccountKey",
    "ServiceAccountKeyError",
    "SigningInterceptor",
    "aio_signing_interceptors",
    "build_payload",
    "new_service_account",
]

# Checked in this order, like go-api-signature's serviceaccount.GetFromEnv.
ENV_VARS = ("SIDERO_SERVICE_ACCOUNT_KEY", "OMNI_SERVICE_ACCOUNT_KEY")

TIMESTAMP_HEADER = "x-sidero-timestamp"
PAYLOAD_HEADER = "x-sidero-payload"
SIGNATURE_HEADER = "x-sidero-signature"
SIGNATURE_SCHEME = "siderov1"
_SIDERO_HEADERS = frozenset({TIMESTAMP_HEADER, PAYLOAD_HEADER, SIGNATURE_HEADER})

# Headers whose values are part of the signed payload, as the server checks them. The server looks up
# "fieldSelectors" verbatim while gRPC lowercases keys, so that header can never be sent successfully.
INCLUDED_HEADERS = (
    "x-sidero-timestamp",
    "nodes",
    "selectors",
    "fieldSelectors",
    "runtime",
    "context",
    "cluster",
    "namespace",
    "uid",
    "authorization",
)


class ServiceAccountKeyError(ValueError):
    """The service-account key value is missing or malformed. Messages never contain key material."""


def build_payload(method: str, metadata: Iterable[tuple[str, str | bytes]]) -> str:
    """The ``x-sidero-payload`` JSON for a call to ``method`` sending ``metadata``.

    Like the Go client: every included header is present, ``null`` when not sent; keys sorted; compact.
    """
    if not method.startswith("/"):
        raise ValueError("gRPC method must be the full path with a leading slash, e.g. /pkg.Service/Method")
    values: dict[str, list[str]] = {}
    for key, value in metadata:
        if key in INCLUDED_HEADERS and isinstance(value, str):
            values.setdefault(key, []).append(value)
    headers = {name: values.get(name) for name in INCLUDED_HEADERS}
    return json.dumps({"headers": headers, "method": method}, separators=(",", ":"), sort_keys=True)


class ServiceAccountKey:
    """An Omni service account: its name (the signature identity) and its unencrypted private key."""

    def __init__(self, name: str, private_key: PrivateKey | str | bytes) -> None:
        if not name or any(c.isspace() for c in name):
            raise ServiceAccountKeyError("service account name must be non-empty and contain no whitespace")
        if not isinstance(private_key, PrivateKey):
            try:
                private_key = load_private_key(private_key)
            except OpenPGPError as exc:
                raise ServiceAccountKeyError(f"service account pgp_key is unusable: {exc}") from None
        self.name = name
        self.private_key = private_key

    @property
    def fingerprint(self) -> str:
        return self.private_key.fingerprint

    def __repr__(self) -> str:
        return f"ServiceAccountKey(name={self.name!r}, fingerprint={self.fingerprint!r})"

    __str__ = __repr__

    @classmethod
    def from_value(cls, value: str) -> ServiceAccountKey:
        """Parse an ``OMNI_SERVICE_ACCOUNT_KEY`` value: base64 (standard) of ``{"name", "pgp_key"}``."""
        compact = "".join(value.split())
        try:
            raw = base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
            document = json.loads(raw)
        except (binascii.Error, ValueError):
            raise ServiceAccountKeyError("service account key is not base64-encoded JSON") from None
        if not isinstance(document, dict):
            raise ServiceAccountKeyError("service account key JSON is not an object")
        name, pgp_key = document.get("name"), document.get("pgp_key")
        if not isinstance(name, str) or not isinstance(pgp_key, str):
            raise ServiceAccountKeyError("service account key JSON needs string fields 'name' and 'pgp_key'")
        return cls(name, pgp_key)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ServiceAccountKey:
        """Read ``SIDERO_SERVICE_ACCOUNT_KEY``, else ``OMNI_SERVICE_ACCOUNT_KEY`` (empty counts as unset)."""
        for var in ENV_VARS:
            value = environ.get(var, "").strip()
            if value:
                try:
                    return cls.from_value(value)
                except ServiceAccountKeyError as exc:
                    raise ServiceAccountKeyError(f"{var}: {exc}") from None
        raise ServiceAccountKeyError(f"no service account key: set {' or '.join(ENV_VARS)}")

    def signature_header(self, payload: str, now: float | None = None) -> str:
        """The ``x-sidero-signature`` value for the exact ``payload`` text."""
        signature = self.private_key.sign(payload.encode("utf-8"), now=now)
        encoded = base64.b64encode(signature).decode("ascii")
        return f"{SIGNATURE_SCHEME} {self.name} {self.fingerprint} {encoded}"

    def sign_call(
        self, method: str, metadata: Sequence[tuple[str, str | bytes]] = (), now: float | None = None
    ) -> list[tuple[str, str]]:
        """The three ``x-sidero-*`` metadata entries for one call of ``method`` sending ``metadata``.

        ``method`` is the full path with the leading slash. ``metadata`` is the other metadata the
        call sends (any ``x-sidero-*`` entries in it are ignored): the included headers among it are
        signed, so it must be sent unchanged alongside the returned entries.
        """
        now = time.time() if now is None else now
        timestamp = str(int(now))
        others = [(k, v) for k, v in metadata if k not in _SIDERO_HEADERS]
        payload = build_payload(method, [(TIMESTAMP_HEADER, timestamp), *others])
        return [
            (TIMESTAMP_HEADER, timestamp),
            (PAYLOAD_HEADER, payload),
            (SIGNATURE_HEADER, self.signature_header(payload, now=now)),
        ]

    def signed_metadata(
        self, method: str, metadata: Sequence[tuple[str, str | bytes]] | None = None, now: float | None = None
    ) -> list[tuple[str, str | bytes]]:
        """``metadata`` without stale ``x-sidero-*`` entries, plus fresh ones for ``method``."""
        others = [(k, v) for k, v in metadata or () if k not in _SIDERO_HEADERS]
        return [*others, *self.sign_call(method, others, now=now)]


def _to_value(name: str, armored_private_key: str) -> str:
    document = json.dumps({"name": name, "pgp_key": armored_private_key}, separators=(",", ":"))
    return base64.b64encode(document.encode("utf-8")).decode("ascii")


def new_service_account(name: str, ttl: timedelta | None) -> tuple[str, str]:
    """Create a service account key; return ``(OMNI_SERVICE_ACCOUNT_KEY value, armored public key)``.

    The public key is what the server (Omni's ``PublicKey`` resource, or the simulator) must trust.
    """
    if not name or any(c.isspace() for c in name):
        raise ServiceAccountKeyError("service account name must be non-empty and contain no whitespace")
    private_armored, public_armored = generate_key(name, ttl)
    return _to_value(name, private_armored), public_armored


# --------------------------------------------------------------------------------------------------
# grpcio client interceptors


def _method_name(method: str | bytes) -> str:
    return method.decode("ascii") if isinstance(method, bytes) else method


class _ClientCallDetails(
    collections.namedtuple(
        "_ClientCallDetails",
        ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"),
    ),
    grpc.ClientCallDetails,
):
    pass


class SigningInterceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Signs every call on a sync channel: ``grpc.intercept_channel(channel, SigningInterceptor(key))``."""

    def __init__(self, key: ServiceAccountKey, clock: Callable[[], float] = time.time) -> None:
        self._key = key
        self._clock = clock

    def _signed(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        method = _method_name(details.method)
        return _ClientCallDetails(
            details.method,
            details.timeout,
            self._key.signed_metadata(method, details.metadata, now=self._clock()),
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return continuation(self._signed(client_call_details), request)

    def intercept_unary_stream(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return continuation(self._signed(client_call_details), request)

    def intercept_stream_unary(
        self, continuation: Any, client_call_details: Any, request_iterator: Any
    ) -> Any:
        return continuation(self._signed(client_call_details), request_iterator)

    def intercept_stream_stream(
        self, continuation: Any, client_call_details: Any, request_iterator: Any
    ) -> Any:
        return continuation(self._signed(client_call_details), request_iterator)


class _AioSigner:
    # grpc.aio files each interceptor under the *first* call kind it implements (an if/elif chain in
    # grpc.aio's channel), so one object cannot serve all kinds: there is one class per kind.
    def __init__(self, key: ServiceAccountKey, clock: Callable[[], float] = time.time) -> None:
        self._key = key
        self._clock = clock

    def _signed(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        method = _method_name(details.method)
        metadata = list(details.metadata) if details.metadata is not None else []
        signed = self._key.signed_metadata(method, metadata, now=self._clock())
        return grpc.aio.ClientCallDetails(
            details.method,
            details.timeout,
            grpc.aio.Metadata(*signed),
            details.credentials,
            details.wait_for_ready,
        )


class AioUnaryUnarySigningInterceptor(_AioSigner, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return await continuation(self._signed(client_call_details), request)


class AioUnaryStreamSigningInterceptor(_AioSigner, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        return await continuation(self._signed(client_call_details), request)


class AioStreamUnarySigningInterceptor(_AioSigner, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(
        self, continuation: Any, client_call_details: Any, request_iterator: Any
    ) -> Any:
        return await continuation(self._signed(client_call_details), request_iterator)


class AioStreamStreamSigningInterceptor(_AioSigner, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(
        self, continuation: Any, client_call_details: Any, request_iterator: Any
    ) -> Any:
        return await continuation(self._signed(client_call_details), request_iterator)


def aio_signing_interceptors(
    key: ServiceAccountKey, clock: Callable[[], float] = time.time
) -> list[grpc.aio.ClientInterceptor]:
    """Interceptors for ``grpc.aio.insecure_channel/secure_channel(..., interceptors=...)``: all call kinds."""
    return [
        AioUnaryUnarySigningInterceptor(key, clock),
        AioUnaryStreamSigningInterceptor(key, clock),
        AioStreamUnarySigningInterceptor(key, clock),
        AioStreamStreamSigningInterceptor(key, clock),
    ]
