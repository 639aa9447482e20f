"""Browser scenarios, run by tests/discovery/test_browser.py inside a private network namespace
(``unshare --net``, loopback only): a real python-zeroconf on 127.0.0.1 and a ``PeerBrowser`` told
that its subnet is 10.88.0.0/16 and its own address 10.88.0.1; fake boxes are announced with
unsolicited mDNS answers on loopback (tests/discovery/fake_boxes.py). Prints one JSON object.
usage: browser_cases.py CASE
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from zeroconf import IPVersion, ServiceInfo
from zeroconf.asyncio import AsyncZeroconf

from appliance.discovery.browser import LIST_SECONDS, PeerBrowser
from appliance.discovery.peers import LocalNetworks, PeerTable
from tests.discovery.fake_boxes import TYPE, infos, packets

NETWORKS = LocalNetworks((ipaddress.IPv4Network("10.88.0.0/16"),), frozenset({ipaddress.IPv4Address("10.88.0.1")}))


def sender() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
    sock.bind(("127.0.0.1", 5353))
    return sock


async def announce(sock: socket.socket, services: list[ServiceInfo]) -> None:
    for i, packet in enumerate(packets(services)):
        sock.sendto(packet, ("224.0.0.251", 5353))
        if i % 16 == 15:
            await asyncio.sleep(0.002)  # let the browser read: a burst its socket's buffer holds


async def settle(browser: PeerBrowser, count: int, seconds: float = 5.0) -> float:
    """Seconds until the browser lists ``count`` peers (or ``seconds``)."""
    t0 = time.monotonic()
    while len(browser.peers()) < count and time.monotonic() - t0 < seconds:  # noqa: ASYNC110 - polling what another side does
        await asyncio.sleep(0.05)
    return time.monotonic() - t0


async def with_browser(table: PeerTable, body: Any) -> dict[str, Any]:
    azc = AsyncZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    browser = PeerBrowser(azc.zeroconf, TYPE, NETWORKS, lambda: "this box (1)", table)
    browser.start()
    sock = sender()
    try:
        return await body(browser, sock)  # type: ignore[no-any-return]
    finally:
        await browser.async_close()
        await azc.async_close()
        sock.close()


async def admission() -> dict[str, Any]:
    """Only peers on the subnet, and not the box's own address, are believed; names and TXT cut."""

    async def body(browser: PeerBrowser, sock: socket.socket) -> dict[str, Any]:
        places = {
            "loopback": "127.0.0.1",
            "own": "10.88.0.1",
            "unspecified": "0.0.0.0",
            "link-local": "169.254.1.1",
            "multicast": "224.0.0.251",
            "broadcast": "10.88.255.255",
            "off-subnet": "10.99.0.1",
            "ok": "10.88.1.1",
        }
        services = [info for name, ip in places.items() for info in infos(1, name, ip, 8080, 120)]
        long = infos(1, "x" * 55, "10.88.1.2", 8080, 120)[0]
        props = {"txtvers": "1", "oscjson_port": "1", "model": "m" * 200, "backend": "\x1b[31mred", "junk": "j"}
        long = ServiceInfo(TYPE, long.name, port=8080, addresses=long.addresses, properties=props, server=long.server)
        not_ours = ServiceInfo(TYPE, f"printer.{TYPE}", port=80, addresses=[bytes([10, 88, 1, 3])], server="p.local.")
        await announce(sock, [*services, long, not_ours])
        await settle(browser, 2, 3.0)
        await asyncio.sleep(0.5)
        peers = browser.peers()
        return {
            "peers": [{"name": p.name, "address": p.address, "port": p.http_port, "txt": p.txt} for p in peers],
            "refused": browser.refused,
        }

    return await with_browser(PeerTable(), body)


