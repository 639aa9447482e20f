"""Advertise the box over mDNS / DNS-SD with python-zeroconf's asyncio API.

Three services under one instance name, ``<device name> (<id>)`` where ``id`` is a short stable id
of this machine: ``_osc._udp`` (the OSC control port), ``_oscjson._tcp`` (OSCQuery) and
``_http._tcp`` (the web page). TXT records tell a patch the version, model, backend, formats and
ports. A name taken by another box is renamed by python-zeroconf's probing. Records are updated when
the configuration or the interface addresses change, and withdrawn (goodbye packets) on close.
IPv4 only by default, on the configured interfaces only.

It also browses ``_http._tcp`` for the other boxes (``browser.PeerBrowser``: TXT records like ours,
on this box's own subnets, in a bounded table with capped lifetimes), for the page's fleet list;
removals (goodbyes, expiry) drop them.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from dataclasses import dataclass

from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from appliance import __version__
from appliance.core.status import Peer
from appliance.discovery.browser import PeerBrowser
from appliance.discovery.peers import LocalNetworks
from appliance.sysinfo import machine_id

__all__ = ["SERVICE_TYPES", "Advertiser", "Announcement", "resolve_interfaces"]

logger = logging.getLogger(__name__)

SERVICE_TYPES = {"osc": "_osc._udp.local.", "oscjson": "_oscjson._tcp.local.", "http": "_http._tcp.local."}


def resolve_interfaces(items: list[str]) -> list[str]:
    """IPv4 addresses for interface names or addresses; empty -> every non-loopback IPv4 address."""
    import ifaddr

    adapters = ifaddr.get_adapters()
    by_name = {a.nice_name: [str(ip.ip) for ip in a.ips if isinstance(ip.ip, str)] for a in adapters}
    out: list[str] = []
    if not items:
        for ips in by_name.values():
            out += [ip for ip in ips if not ipaddress.ip_address(ip).is_loopback]
    for item in items:
        try:
            ipaddress.IPv4Address(item)
            out.append(item)
        except ValueError:
            out += by_name.get(item, [])
    return list(dict.fromkeys(out))


@dataclass(frozen=True, slots=True)
class Announcement:
    """What to advertise: names, ports (0 = not offered) and TXT properties."""

    device_name: str
    osc_port: int
    oscquery_port: int
    http_port: int
    properties: dict[str, str]


class Advertiser:
    """Registers, updates and withdraws the services; all methods run on the event loop."""

    def __init__(self, interfaces: list[str], *, server: str | None = None) -> None:
        self.addresses = interfaces
        self.server = server or f"{socket.gethostname().split('.')[0]}.local."
        self.instance = ""
        self._azc: AsyncZeroconf | None = None
        self._infos: dict[str, AsyncServiceInfo] = {}
        self._browser: PeerBrowser | None = None

    def peers(self) -> list[Peer]:
        """The other boxes seen on this box's subnets, by instance name ([] before start and after close)."""
        return self._browser.peers() if self._browser is not None else []

    def _browse(self) -> None:
        if self._azc is not None:
            networks = LocalNetworks.of(self.addresses)
            self._browser = PeerBrowser(self._azc.zeroconf, SERVICE_TYPES["http"], networks, lambda: self.instance)
            self._browser.start()

    def _infos_for(self, ann: Announcement, instance: str) -> dict[str, AsyncServiceInfo]:
        ports = {"osc": ann.osc_port, "oscjson": ann.oscquery_port, "http": ann.http_port}
        props = {
            "txtvers": "1",
            "version": __version__,
            **ann.properties,
            "osc_port": str(ann.osc_port),
            "oscjson_port": str(ann.oscquery_port),
            "http_port": str(ann.http_port),
        }
        return {
            key: AsyncServiceInfo(
                stype,
                f"{instance}.{stype}",
                port=ports[key],
                addresses=[socket.inet_aton(a) for a in self.addresses],
                properties=props,
                server=self.server,
            )
            for key, stype in SERVICE_TYPES.items()
            if ports[key]
        }

    async def async_start(self, ann: Announcement) -> str:
        """Register the services; returns the instance name actually used (renamed on conflict)."""
        self._azc = AsyncZeroconf(interfaces=self.addresses, ip_version=IPVersion.V4Only)
        instance = f"{ann.device_name} ({machine_id()})"
        infos = self._infos_for(ann, instance)
        # The first service probes for the name; the others follow whatever it ended up with.
        first_key = next(iter(infos))
        await (await self._azc.async_register_service(infos[first_key], allow_name_change=True))
        self.instance = infos[first_key].name[: -len(SERVICE_TYPES[first_key]) - 1]
        infos = self._infos_for(ann, self.instance)
        for key, info in infos.items():
            if key != first_key:
                await (await self._azc.async_register_service(info, allow_name_change=True))
        self._infos = infos
        logger.warning("advertised as %r on %s", self.instance, ", ".join(self.addresses))
        self._browse()
        return self.instance

    async def async_update(self, ann: Announcement, addresses: list[str] | None = None) -> None:
        """Re-announce with new TXT records (and addresses)."""
        if self._azc is None:
            return
        if addresses is not None:
            self.addresses = addresses
            if self._browser is not None:
                self._browser.networks = LocalNetworks.of(addresses)
        new = self._infos_for(ann, self.instance)
        for key, info in new.items():
            if key in self._infos:
                await (await self._azc.async_update_service(info))
            else:
                await (await self._azc.async_register_service(info, allow_name_change=True))
        for key in set(self._infos) - set(new):
            await (await self._azc.async_unregister_service(self._infos[key]))
        self._infos = new

    async def async_close(self) -> None:
        """Send goodbyes and close; idempotent."""
        azc, self._azc = self._azc, None
        if azc is None:
            return
        browser, self._browser = self._browser, None
        if browser is not None:
            await browser.async_close()
        for info in self._infos.values():
            await (await azc.async_unregister_service(info))
        await azc.async_close()
