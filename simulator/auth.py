"""Server-side verification of Omni ``x-sidero-*`` request signatures (omni-wire.md §3.3).

:class:`SignatureVerifier` runs Omni's checks in Omni's order; the interceptors turn any failure into
``UNAUTHENTICATED: invalid signature``, as Omni does. The reason is only logged server-side.
"""

from __future__ import annotations

import base64
import binascii
import contextvars
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import grpc
import grpc.aio

from omni_client.openpgp import OpenPGPError, PublicKey, load_public_key
from omni_client.signing import (
    INCLUDED_HEADERS,
    PAYLOAD_HEADER,
    SIGNATURE_HEADER,
    SIGNATURE_SCHEME,
    TIMESTAMP_HEADER,
)

__all__ = [
    "AioSignatureInterceptor",
    "AuthError",
    "SignatureInterceptor",
    "SignatureVerifier",
    "current_identity",
    "metadata_to_mapping",
]

log = logging.getLogger(__name__)

UNAUTHENTICATED_DETAILS = "invalid signature"

# The identity of the verified caller, visible to grpc.aio handlers (grpc.aio runs interceptors and
# the handler in one contextvars.Context). Not set for the sync server.
current_identity: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "current_identity", default=None
)


class AuthError(Exception):
    """A request failed signature verification. The message says why; it holds no secrets."""


def metadata_to_mapping(pairs: Iterable[tuple[str, str | bytes]] | None) -> dict[str, list[str]]:
    """Group gRPC invocation metadata by key, like Go's ``metadata.MD`` (binary values are skipped)."""
    grouped: dict[str, list[str]] = {}
    for key, value in pairs or ():
        if isinstance(value, str):
            grouped.setdefault(key, []).append(value)
    return grouped


class SignatureVerifier:
    """Verifies signed calls against a set of trusted service-account public keys.

    ``public_keys`` are armored (public or private) key blocks or binary key packets. ``max_skew``
    (seconds) is the allowed timestamp difference, and caps the signature-time retry, as in Omni.
    """

    def __init__(
        self,
        public_keys: Iterable[bytes | str | PublicKey] = (),
        clock: Callable[[], float] = time.time,
        max_skew: float = 300,
    ) -> None:
        self._keys: dict[str, PublicKey] = {}
        self._clock = clock
        self._max_skew = max_skew
        for key in public_keys:
            self.add_public_key(key)

    @property
    def fingerprints(self) -> frozenset[str]:
        return frozenset(self._keys)

    def add_public_key(self, key: bytes | str | PublicKey) -> str:
        """Trust ``key``; return its fingerprint. Raises OpenPGPError if it cannot be parsed."""
        public = key if isinstance(key, PublicKey) else load_public_key(key)
        self._keys[public.fingerprint] = public
        return public.fingerprint

    def remove_public_key(self, fingerprint: str) -> None:
        self._keys.pop(fingerprint, None)

    def verify(self, method: str, metadata: Mapping[str, Sequence[str]]) -> str:
        """Check a call to ``method`` (full path) with incoming ``metadata``; return the identity."""
        now = self._clock()
        identity, fingerprint, encoded_signature = self._parse_signature_header(metadata)
        key = self._keys.get(fingerprint)
        if key is None:
            raise AuthError("unknown key fingerprint")
        if key.is_expired(now):
            raise AuthError("key is expired")
        self._check_timestamp(metadata, now)
        payload_text, payload = self._parse_payload(metadata)
        if payload.get("method") != method:
            raise AuthError("payload is for a different method")
        self._check_headers(payload.get("headers") or {}, metadata)
        self._check_signature(key, payload_text, encoded_signature, now)
        return identity

    @staticmethod
    def _first(metadata: Mapping[str, Sequence[str]], header: str) -> str | None:
        values = metadata.get(header)
        return values[0] if values else None

    def _parse_signature_header(self, metadata: Mapping[str, Sequence[str]]) -> tuple[str, str, str]:
        header = self._first(metadata, SIGNATURE_HEADER)
        if header is None:
            raise AuthError(f"missing {SIGNATURE_HEADER} header")
        parts = header.split(" ")
        if parts[0] != SIGNATURE_SCHEME:
            raise AuthError("unsupported signature scheme")
        if len(parts) != 4 or not all(parts):
            raise AuthError("malformed signature header")
        _, identity, fingerprint, signature = parts
        return identity, fingerprint, signature

    def _check_timestamp(self, metadata: Mapping[str, Sequence[str]], now: float) -> None:
        raw = self._first(metadata, TIMESTAMP_HEADER)
        # Decimal digits only, like Go's strconv.ParseInt (Python's int() would also take "+1_0 ").
        if raw is None or not re.fullmatch(r"-?[0-9]{1,19}", raw):
            raise AuthError(f"missing or malformed {TIMESTAMP_HEADER} header")
        timestamp = int(raw)
        if abs(now - timestamp) > self._max_skew:
            raise AuthError("timestamp is outside the allowed window")

    def _parse_payload(self, metadata: Mapping[str, Sequence[str]]) -> tuple[str, dict[str, Any]]:
        text = self._first(metadata, PAYLOAD_HEADER)
        if text is None:
            raise AuthError(f"missing {PAYLOAD_HEADER} header")
        try:
            payload = json.loads(text)
        except ValueError:
            raise AuthError("payload is not valid JSON") from None
        if not isinstance(payload, dict):
            raise AuthError("payload is not a JSON object")
        # Same shape Go unmarshals into: {"method": string, "headers": map[string][]string}.
        headers = payload.get("headers")
        if not isinstance(payload.get("method", ""), str) or not isinstance(headers, dict | None):
            raise AuthError("payload has the wrong shape")
        for values in (headers or {}).values():
            if values is not None and not (
                isinstance(values, list) and all(isinstance(v, str) for v in values)
            ):
                raise AuthError("payload has the wrong shape")
        return text, payload

    @staticmethod
    def _check_headers(signed: Mapping[str, list[str] | None], metadata: Mapping[str, Sequence[str]]) -> None:
        # Go's reflect.DeepEqual on []string: nil (absent or null) equals only nil; [] is not nil.
        for header in INCLUDED_HEADERS:
            incoming = metadata.get(header)
            actual = list(incoming) if incoming else None
            if signed.get(header) != actual:
                raise AuthError(f"signed value of header {header!r} does not match the request")

    def _check_signature(self, key: PublicKey, payload: str, encoded: str, now: float) -> None:
        try:
            signature = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise AuthError("signature is not valid base64") from None
        data = payload.encode("utf-8")
        # Omni retries once with the clock moved forward by min(5 min, key lifetime / 2), which lets a
        # client whose clock runs ahead through.
        lifetime = key.lifetime
        retry_shift = self._max_skew if lifetime is None else min(self._max_skew, lifetime / 2)
        try:
            key.verify(data, signature, now=now)
            return
        except OpenPGPError:
            pass
        try:
            key.verify(data, signature, now=now + retry_shift)
        except OpenPGPError as exc:
            raise AuthError(f"signature verification failed: {exc}") from None