async def bounds() -> dict[str, Any]:
    """A table of 50: 80 fakes at their own addresses fill it and the rest are refused; 5 names at
    one address: 2 kept; peers already listed stay."""

    async def body(browser: PeerBrowser, sock: socket.socket) -> dict[str, Any]:
        first = infos(10, "early", "10.88.2.1+", 8080, 120)
        await announce(sock, first)
        await settle(browser, 10)
        await announce(sock, infos(5, "same", "10.88.3.1", 8080, 120))
        await announce(sock, infos(80, "flood", "10.88.4.1+", 8080, 120))
        await settle(browser, 50)
        await asyncio.sleep(0.5)
        names = [p.name for p in browser.peers()]
        return {
            "count": len(names),
            "early": sum(n.startswith("early") for n in names),
            "same": sum(n.startswith("same") for n in names),
            "refused_full": browser.table.refused_full,
        }

    return await with_browser(PeerTable(capacity=50), body)


async def ttl_cap() -> dict[str, Any]:
    """With a TTL cap of 1.5 s: a record claiming a TTL of 68 years and never announced again is
    unlisted after 1.5 s, though python-zeroconf still caches it, and listed again when announced
    again; a record announced every 0.5 s stays listed; a goodbye removes a peer at once."""

    async def body(browser: PeerBrowser, sock: socket.socket) -> dict[str, Any]:
        forever = infos(1, "forever", "10.88.5.1", 8080, 2**31 - 1)
        normal = infos(1, "normal", "10.88.5.2", 8080, 120)
        await announce(sock, forever + normal)
        await settle(browser, 2)
        listed = [p.name for p in browser.peers()]
        t0 = time.monotonic()
        normal_listed = True
        while any(p.name.startswith("forever") for p in browser.peers()) and time.monotonic() - t0 < 5:
            await announce(sock, normal)
            await asyncio.sleep(0.5)
            normal_listed = normal_listed and any(p.name.startswith("normal") for p in browser.peers())
        gone_after = time.monotonic() - t0
        cached = browser.zc.cache.async_all_by_details(TYPE, 12, 1)
        await announce(sock, forever)
        back = await settle(browser, 2, 2.0)
        back_listed = [p.name for p in browser.peers()]
        await announce(sock, infos(1, "normal", "10.88.5.2", 8080, 0))  # goodbye
        t1 = time.monotonic()
        while any(p.name.startswith("normal") for p in browser.peers()) and time.monotonic() - t1 < 3:  # noqa: ASYNC110 - polling what another side does
            await asyncio.sleep(0.01)
        return {
            "listed": listed,
            "forever_gone_after_s": gone_after,
            "normal_stayed": normal_listed,
            "still_cached": any("forever" in r.alias for r in cached),  # type: ignore[attr-defined]
            "back_after_s": back,
            "back_listed": back_listed,
            "goodbye_gone_after_s": time.monotonic() - t1,
            "after_goodbye": [p.name for p in browser.peers()],
        }

    return await with_browser(PeerTable(ttl_cap=1.5), body)


async def flood() -> dict[str, Any]:
    """2,000 fake boxes announced in one burst: the loop's worst stall while they are read, the
    table's size, and how long ``peers()`` takes to list 1,024 (the slowest of 3)."""

    async def body(browser: PeerBrowser, sock: socket.socket) -> dict[str, Any]:
        worst = 0.0
        ticking = True

        async def tick() -> None:
            nonlocal worst
            while ticking:
                t = time.monotonic()
                await asyncio.sleep(0.01)
                worst = max(worst, time.monotonic() - t - 0.01)

        ticker = asyncio.get_running_loop().create_task(tick())
        await announce(sock, infos(2000, "flood", "10.88.8.1+", 8080, 4500))
        took = await settle(browser, 1024, 10.0)
        await asyncio.sleep(0.5)
        ticking = False
        await ticker
        took_ms = []
        for _ in range(3):  # each a fresh list: the table's lives checked against the cache
            await asyncio.sleep(LIST_SECONDS)
            t0 = time.perf_counter()
            peers = browser.peers()
            took_ms.append((time.perf_counter() - t0) * 1000)
        return {
            "listed": len(peers),
            "settle_s": took,
            "worst_stall_s": worst,
            "peers_call_ms": max(took_ms),
            "refused_full": browser.table.refused_full,
        }

    return await with_browser(PeerTable(), body)


CASES = {f.__name__: f for f in (admission, bounds, ttl_cap, flood)}


if __name__ == "__main__":
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    print(json.dumps(asyncio.run(CASES[sys.argv[1]]())))
