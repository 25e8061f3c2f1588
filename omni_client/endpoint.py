"""Omni endpoint URLs with omnictl's semantics, and the gRPC channel the watcher talks through.

``https://host[:port]`` is TLS (port 443 by default) with the system roots or a given CA bundle;
``http://`` and ``grpc://`` are plaintext HTTP/2 (h2c, port 80 by default). The path is ignored.
omni-wire.md §3.2.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import grpc
import grpc.aio

from omni_client.signing import ServiceAccountKey, SigningInterceptor, aio_signing_interceptors

ENDPOINT_ENV = "OMNI_ENDPOINT"
MAX_MESSAGE_BYTES = 32 << 20  # Omni's GRPCMaxMessageSize; grpcio's default is only 4 MiB
KEEPALIVE_MS = 60_000
STREAM_WINDOW_BYTES = 1 << 16


class EndpointError(ValueError):
    """The endpoint is not a usable URL; the message says what was expected."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    tls: bool

    @property
    def target(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def __str__(self) -> str:
        return f"{'https' if self.tls else 'grpc'}://{self.target}"


def parse_endpoint(url: str | None) -> Endpoint:
    """Parse ``OMNI_ENDPOINT``. Unlike Go's url.Parse, a missing scheme is an error, not plaintext."""
    if not url:
        raise EndpointError("no Omni endpoint: pass --endpoint or set OMNI_ENDPOINT (e.g. https://omni.example.com)")
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        raise EndpointError(f"endpoint {url!r} is not a URL with a scheme, e.g. https://omni.example.com:443")
    try:
        port = parts.port
    except ValueError:
        raise EndpointError(f"endpoint {url!r} has an invalid port") from None
    host = parts.hostname
    if not host:
        raise EndpointError(f"endpoint {url!r} has no host")
    tls = parts.scheme.lower() == "https"
    return Endpoint(host, port or (443 if tls else 80), tls)


def channel_options() -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ("grpc.keepalive_time_ms", KEEPALIVE_MS),
        # A fixed per-stream window (gRPC's initial 64 KiB) instead of one that BDP probing grows: when the
        # writer is the bottleneck the grown windows filled gRPC's heaps with unread HTTP/2 data (352 MB at
        # 50k machines; at 10k the peak RSS is 254 MB with 64 KiB, 368 MB with 1 MiB, at the same rate).
        # Over a 50 ms round trip one stream still carries ~1.3 MB/s, about 600 MachineStatuses a second.
        ("grpc.http2.bdp_probe", 0),
        ("grpc.http2.lookahead_bytes", STREAM_WINDOW_BYTES),
    ]


def _credentials(ca_file: Path | None) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(Path(ca_file).read_bytes() if ca_file else None)


def open_channel(endpoint: Endpoint, key: ServiceAccountKey | None, ca_file: Path | None = None) -> grpc.Channel:
    """A blocking channel on which every call is signed with ``key`` (unsigned when ``key`` is None)."""
    if endpoint.tls:
        channel = grpc.secure_channel(endpoint.target, _credentials(ca_file), channel_options())
    else:
        channel = grpc.insecure_channel(endpoint.target, channel_options())
    if key is not None:
        channel = grpc.intercept_channel(channel, SigningInterceptor(key))
    return channel


def open_aio_channel(endpoint: Endpoint, key: ServiceAccountKey | None,
                     ca_file: Path | None = None) -> grpc.aio.Channel:
    """The asyncio channel the watcher's streams share; create it on the loop that will use it."""
    interceptors = aio_signing_interceptors(key) if key is not None else None
    if endpoint.tls:
        return grpc.aio.secure_channel(endpoint.target, _credentials(ca_file), channel_options(),
                                       interceptors=interceptors)
    return grpc.aio.insecure_channel(endpoint.target, channel_options(), interceptors=interceptors)


def add_endpoint(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--endpoint",
        default=os.environ.get(ENDPOINT_ENV),
        help=f"Omni endpoint URL, as omnictl takes it (env {ENDPOINT_ENV}; no default): https://host[:443] is TLS, "
        "http:// and grpc:// are plaintext h2c. The service account key is read from "
        "OMNI_SERVICE_ACCOUNT_KEY (or SIDERO_SERVICE_ACCOUNT_KEY), never from the command line",
    )