# --------------------------------------------------------------------------------------------------
# grpcio server interceptors


def _deny_handler(handler: grpc.RpcMethodHandler, behavior: Callable[..., Any]) -> grpc.RpcMethodHandler:
    """A handler of the same call kind as ``handler`` that runs ``behavior`` (which aborts).

    No request deserializer: an unauthenticated request body is never parsed.
    """
    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(behavior)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(behavior)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(behavior)
    return grpc.unary_unary_rpc_method_handler(behavior)


def _abort_sync(_request: Any, context: grpc.ServicerContext) -> None:
    context.abort(grpc.StatusCode.UNAUTHENTICATED, UNAUTHENTICATED_DETAILS)


async def _abort_aio(_request: Any, context: grpc.aio.ServicerContext) -> None:
    await context.abort(grpc.StatusCode.UNAUTHENTICATED, UNAUTHENTICATED_DETAILS)


def _check(
    verifier: SignatureVerifier | None, public_methods: frozenset[str], details: grpc.HandlerCallDetails
) -> tuple[bool, str | None]:
    """(allowed, identity). Calls pass unchecked without a verifier or for public methods."""
    if verifier is None or details.method in public_methods:
        return True, None
    try:
        identity = verifier.verify(details.method, metadata_to_mapping(details.invocation_metadata))
    except AuthError as exc:
        log.info("rejected %s: %s", details.method, exc)
        return False, None
    return True, identity


class SignatureInterceptor(grpc.ServerInterceptor):
    """Sync server interceptor: ``grpc.server(pool, interceptors=[SignatureInterceptor(verifier)])``.

    With ``verifier=None`` every call passes through (auth disabled).
    """

    def __init__(self, verifier: SignatureVerifier | None, public_methods: Iterable[str] = ()) -> None:
        self._verifier = verifier
        self._public = frozenset(public_methods)

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None  # unknown method: grpc answers UNIMPLEMENTED
        allowed, _ = _check(self._verifier, self._public, handler_call_details)
        return handler if allowed else _deny_handler(handler, _abort_sync)


class AioSignatureInterceptor(grpc.aio.ServerInterceptor):
    """grpc.aio server interceptor: ``grpc.aio.server(interceptors=[AioSignatureInterceptor(verifier)])``.

    With ``verifier=None`` every call passes through (auth disabled). On success the caller's
    identity is available to handlers as ``current_identity.get()``.
    """

    def __init__(self, verifier: SignatureVerifier | None, public_methods: Iterable[str] = ()) -> None:
        self._verifier = verifier
        self._public = frozenset(public_methods)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None  # unknown method: grpc answers UNIMPLEMENTED
        allowed, identity = _check(self._verifier, self._public, handler_call_details)
        if not allowed:
            return _deny_handler(handler, _abort_aio)
        current_identity.set(identity)
        return handler
