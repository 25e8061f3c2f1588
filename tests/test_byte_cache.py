"""The byte-bounded LRU behind the API's page and item caches."""

from api.byte_cache import ByteBudgetCache


def test_keeps_within_its_budget_least_recently_used_out_first() -> None:
    cache: ByteBudgetCache[bytes] = ByteBudgetCache(100, len)
    for key in "abcd":
        cache.put(key, b"x" * 10)
    cache.put("a", b"y" * 12)  # a replacement counts its new size only
    assert cache.used == 42
    cache.get("b")  # b is now the most recently used
    for key in "efghi":
        cache.put(key, b"x" * 10)
    assert cache.used == 92
    cache.put("j", b"x" * 10)  # over the budget: c, the least recently used, goes
    assert cache.get("c") is None and cache.get("b") == b"x" * 10 and cache.used == 92


def test_a_value_over_an_eighth_of_the_budget_is_not_kept_and_zero_keeps_nothing() -> None:
    cache: ByteBudgetCache[bytes] = ByteBudgetCache(80, len)
    cache.put("big", b"x" * 11)
    assert cache.get("big") is None and cache.used == 0
    off: ByteBudgetCache[bytes] = ByteBudgetCache(0, len)
    off.put("a", b"x")
    assert off.get("a") is None
