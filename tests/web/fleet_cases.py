"""Fleet scenarios, run by tests/web/test_fleet.py inside a private network namespace
(``unshare --net``) where all of 10.88.0.0/16 is local: ``Fleet`` asks real servers of this process
at those addresses (it refuses loopback peers, so it could not be tested on 127.0.0.1). The only
double is the ``Control``, which hands the fleet a list of peers as discovery would. Prints one
JSON object.
usage: fleet_cases.py CASE
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from appliance.core.status import Peer
from appliance.web import fleet as fleet_module
from appliance.web.fleet import Fleet

BOX_DOC = {"version": "1.0", "state": "running", "backend": "cpu", "uptime_s": 3.0, "pipeline": {"fps": 5.0}}


class Peers:
    """The part of ``Control`` the fleet uses: the peers discovery lists (changeable by the case)."""

    def __init__(self, peers: list[Peer]) -> None:
        self.list = peers

    def peers(self) -> list[Peer]:
        return list(self.list)


class Server:
    """A TCP server on 0.0.0.0:``port`` counting connections and open ones; ``answer(n)`` is the
    coroutine body for the n-th connection."""

    def __init__(self, port: int, answer: Any) -> None:
        self.port, self.answer = port, answer
        self.connections = 0
        self.open = 0

    async def start(self) -> Server:
        await asyncio.start_server(self._serve, "0.0.0.0", self.port, backlog=1024)
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        try:
            await reader.readuntil(b"\r\n\r\n")
            answering = asyncio.get_running_loop().create_task(self.answer(self.connections, writer))
            hangup = asyncio.get_running_loop().create_task(reader.read(1))  # the client closing
            await asyncio.wait([answering, hangup], return_when=asyncio.FIRST_COMPLETED)
            if answering.done():
                await writer.drain()
            for task in (answering, hangup):
                task.cancel()
            await asyncio.gather(answering, hangup, return_exceptions=True)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.open -= 1
            writer.close()


def ok(doc: Any, delay: float = 0.0) -> Any:
    body = json.dumps(doc).encode()

    async def answer(_n: int, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(delay)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    return answer


async def trickle(_n: int, writer: asyncio.StreamWriter) -> None:
    for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b" " * 100000:
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(1.0)


async def error_500(_n: int, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n")


async def closed_after(seconds: float, server: Server) -> float | None:
    """Seconds until ``server`` has no connection open (None: still open after ``seconds``)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        if server.open == 0:
            return time.monotonic() - t0
        await asyncio.sleep(0.01)
    return None


async def dedupe() -> dict[str, Any]:
    """20 names at one address and port, 5 pages asking at once: one request."""
    server = await Server(18701, ok({**BOX_DOC}, delay=0.3)).start()
    peers = Peers([Peer(f"box-{i:02d}", "10.88.1.1", 18701, {}) for i in range(20)])
    fleet = Fleet(peers)  # type: ignore[arg-type]
    lists = await asyncio.gather(*(fleet.entries() for _ in range(5)))
    again = await fleet.entries()  # within CACHE_SECONDS: remembered
    return {
        "connections": server.connections,
        "states": sorted({e["state"] for entries in lists for e in entries}),
        "sizes": [len(entries) for entries in lists],
        "verified": all(e["verified"] for e in again),
        "connections_after_again": server.connections,
    }


async def backoff() -> dict[str, Any]:
    """A failing peer is asked again only after its back-off, which doubles."""
    fleet_module.RETRY_FIRST = 0.4
    server = await Server(18702, error_500).start()
    fleet = Fleet(Peers([Peer("broken", "10.88.1.2", 18702, {})]))  # type: ignore[arg-type]
    times = []
    t0 = time.monotonic()
    seen = 0
    while time.monotonic() - t0 < 3.5:
        entries = await fleet.entries()
        if server.connections > seen:
            seen = server.connections
            times.append(round(time.monotonic() - t0, 2))
        await asyncio.sleep(0.02)
    return {"connections": server.connections, "times": times, "last": entries[0]}


