"""Fault injection against live watch streams: drop them, make them ERRORED, make them slow consumers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SlowConsumer:
    """Streams of the matching type tolerate at most ``buffer`` unsent events (then ERRORED "buffer
    overrun", as Omni's in-memory backend does) and pause ``delay`` seconds after each live message."""

    buffer: int
    delay: float = 0.0


class Faults:
    """Fault settings that watch streams consult, and the operations that act on open streams."""

    def __init__(self) -> None:
        self.slow: dict[str | None, SlowConsumer] = {}  # by type; None applies to every type

    def slow_consumer(self, type_: str) -> SlowConsumer | None:
        return self.slow.get(type_) or self.slow.get(None)

    def set_slow_consumer(self, type_: str | None, buffer: int, delay: float = 0.0) -> None:
        self.slow[type_] = SlowConsumer(max(0, buffer), max(0.0, delay))

    def clear(self) -> None:
        self.slow.clear()
