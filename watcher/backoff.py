"""Exponential backoff with jitter: never a tight loop, never a thundering herd."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class BackoffPolicy:
    initial: float = 0.5
    factor: float = 2.0
    maximum: float = 30.0
    healthy_after: float = 10.0  # a connection up this long resets the delay


class Backoff:
    """Delays ``initial * factor**n`` capped at ``maximum``, each drawn uniformly from [50 %, 100 %]."""

    def __init__(self, policy: BackoffPolicy, rand: Callable[[], float] = random.random,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._rand = rand
        self._clock = clock
        self._attempt = 0
        self._connected_at: float | None = None

    def connected(self) -> None:
        """A connection was established; if it stays up long enough the next delay starts over."""
        self._connected_at = self._clock()

    def next_delay(self) -> float:
        """The delay before the next attempt (after a failure)."""
        if self._connected_at is not None and self._clock() - self._connected_at >= self.policy.healthy_after:
            self._attempt = 0
        self._connected_at = None
        base = min(self.policy.maximum, self.policy.initial * self.policy.factor ** self._attempt)
        self._attempt = min(self._attempt + 1, 64)  # the cap is reached long before; no float overflow
        return base * (0.5 + 0.5 * self._rand())

    def reset(self) -> None:
        self._attempt = 0
