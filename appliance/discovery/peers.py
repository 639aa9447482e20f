"""Which other boxes this one will believe in: admissible peer addresses, cleaned claims, a bounded table.

An mDNS record is a claim anyone on the network can make, for any address. A peer is admitted only
when its IPv4 address is on one of the subnets the box advertises on and is none of: loopback,
link-local, multicast, unspecified, reserved, a subnet's network or broadcast address, or any
address of this machine. Its name and TXT record are cut to size (known keys only, printable
text). The table holds at most ``capacity`` peers and ``per_address`` names per address; when it
is full, peers already in it stay and newcomers are refused (expired ones leave first). A peer's
life is its record's, cut to ``ttl_cap`` seconds after the record was last announced, so a record
claiming a TTL of decades is unlisted 75 minutes after its sender fell silent (and listed again if
it is announced again). Times are
``time.monotonic()`` seconds (python-zeroconf's clock, divided by 1000).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from appliance.core.status import Peer

__all__ = [
    "MAX_PEERS",
    "NAME_MAX",
    "PER_ADDRESS",
    "TTL_CAP",
    "TXT_KEYS",
    "TXT_VALUE_MAX",
    "LocalNetworks",
    "PeerTable",
    "clean_text",
    "clean_txt",
]

#: Peers the table holds at most (about 1 KB each at most).
MAX_PEERS = 1024
#: Instance names per IPv4 address at most (a box advertises one ``_http._tcp`` service).
PER_ADDRESS = 2
#: Longest life a record may claim, in seconds: python-zeroconf's own PTR TTL (75 minutes).
TTL_CAP = 4500.0
#: Characters of an instance name kept (a DNS label is at most 63 bytes).
NAME_MAX = 63
#: TXT keys kept (what our boxes announce); other keys are dropped.
TXT_KEYS = (
    "txtvers",
    "version",
    "model",
    "backend",
    "device",
    "formats",
    "osc_port",
    "oscjson_port",
    "http_port",
    "clock",  # "serve": the box serves time (clock.serve)
    "hub",  # "1": a hub, not a box
)
#: Characters of a TXT value kept.
TXT_VALUE_MAX = 120


def clean_text(value: str | bytes | None, limit: int) -> str:
    """``value`` as printable text of at most ``limit`` characters (bytes decoded as UTF-8, invalid
    bytes and control characters replaced by U+FFFD)."""
    if value is None:
        return ""
    text = value[: limit * 4].decode("utf-8", "replace") if isinstance(value, bytes) else value
    return "".join(c if c.isprintable() else "\ufffd" for c in text[:limit])


def clean_txt(properties: Mapping[bytes, bytes | None]) -> dict[str, str]:
    """A TXT record reduced to ``TXT_KEYS``, each value printable and at most ``TXT_VALUE_MAX`` long."""
    out: dict[str, str] = {}
    for key, value in properties.items():
        name = key.decode("ascii", "replace").lower() if len(key) <= 32 else ""
        if name in TXT_KEYS:
            out[name] = clean_text(value, TXT_VALUE_MAX)
    return out


@dataclass(frozen=True, slots=True)
class LocalNetworks:
    """The subnets the box advertises on (``networks``) and every address of this machine (``own``)."""

    networks: tuple[ipaddress.IPv4Network, ...]
    own: frozenset[ipaddress.IPv4Address]

    @classmethod
    def of(cls, advertised: Iterable[str]) -> LocalNetworks:
        """The networks of the interfaces holding the ``advertised`` IPv4 addresses, and all this
        machine's IPv4 addresses (from the interface list; a quick system call, no I/O)."""
        import ifaddr

        wanted = set(advertised)
        networks: list[ipaddress.IPv4Network] = []
        own: set[ipaddress.IPv4Address] = set()
        for adapter in ifaddr.get_adapters():
            for ip in adapter.ips:
                if not isinstance(ip.ip, str):
                    continue  # IPv6
                own.add(ipaddress.IPv4Address(ip.ip))
                if ip.ip in wanted:
                    networks.append(ipaddress.IPv4Interface(f"{ip.ip}/{ip.network_prefix}").network)
        return cls(tuple(dict.fromkeys(networks)), frozenset(own))

    def refusal(self, address: str) -> str:
        """Why a peer at ``address`` is not believed ("" when it may be asked)."""
        try:
            ip = ipaddress.IPv4Address(address)
        except ValueError:
            return "not an IPv4 address"
        if ip.is_loopback:
            return "loopback"
        if ip.is_link_local:
            return "link-local"
        if ip.is_multicast:
            return "multicast"
        if ip.is_unspecified or ip.is_reserved:
            return "not a host address"
        if ip in self.own:
            return "this box's own address"
        for net in self.networks:
            if ip in net:
                if net.prefixlen <= 30 and ip in (net.network_address, net.broadcast_address):
                    return "a subnet's network or broadcast address"
                return ""
        return "not on this box's subnets"


@dataclass(slots=True)
class _Entry:
    peer: Peer
    expires: float


class PeerTable:
    """The other boxes, by mDNS service name: bounded in count, names per address and lifetime."""

    def __init__(self, capacity: int = MAX_PEERS, per_address: int = PER_ADDRESS, ttl_cap: float = TTL_CAP) -> None:
        self.capacity, self.per_address, self.ttl_cap = capacity, per_address, ttl_cap
        self._entries: dict[str, _Entry] = {}
        self._by_address: dict[str, set[str]] = {}
        #: Peers refused because the table (or their address's share of it) was full.
        self.refused_full = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def expiry(self, announced: float, ttl: float) -> float:
        """When a record announced at ``announced`` with ``ttl`` seconds ends here (``ttl`` capped)."""
        return announced + min(max(ttl, 0.0), self.ttl_cap)

    def put(self, key: str, peer: Peer, expires: float, now: float) -> str:
        """Add or update ``key``; returns "" or why it was refused (the table, or the address's
        share of it, is full; counted in ``refused_full``)."""
        old = self._entries.get(key)
        if old is not None and old.peer.address != peer.address:
            self.remove(key)
            old = None
        if old is None:
            names = self._by_address.get(peer.address, set())
            if len(self._entries) >= self.capacity:
                self.expire(now)
            full = len(self._entries) >= self.capacity
            if full or len(names) >= self.per_address:
                self.refused_full += 1
                return "the table of peers is full" if full else f"over {self.per_address} names at one address"
            self._by_address.setdefault(peer.address, set()).add(key)
        self._entries[key] = _Entry(peer, expires)
        return ""

    def renew(self, key: str, expires: float) -> None:
        """A new end of life for ``key`` (its record was announced again)."""
        entry = self._entries.get(key)
        if entry is not None:
            entry.expires = expires

    def remove(self, key: str) -> None:
        """Forget ``key`` (a goodbye, or its record left the cache)."""
        entry = self._entries.pop(key, None)
        if entry is not None:
            names = self._by_address.get(entry.peer.address)
            if names is not None:
                names.discard(key)
                if not names:
                    del self._by_address[entry.peer.address]

    def expire(self, now: float) -> int:
        """Drop the peers whose life ended by ``now``; returns how many."""
        gone = [k for k, e in self._entries.items() if e.expires <= now]
        for key in gone:
            self.remove(key)
        return len(gone)

    def names(self) -> list[str]:
        """The service names held."""
        return list(self._entries)

    def peers(self, now: float) -> list[Peer]:
        """The living peers, by name (the others stay, unlisted, until ``renew`` revives them or
        room is needed)."""
        return sorted((e.peer for e in self._entries.values() if e.expires > now), key=lambda p: p.name)
