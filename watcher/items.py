"""What the stream and poll threads hand to the single writer, in per-stream order."""

from __future__ import annotations

from dataclasses import dataclass, field

from watcher.decode import Decoded

StreamKey = tuple[str, str]  # (namespace, type)


@dataclass(slots=True)
class Change:
    """A CREATED/UPDATED/DESTROYED event. ``live`` is false for bootstrap snapshot entries."""

    stream: StreamKey
    resource: Decoded
    destroyed: bool
    bookmark: bytes | None
    live: bool


@dataclass(slots=True)
class BootstrapStarted:
    """A (re-)bootstrap begins: the stored bookmark no longer describes what will be applied."""

    stream: StreamKey
    rebootstrap: bool


@dataclass(slots=True)
class Bootstrapped:
    """The snapshot is complete: resources of the kind not in ``seen`` were destroyed meanwhile."""

    stream: StreamKey
    seen: set[str]
    bookmark: bytes | None


@dataclass(slots=True)
class Poison:
    """An event that could not be decoded: recorded and skipped (its bookmark still advances)."""

    stream: StreamKey
    id: str
    version: str
    event: str
    error: str
    raw: bytes | None
    bookmark: bytes | None


@dataclass(slots=True)
class Bookmark:
    """A NOOP event: only the resume point moves."""

    stream: StreamKey
    bookmark: bytes


@dataclass(slots=True)
class StreamNote:
    """Stream health: an error, a reconnect."""

    stream: StreamKey
    error: str | None = None
    reconnect: bool = False


@dataclass(slots=True)
class PollSnapshot:
    """The listed state of a polled kind; when ``complete``, unlisted resources were destroyed."""

    stream: StreamKey
    resources: list[Decoded] = field(default_factory=list)
    complete: bool = True
    poison: list[Poison] = field(default_factory=list)  # newly seen undecodable states
    listed: set[str] = field(default_factory=set)  # every id listed, decodable or not


Item = Change | BootstrapStarted | Bootstrapped | Poison | Bookmark | StreamNote | PollSnapshot
