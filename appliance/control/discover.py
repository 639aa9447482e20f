"""Discovery on the OSC control port, for patches with no mDNS (Pd vanilla, Max without packages).

A patch sends ``/posenet/discover`` (optionally ``,i PORT``: where to answer; otherwise the sender's
own port) to the control port, unicast or to the broadcast address 255.255.255.255. Every box that
hears it answers the sender, and only the sender, with
``/posenet/here ,ssiii name address control_port http_port oscquery_port``: its mDNS instance name,
its own address on the subnet the question came from, and its ports (0: not listening).

Nobody can use this to make a box amplify or reflect traffic at a third party:

* answers go only to a unicast address on one of the box's own subnets (never a broadcast,
  multicast, network or unspecified address, never port 0); anything else is ignored, unanswered;
* answers are rate-limited per source IP (``PER_SOURCE_RATE`` a second, ``PER_SOURCE_BURST`` at
  once) and for the whole box (``OVERALL_RATE``, ``OVERALL_BURST``);
* an answer is small (about 64 bytes) and pays from the reply budget of the address it goes to
  (``budget.ReplyBudget``): past a 2 KiB allowance, no address gets more bytes than it sent.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable

from appliance.control.access import Ignored
from appliance.core.facade import Reading
from appliance.core.status import Status
from appliance.guards import RateLimit
from appliance.sysinfo import machine_id

__all__ = [
    "OVERALL_BURST",
    "OVERALL_RATE",
    "PER_SOURCE_BURST",
    "PER_SOURCE_RATE",
    "Discovery",
    "here",
    "instance_name",
    "own_interfaces",
]

#: Answers per source IP: per second, at once; for the whole box: per second, at once.
PER_SOURCE_RATE, PER_SOURCE_BURST = 2.0, 8.0
OVERALL_RATE, OVERALL_BURST = 20.0, 40.0
#: Seconds between re-reading the box's own interface addresses (a new DHCP lease shows within this).
INTERFACES_SECONDS = 5.0

Interface = ipaddress.IPv4Interface


def own_interfaces() -> list[Interface]:
    """The IPv4 addresses of this box's interfaces with their prefixes (loopback included)."""
    import ifaddr

    out: list[Interface] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str):
                try:
                    out.append(ipaddress.IPv4Interface(f"{ip.ip}/{ip.network_prefix}"))
                except ValueError:
                    continue
    return out


def instance_name(status: Status, device_name: str) -> str:
    """The box's mDNS instance name: the advertised one, else the one it will be (``name (id)``)."""
    discovery = status.servers.get("discovery")
    if discovery is not None and discovery.name:
        return discovery.name
    return f"{device_name} ({machine_id()})"


def here(control: Reading) -> tuple[str, int, int, int]:
    """What ``/posenet/here`` tells besides the address: the instance name, then the ports of the
    control port, the HTTP API and OSCQuery (0: not listening)."""
    status = control.status()
    ports = [status.servers[k].port if k in status.servers else 0 for k in ("osc_control", "http", "oscquery")]
    return instance_name(status, control.config.device_name), ports[0], ports[1], ports[2]


class Discovery:
    """Who may be answered, and from which of the box's addresses. ``interfaces`` lists the box's
    IPv4 interfaces (``own_interfaces``; tests inject others); times are ``time.monotonic()`` s."""

    def __init__(self, interfaces: Callable[[], list[Interface]] = own_interfaces) -> None:
        self._read = interfaces
        self._interfaces: list[Interface] = []
        self._at = -math.inf
        self.per_source = RateLimit(PER_SOURCE_RATE, PER_SOURCE_BURST)
        self.overall = RateLimit(OVERALL_RATE, OVERALL_BURST, size=1)
        self.answered = 0

    def local_address(self, host: str, now: float) -> str:
        """The box's own address on the subnet of ``host`` (an IPv4 address as text).

        Raises:
            Ignored: ``host`` is not a unicast address on one of the box's subnets.
        """
        try:
            ip = ipaddress.IPv4Address(host)
        except ValueError:
            raise Ignored(f"{host[:64]} is not an IPv4 address") from None
        if ip.is_multicast or ip.is_unspecified or ip == ipaddress.IPv4Address("255.255.255.255"):
            raise Ignored(f"{host} is not a unicast address")
        if now - self._at >= INTERFACES_SECONDS:
            self._interfaces, self._at = self._read(), now
        for iface in self._interfaces:
            net = iface.network
            if ip in net:
                if net.prefixlen <= 30 and ip in (net.network_address, net.broadcast_address):
                    raise Ignored(f"{host} is the network or broadcast address of {net}")
                return str(iface.ip)
        raise Ignored(f"{host} is not on this box's networks")

    def admit(self, addr: tuple[str, int], now: float) -> str:
        """Whether the question from ``addr`` gets an answer: the box's own address to answer from.

        Raises:
            Ignored: off the box's subnets, not unicast, source port 0, or over the rate limits.
        """
        if not 1 <= addr[1] <= 65535:
            raise Ignored("source port 0")
        local = self.local_address(addr[0], now)
        if not self.per_source.allow(addr[0], now):
            raise Ignored(f"more than {PER_SOURCE_RATE:g} discovery a second from {addr[0]}")
        if not self.overall.allow("all", now):
            raise Ignored(f"more than {OVERALL_RATE:g} discovery answers a second in all")
        return local
