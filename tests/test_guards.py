"""The shared network guards: loopback, owner, per-source back-off and rate limits (bounded)."""

from __future__ import annotations

from appliance.guards import Backoff, RateLimit, is_loopback, owner, token_matches


def test_loopback_and_owner() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("127.8.9.1") and is_loopback("::1")
    assert is_loopback("::ffff:127.0.0.1")
    assert not is_loopback("10.0.0.5") and not is_loopback("") and not is_loopback(None)
    assert not is_loopback("localhost")  # a name is not an address: only the socket's peer counts
    assert owner("127.0.0.1", "", "")  # the box itself, with or without a token
    assert not owner("10.0.0.5", "", "")  # nobody else owns a box without a token
    assert owner("10.0.0.5", "Bearer a-long-token-1", "a-long-token-1")
    assert not owner("10.0.0.5", "Bearer wrong", "a-long-token-1")
    assert not token_matches("", "") and token_matches("abc", "abc")


def test_backoff_doubles_after_the_free_attempts_and_forgives() -> None:
    b = Backoff(free=3, first=1.0, longest=8.0)
    waits = [b.failed("ip", 100.0) for _ in range(7)]
    assert waits == [0.0, 0.0, 0.0, 1.0, 2.0, 4.0, 8.0]
    assert b.blocked("ip", 100.0) == 8.0 and b.blocked("ip", 109.0) == 0.0
    assert b.refused == 1
    b.succeeded("ip")
    assert b.failed("ip", 200.0) == 0.0


def test_tables_are_bounded() -> None:
    b = Backoff(size=100)
    r = RateLimit(rate=1.0, burst=2.0, size=100)
    for i in range(10_000):
        b.failed(i, 0.0)
        r.allow(i, 0.0)
    assert len(b._misses) == 100 and len(r._buckets) == 100


def test_rate_limit_refills() -> None:
    r = RateLimit(rate=2.0, burst=3.0)
    assert [r.allow("k", 0.0) for _ in range(4)] == [True, True, True, False]
    assert r.allow("k", 0.5) and not r.allow("k", 0.5)
    assert r.refused == 2
