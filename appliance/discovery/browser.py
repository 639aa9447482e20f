"""Browse ``_http._tcp`` for the other boxes (python-zeroconf), believing only what ``peers`` admits.

A service counts as a box when its TXT record is ours (``txtvers`` and ``oscjson_port``) and its
address passes ``LocalNetworks.refusal``. Records already complete in python-zeroconf's cache are
read from it at once; the others are asked for by at most ``RESOLVERS`` tasks, with at most
``MAX_PENDING`` names waiting (more are dropped until they are announced again), so a flood of
names costs a fixed number of queries in flight. Every method runs on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from zeroconf import IPVersion, ServiceStateChange, Zeroconf
from zeroconf._dns import DNSPointer  # re-exported by ``zeroconf`` but left out of its ``__all__``
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo

from appliance.core.status import Peer
from appliance.discovery.peers import NAME_MAX, LocalNetworks, PeerTable, clean_text, clean_txt
from appliance.log import LogOnce

__all__ = ["LIST_SECONDS", "MAX_PENDING", "RESOLVERS", "PeerBrowser"]

logger = logging.getLogger(__name__)

#: Names being resolved over the network at once.
RESOLVERS = 4
#: Names waiting to be resolved at most.
MAX_PENDING = 256
#: Milliseconds one resolution may take.
RESOLVE_MS = 3000
#: Seconds a computed list of peers is reused (the table's lives are checked at most this often).
LIST_SECONDS = 0.5
_TYPE_PTR, _CLASS_IN = 12, 1  # DNS record type PTR, class IN (RFC 1035)


class PeerBrowser:
    """The other boxes on this box's subnets, from mDNS ``service_type`` records, in a ``PeerTable``."""

    def __init__(
        self,
        zc: Zeroconf,
        service_type: str,
        networks: LocalNetworks,
        own_instance: Callable[[], str],
        table: PeerTable | None = None,
    ) -> None:
        self.zc, self.service_type, self.networks = zc, service_type, networks
        self.own_instance = own_instance
        self.table = table if table is not None else PeerTable()
        self.refused: dict[str, int] = {}  # reason -> peers refused for it
        self.dropped = 0  # names not resolved because too many were waiting
        self._browser: AsyncServiceBrowser | None = None
        self._queue: asyncio.Queue[str] = asyncio.Queue(MAX_PENDING)
        self._pending: set[str] = set()
        self._workers: list[asyncio.Task[None]] = []
        self._log = LogOnce(logger, max_keys=64)
        self._closed = False
        self._swept = 0.0
        self._listed: tuple[float, list[Peer]] | None = None  # (when, the list) for ``peers``

    def start(self) -> None:
        """Start browsing."""
        self._browser = AsyncServiceBrowser(self.zc, [self.service_type], handlers=[self._changed])

    def peers(self) -> list[Peer]:
        """The living peers by name (computed at most every ``LIST_SECONDS`` unless the table
        changed: O(records) each time); [] once closed."""
        if self._closed:
            return []
        now = _now()
        if self._listed is None or now - self._listed[0] >= LIST_SECONDS:
            self._sweep()
            self._listed = (now, self.table.peers(now))
        return list(self._listed[1])

    def _changed(self, zeroconf: Any, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        key = name.lower()
        if self._closed:
            return
        if state_change is ServiceStateChange.Removed:
            self.table.remove(key)
            self._listed = None
            return
        try:
            info = AsyncServiceInfo(service_type, name)
            if info.load_from_cache(self.zc):
                self._admit(key, info)
                return
        except Exception as exc:  # whatever a record carries, browsing goes on
            self._log.warning(("error", type(exc)), "mDNS: cannot read %r: %r", clean_text(name, 80), exc)
            return
        if key in self._pending:
            return
        if self._queue.full():
            self.dropped += 1
            return
        self._pending.add(key)
        self._queue.put_nowait(name)
        if len(self._workers) < RESOLVERS:
            self._workers.append(asyncio.get_running_loop().create_task(self._resolve()))

    async def _resolve(self) -> None:
        while not self._closed:
            name = await self._queue.get()
            try:
                info = AsyncServiceInfo(self.service_type, name)
                if await info.async_request(self.zc, RESOLVE_MS):
                    self._admit(name.lower(), info)
            except Exception as exc:  # whatever a record carries, browsing goes on
                self._log.warning(("error", type(exc)), "mDNS: cannot resolve %r: %r", clean_text(name, 80), exc)
            finally:
                self._pending.discard(name.lower())

    def _admit(self, key: str, info: AsyncServiceInfo) -> None:
        instance = info.name[: -len(self.service_type) - 1]
        props = info.properties
        if b"txtvers" not in props or b"oscjson_port" not in props or instance.lower() == self.own_instance().lower():
            return  # not one of ours, or this box itself
        port = info.port or 0
        addresses = info.parsed_addresses(IPVersion.V4Only)
        reasons = [self.networks.refusal(a) for a in addresses] or ["no IPv4 address"]
        if not 1 <= port <= 65535:
            reasons = [f"port {port}"]
        self._listed = None
        if "" not in reasons:
            self.table.remove(key)
            self._refuse(reasons[0], instance, addresses[0] if addresses else "")
            return
        address = addresses[reasons.index("")]
        peer = Peer(clean_text(instance, NAME_MAX), address, port, clean_txt(props))
        now = _now()
        if len(self.table) >= self.table.capacity and now - self._swept >= 1.0:
            self._sweep()  # full: the records that left python-zeroconf's cache make room first
        pointer = DNSPointer(self.service_type, _TYPE_PTR, _CLASS_IN, 0, info.name)
        record = self.zc.cache.cache.get(pointer.key, {}).get(pointer)  # O(1): records hash by their data
        expires = self.table.expiry(record.created / 1000, record.ttl) if record is not None else now
        if expires > now and (refused := self.table.put(key, peer, expires, now)):
            self._refuse(refused, instance, address)

    def _refuse(self, reason: str, instance: str, address: str) -> None:
        self.refused[reason] = self.refused.get(reason, 0) + 1
        self._log.warning(reason, "mDNS: not listing %r at %s: %s", clean_text(instance, NAME_MAX), address, reason)

    def _sweep(self) -> None:
        """Each peer lives as long as its PTR record in python-zeroconf's cache (renewed when it is
        announced again), within the TTL cap; O(records), at most once a second when the table is full."""
        self._swept = _now()
        records = self.zc.cache.async_all_by_details(self.service_type, _TYPE_PTR, _CLASS_IN)
        pointers = {r.alias.lower(): r for r in records if isinstance(r, DNSPointer)}
        for key in self.table.names():
            record = pointers.get(key)
            if record is None:
                self.table.remove(key)
            else:
                self.table.renew(key, self.table.expiry(record.created / 1000, record.ttl))

    async def async_close(self) -> None:
        """Stop browsing and resolving; idempotent."""
        self._closed = True
        browser, self._browser = self._browser, None
        if browser is not None:
            await browser.async_cancel()
        workers, self._workers = self._workers, []
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)


def _now() -> float:
    """python-zeroconf's clock, in seconds (``time.monotonic()``)."""
    return time.monotonic()