async def close() -> dict[str, Any]:
    """``close()`` while a trickling peer is asked: at once, the connection closed."""
    server = await Server(18703, trickle).start()
    fleet = Fleet(Peers([Peer("slow", "10.88.1.3", 18703, {})]))  # type: ignore[arg-type]
    asking = asyncio.get_running_loop().create_task(fleet.entries())
    while server.open == 0:  # noqa: ASYNC110 - polling what another side does
        await asyncio.sleep(0.01)
    t0 = time.monotonic()
    await fleet.close()
    close_s = time.monotonic() - t0
    await asking
    entries_s = time.monotonic() - t0
    later = await fleet.entries()
    return {
        "close_s": close_s,
        "entries_done_s": entries_s,
        "connection_closed_s": await closed_after(2.0, server),
        "connections_after": server.connections,
        "later_state": later[0]["state"],
    }


async def discovery_closed() -> dict[str, Any]:
    """Discovery lists no peer any more (closed at shutdown): a waiting ``entries()`` returns, and
    the fetches under way are cancelled."""
    server = await Server(18704, trickle).start()
    peers = Peers([Peer(f"slow-{i}", f"10.88.2.{i + 1}", 18704, {}) for i in range(4)])
    fleet = Fleet(peers)  # type: ignore[arg-type]
    asking = asyncio.get_running_loop().create_task(fleet.entries())
    while server.open < 4:  # noqa: ASYNC110 - polling what another side does
        await asyncio.sleep(0.01)
    t0 = time.monotonic()
    peers.list = []
    entries = await asking
    return {
        "entries_s": time.monotonic() - t0,
        "entries": entries,
        "connections_closed_s": await closed_after(2.0, server),
    }


async def ranking() -> dict[str, Any]:
    """300 fakes that sort first by name (answering garbage, an error, or nothing) and one box: the
    box is listed first; at most MAX_ENTRIES entries; answered within the wait."""
    garbage = await Server(18705, ok({"pipeline": [1, 2]})).start()
    await Server(18706, error_500).start()
    box = await Server(18707, ok({**BOX_DOC, "instance": "zz-real"})).start()
    fakes = [Peer(f"aa-{i:03d}", f"10.88.3.{i % 250 + 1}", 18705 + i % 2, {}) for i in range(200)]
    fakes += [Peer(f"ab-{i:03d}", f"10.88.4.{i + 1}", 18799, {}) for i in range(100)]  # refused
    peers = Peers([*fakes, Peer("zz-real", "10.88.5.1", 18707, {"version": "1.0"})])
    fleet = Fleet(peers)  # type: ignore[arg-type]
    t0 = time.monotonic()
    first = await fleet.entries()
    first_s = time.monotonic() - t0
    second = await fleet.entries()
    return {
        "first_s": first_s,
        "count": len(first),
        "first_name": first[0]["name"],
        "first_verified": first[0]["verified"],
        "others_verified": sum(e["verified"] for e in second[1:]),
        "bytes": len(json.dumps(first)),
        "garbage_connections": garbage.connections,
        "box_connections": box.connections,
    }


async def box_goes_away() -> dict[str, Any]:
    """A box that answered stays listed among the boxes, as unreachable, when it stops answering."""
    fleet_module.CACHE_SECONDS = 0.1
    server = await Server(18708, ok({**BOX_DOC, "instance": "gone"})).start()
    peers = Peers([Peer("aa-fake", "10.88.6.2", 18709, {}), Peer("gone", "10.88.6.1", 18708, {})])
    fleet = Fleet(peers)  # type: ignore[arg-type]
    before = await fleet.entries()
    server.answer = error_500
    await asyncio.sleep(0.2)
    after = await fleet.entries()
    return {"before": before, "after": after}


CASES = {f.__name__: f for f in (dedupe, backoff, close, discovery_closed, ranking, box_goes_away)}


if __name__ == "__main__":
    for args in (["link", "set", "lo", "up"], ["route", "add", "local", "10.88.0.0/16", "dev", "lo"]):
        subprocess.run(["ip", *args], check=True)
    print(json.dumps(asyncio.run(CASES[sys.argv[1]]())))
