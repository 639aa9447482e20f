"""Guards for what arrives from the network, shared by the HTTP API, OSCQuery and the OSC control port.

* ``is_loopback``: a request from the box itself (the command line, an SSH tunnel) is the owner's.
* ``owner``: the box's owner is whoever is on the box itself, or presents the access token.
* ``Backoff``: failed token (or key) attempts back off per source: after ``free`` misses, every
  further attempt from that source is refused unchecked for a time that doubles per miss (1 s up to
  60 s by default), so a guesser gets a handful of tries a minute instead of thousands a second.
* ``RateLimit``: a token bucket per key (a source address, a socket): ``rate`` per second, up to
  ``burst`` at once.

Every table is bounded (least recently used keys are forgotten first): a flood of forged sources
costs a fixed amount of memory. All methods take ``now`` (``time.monotonic()`` seconds) so tests
can drive time; none blocks. Not thread-safe: use each instance from one thread (the event loop).
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from collections import OrderedDict
from collections.abc import Hashable

__all__ = [
    "MIN_KEY",
    "MIN_TOKEN",
    "Backoff",
    "RateLimit",
    "is_loopback",
    "new_token",
    "owner",
    "secret_problems",
    "token_matches",
]

#: Shortest access token (the owner's) and subscribe key accepted for a new value.
MIN_TOKEN, MIN_KEY = 12, 8


def new_token() -> str:
    """A fresh random access token: 24 URL-safe characters (144 bits)."""
    return secrets.token_urlsafe(18)


def secret_problems(token: str, key: str, old_token: str = "", old_key: str = "") -> list[tuple[str, str]]:
    """What is wrong with a new access ``token`` or subscribe ``key``, as (field, reason) pairs; values
    unchanged from ``old_token``/``old_key`` are not judged again (a box keeps working on an old short
    token until its owner sets a new one; the doctor says so)."""
    out = []
    if token and token != old_token and len(token) < MIN_TOKEN:
        out.append(("token", f"at least {MIN_TOKEN} characters (for example {new_token()})"))
    if key and key != old_key and len(key) < MIN_KEY:
        out.append(("key", f"at least {MIN_KEY} characters"))
    if key and key == token:
        out.append(("key", "must differ from the access token (the token never travels over OSC)"))
    return out


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` (an IP address as text, maybe IPv4-mapped IPv6) is this machine's loopback."""
    if not host:
        return False
    try:
        ip = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def token_matches(given: str, token: str) -> bool:
    """``given`` equals the configured ``token`` (constant time); never true for an empty token."""
    return bool(token) and hmac.compare_digest(given.encode(), token.encode())


def owner(client: str | None, authorization: str, token: str) -> bool:
    """The request comes from the box's owner: from the box itself (loopback), or with
    ``Authorization: Bearer <token>`` when a token is set."""
    if is_loopback(client):
        return True
    return token_matches(authorization, f"Bearer {token}") if token else False


class _Bounded(OrderedDict[Hashable, tuple[float, float]]):
    """An LRU table of (a, b) per key, at most ``size`` keys."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def put(self, key: Hashable, value: tuple[float, float]) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


class Backoff:
    """Failed attempts per source: ``blocked(key, now)`` is how many seconds it must still wait (0:
    may try); ``failed`` counts a miss; ``succeeded`` forgives."""

    def __init__(self, free: int = 5, first: float = 1.0, longest: float = 60.0, size: int = 4096) -> None:
        self.free, self.first, self.longest = free, first, longest
        self._misses = _Bounded(size)  # key -> (misses, blocked until)
        self.refused = 0  # attempts refused unchecked (blocked)

    def blocked(self, key: Hashable, now: float) -> float:
        """Seconds ``key`` must still wait before an attempt is checked (counted as refused if > 0)."""
        until = self._misses.get(key, (0.0, 0.0))[1]
        wait = max(0.0, until - now)
        if wait:
            self.refused += 1
        return wait

    def failed(self, key: Hashable, now: float) -> float:
        """Count a wrong attempt; returns the wait it imposes (0 while under ``free`` misses)."""
        misses = self._misses.get(key, (0.0, 0.0))[0] + 1
        wait = 0.0 if misses <= self.free else min(self.first * 2 ** (misses - self.free - 1), self.longest)
        self._misses.put(key, (misses, now + wait))
        return wait

    def succeeded(self, key: Hashable) -> None:
        """A right attempt: the source starts over."""
        self._misses.pop(key, None)


class RateLimit:
    """A token bucket per key: ``allow(key, now)`` spends one token if there is one."""

    def __init__(self, rate: float, burst: float, size: int = 4096) -> None:
        self.rate, self.burst = rate, burst
        self._buckets = _Bounded(size)  # key -> (tokens, last)
        self.refused = 0

    def allow(self, key: Hashable, now: float, cost: float = 1.0) -> bool:
        """Whether ``key`` may act now (and spend ``cost``); False is counted in ``refused``."""
        tokens, last = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        ok = tokens >= cost
        self._buckets.put(key, (tokens - cost if ok else tokens, now))
        if not ok:
            self.refused += 1
        return ok
