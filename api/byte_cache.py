"""A cache bounded by the bytes of its values, least recently used out first: the API's page cache
(``api.sources``) and item-document cache (``api.freshness``).

Reads take no lock (each OrderedDict operation is atomic under the GIL, and a read that loses a race with an
eviction is a miss); writes do, since list pages are remembered on query threads while the event loop reads.
A value larger than an eighth of the budget is not kept: one answer must not empty the cache.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class ByteBudgetCache(Generic[V]):
    def __init__(self, budget: int, size_of: Callable[[V], int]) -> None:
        self.budget = budget  # bytes; 0 keeps nothing
        self.used = 0
        self._size_of = size_of
        self._entries: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        value = self._entries.get(key)
        if value is not None:
            try:
                self._entries.move_to_end(key)
            except KeyError:  # evicted by a writer meanwhile: the value read is still whole
                pass
        return value

    def put(self, key: Hashable, value: V) -> None:
        if not self.budget:
            return
        size = self._size_of(value)
        if size > self.budget // 8:
            return
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self.used -= self._size_of(previous)
            self._entries[key] = value
            self.used += size
            while self.used > self.budget:
                _, evicted = self._entries.popitem(last=False)
                self.used -= self._size_of(evicted)
