"""The control port's rules: who may change what.

* The **subnet rule**: changing messages are accepted only from the box's own networks
  (``osc_control.subnets_only``); the box itself (loopback) always passes.
* The **owner** (saved settings, ending every subscription): the box itself, or the access token
  (``http.token``) as the message's last argument. A box with no token (unclaimed) accepts these
  only from itself.
* The **subscribe key** (``osc_control.subscribe_key``, when the owner set one): the last argument
  of ``add``; never the access token, which so never needs to travel over OSC. A key given to a box
  that needs none (it has none, or the sender is the box itself) is left out unchecked (a hub gives
  the venue's one key to every box it follows), unless it is the access token: refused (checked at
  most 5 times, then once a minute, per source IP: beyond, left out unchecked, so that the answer
  cannot serve to test guesses of the token without a back-off).
* **Back-off**: wrong tokens, wrong keys and requests about subscriptions that are not the sender's
  back off per source IP (``guards.Backoff``): a few free, then refused unchecked for a time that
  doubles; **rate limit**: changes that take effect, per source IP (``guards.RateLimit``).

A refusal raises ``Refused`` (answered to the sender with ``/posenet/error``, within the reply budget)
or ``Ignored`` (counted only: the sender may be forged and must not be answered).
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable
from typing import Any

from appliance.core.facade import Reading
from appliance.guards import Backoff, RateLimit, is_loopback, token_matches

__all__ = ["Access", "Ignored", "Refused", "own_networks"]

#: Seconds between re-reading the box's own subnets.
SUBNETS_SECONDS = 30.0
#: Unneeded keys compared with the access token, per source IP: per second, burst. Beyond, the key is
#: left out unchecked (answered like any other): the refusal must not become a way to test guesses.
TOKEN_PEEK_RATE, TOKEN_PEEK_BURST = 1 / 60, 5.0
#: Changes that take effect (confirmed lease changes, the owner's), per source IP: per second, burst.
CHANGE_RATE, CHANGE_BURST = 2.0, 20.0

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Refused(Exception):
    """A message refused: answered with ``/posenet/error`` (the message is the one-line reason) and counted."""


class Ignored(Refused):
    """A message refused without an answer (the sender may be forged), counted."""


def own_networks() -> list[Network]:
    """The networks of this box's interfaces (loopback included)."""
    import ifaddr

    nets: list[Network] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            address = ip.ip if isinstance(ip.ip, str) else ip.ip[0]
            try:
                nets.append(ipaddress.ip_network(f"{address.split('%')[0]}/{ip.network_prefix}", strict=False))
            except ValueError:
                continue
    return nets


def _last_string(args: list[Any]) -> str | None:
    return args[-1] if args and isinstance(args[-1], str) else None


def _unneeded_key(args: list[Any]) -> list[Any]:
    """``add``'s arguments without a key the box does not need: two strings last can only be a format
    (or preset) and a key."""
    return args[:-1] if len(args) >= 2 and isinstance(args[-1], str) and isinstance(args[-2], str) else args


class Access:
    """The rules above for one control port; ``local(host)`` says whether a sender is the box itself
    (``guards.is_loopback``; tests inject another). Times are ``time.monotonic()`` seconds."""

    def __init__(self, control: Reading, local: Callable[[str], bool] = is_loopback) -> None:
        self.control, self.local = control, local
        self.backoff = Backoff()  # keyed (what, IP): "token", "key", "owner"
        self.changes = RateLimit(CHANGE_RATE, CHANGE_BURST)
        self.peeks = RateLimit(TOKEN_PEEK_RATE, TOKEN_PEEK_BURST)
        self._nets: list[Network] = []
        self._nets_at = -math.inf

    def subnet(self, host: str, now: float) -> None:
        """Refused unless ``host`` may change anything (its own subnet, or the box itself)."""
        if self.local(host) or not self.control.config.osc_control.subnets_only:
            return
        if now - self._nets_at >= SUBNETS_SECONDS:
            self._nets, self._nets_at = own_networks(), now
        ip = ipaddress.ip_address(host.split("%")[0])
        if not any(ip in net for net in self._nets):
            raise Refused("changes are accepted from this box's own networks only")

    def _blocked(self, what: str, host: str, now: float, reason: str) -> None:
        wait = self.backoff.blocked((what, host), now)
        if wait:
            raise Refused(f"{reason}; wait {math.ceil(wait)} s")

    def _check(self, what: str, host: str, given: str | None, secret: str, now: float, name: str) -> None:
        self._blocked(what, host, now, f"too many wrong {name}s from {host}")
        if given is None or not token_matches(given, secret):
            self.backoff.failed((what, host), now)
            raise Refused(f"wrong or missing {name} (the last argument)")
        self.backoff.succeeded((what, host))

    def subscribe_key(self, host: str, args: list[Any], now: float) -> list[Any]:
        """``add``'s arguments without the subscribe key; Refused when one is set and not given last
        (the box itself needs none)."""
        key = self.control.config.osc_control.subscribe_key
        given = _last_string(args)
        if key and given is not None and token_matches(given, key) and self.local(host):
            return args[:-1]
        if self.local(host):
            return _unneeded_key(args)
        if not key:
            rest = _unneeded_key(args)
            peek = given is not None and rest is not args and self.peeks.allow(host, now)
            if peek and token_matches(given or "", self.control.config.http.token):
                raise Refused(
                    "expected [port [format or preset]], then the subscribe key if set (never the access token)"
                )
            return rest
        self._check("key", host, given, key, now, "subscribe key")
        return args[:-1]

    def owner(self, host: str, args: list[Any], now: float) -> list[Any]:
        """The arguments without the access token when the sender is the owner (the box itself, or
        the token last); Refused otherwise."""
        given = _last_string(args)
        if self.local(host):
            return args[:-1] if given is not None else args
        token = self.control.config.http.token
        if not token:
            raise Refused("this box has no owner yet: only the box itself may change this (set http.token)")
        if given is None:
            raise Refused("needs the access token (the last argument)")
        self._check("token", host, given, token, now, "access token")
        return args[:-1]

    def ownership_miss(self, host: str, now: float) -> None:
        """A request about subscriptions the sender does not have (a guess at someone else's port?)."""
        if not self.local(host):
            self.backoff.failed(("owner", host), now)

    def may_ask(self, host: str, now: float) -> None:
        """Refused while ``host`` backs off for asking about subscriptions that were not its own."""
        if not self.local(host):
            self._blocked("owner", host, now, f"too many requests from {host} for subscriptions not theirs")

    def rate(self, host: str, now: float) -> None:
        """Refused when ``host`` makes changes faster than the rate limit (the box itself never is)."""
        if not self.local(host) and not self.changes.allow(host, now):
            raise Refused(f"too many changes from {host}; at most {CHANGE_RATE:g} a second")
