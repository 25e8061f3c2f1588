"""The hand-over from the stream and poll tasks (producers) to the writer task (the one consumer).

Everything runs on one event loop thread. That is deliberate: the SQLite driver releases the GIL around
every row it steps, and a second busy Python thread makes it wait for the GIL up to a switch interval
each time (measured: 5x slower inserts). One thread decodes and writes in turn, without contention.
(On PostgreSQL the writer task hands each batch to a writer thread: watcher/service.py.)

Producers append without awaiting while there is room; at ``limit`` items they wait, so a slow database
slows the gRPC reads (and, through HTTP/2 flow control, Omni) instead of growing memory. The writer takes
a batch: the first item, then whatever arrives until ``latency`` after that item was queued (or a
``quiet`` gap), up to ``max_items``; the writer sets ``latency`` from the cost of its commits.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

from watcher.items import Item


class Inbox:
    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self._items: deque[Item] = deque()
        self._queued_at: deque[float] = deque()  # enqueue time of each item, for the batch deadline
        self._wanted = 0  # how many items the waiting taker needs before it wakes up (0: no taker)
        self._arrived = asyncio.Event()
        self._room = asyncio.Event()

    def __len__(self) -> int:
        return len(self._items)

    @property
    def full(self) -> bool:
        return len(self._items) >= self.limit

    # -- producers -----------------------------------------------------------------------------------

    async def put(self, item: Item) -> None:
        while len(self._items) >= self.limit:
            self._room.clear()
            await self._room.wait()
        self.put_nowait(item)

    def put_nowait(self, item: Item) -> None:
        self._items.append(item)
        self._queued_at.append(time.monotonic())
        if self._wanted and len(self._items) >= self._wanted:
            self._arrived.set()

    # -- the writer ----------------------------------------------------------------------------------

    async def take(self, max_items: int, latency: float, idle_timeout: float, quiet: float = 0.0) -> list[Item]:
        """A batch, or [] if nothing arrived within ``idle_timeout`` seconds.

        The batch closes at ``max_items``, at ``latency`` after its first item was queued, or (when
        ``quiet`` is set) as soon as no item has arrived for ``quiet`` seconds: a burst is batched
        whole, and a lone event does not wait out the full latency.
        """
        if not self._items and not await self._wait_for(1, idle_timeout):
            return []
        deadline = self._queued_at[0] + latency
        while len(self._items) < max_items:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if quiet:
                # One timer per quiet interval, not one wake-up per arriving item: cheap in a burst.
                before = len(self._items)
                await asyncio.sleep(min(quiet, remaining))
                if len(self._items) == before:
                    break
            elif not await self._wait_for(max_items, remaining):
                break
        count = min(max_items, len(self._items))
        popleft, popped = self._items.popleft, self._queued_at.popleft
        batch = [popleft() for _ in range(count)]
        for _ in range(count):
            popped()
        if len(self._items) < self.limit:
            self._room.set()
        return batch

    def take_all(self) -> list[Item]:
        batch = list(self._items)
        self._items.clear()
        self._queued_at.clear()
        self._room.set()
        return batch

    async def _wait_for(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` items are queued; False on timeout."""
        self._wanted = count
        self._arrived.clear()
        try:
            await asyncio.wait_for(self._arrived.wait(), timeout)
            return True
        except TimeoutError:
            return len(self._items) >= count
        finally:
            self._wanted = 0
