"""Attack peer (runs in the ``lan`` namespace of tests/discovery/netns.py): fake boxes on mDNS and
the hostile HTTP servers they point at.

Every second it announces (unsolicited mDNS answers from port 5353, built with python-zeroconf's
records; see tests/discovery/fake_boxes.py) one fake box per entry of ``FAKES`` below: some point at
addresses no box may ask (loopback, the box's own, 0.0.0.0, link-local, multicast, broadcast, off the
subnet), the others at servers of this process on 10.77.16.0/20 (which ``lan`` answers for): they
redirect, answer 1 byte a second, wrong types, huge or endless bodies and headers, errors, or a
box's status under another box's name. Every 0.5 s it writes its counts (requests per server,
trickling connections open, bytes sent) to STATS as JSON.

usage: hostile_peers.py LAN_IP STATS_JSON TRICKLERS
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.discovery.fake_boxes import infos, packets

LAN, STATS, TRICKLERS = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])

#: Where no request may go (a counter listens at each, tests/attacks/counters.py).
FORBIDDEN = {
    "loopback": ("127.0.0.1", 18555),
    "own-address": ("10.77.0.1", 18556),
    "unspecified": ("0.0.0.0", 18558),
    "off-subnet": ("10.99.0.1", 18557),
    "link-local": ("169.254.1.1", 18559),
    "multicast": ("224.0.0.251", 18080),
    "broadcast": ("10.77.255.255", 18080),
}
_BOX_DOC = {"version": "0.9", "state": "running", "backend": "cpu", "uptime_s": 5.0, "model": "m"}


def _http(code: int, body: bytes, extra: str = "") -> bytes:
    head = f"HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    return head.encode() + body


#: name -> (port, what the server answers); each is announced at its own address.
SERVERS: dict[str, tuple[int, bytes | str]] = {
    "redirect-302-loopback": (18601, _http(302, b"", "Location: http://127.0.0.1:18555/api/status\r\n")),
    "redirect-301-own": (18602, _http(301, b"", "Location: http://10.77.0.1:18556/api/status\r\n")),
    "redirect-307-offsubnet": (18603, _http(307, b"", "Location: http://10.99.0.1:18557/api/status\r\n")),
    "redirect-308-linklocal": (18604, _http(308, b"", "Location: http://169.254.1.1:18559/api/status\r\n")),
    "pipeline-list": (18620, _http(200, b'{"pipeline": [1, 2]}')),
    "wrong-types": (
        18621,
        _http(
            200,
            b'{"state": 5, "version": ["x"], "backend": {"a": 1}, "uptime_s": "1", "instance": 7,'
            b' "pipeline": {"fps": "NaN", "people": true}}',
        ),
    ),
    "json-list": (18622, _http(200, b"[1, 2, 3]")),
    "json-string": (18623, _http(200, b'"a string"')),
    "huge-strings": (
        18624,
        _http(200, json.dumps({**_BOX_DOC, "state": "x" * 30000, "backend": "\u202e\x07" * 9000}).encode()),
    ),
    "deep-nesting": (18625, _http(200, b"[" * 30000 + b"]" * 30000)),
    "not-json": (18626, _http(200, b"{'state': running")),
    "error-500": (18627, _http(500, b"Traceback (most recent call last): ...")),
    "huge-body": (18628, "huge"),
    "huge-chunked": (18629, "chunked"),
    "endless-headers": (18630, "headers"),
    "endless-body": (18631, "endless"),
    "another-box": (18632, _http(200, json.dumps({**_BOX_DOC, "instance": "stage-right (1234)"}).encode())),
}
TRICKLE_PORT = 18610

stats: dict[str, object] = {"requests": {}, "trickling_open": 0, "trickle_requests": 0, "bytes_sent": {}}


def _count(name: str, sent: int = 0) -> None:
    req: dict[str, int] = stats["requests"]  # type: ignore[assignment]
    out: dict[str, int] = stats["bytes_sent"]  # type: ignore[assignment]
    req[name] = req.get(name, 0) + (0 if sent else 1)
    out[name] = out.get(name, 0) + sent


async def _serve(name: str, answer: bytes | str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    _count(name)
    try:
        await reader.readuntil(b"\r\n\r\n")
        if isinstance(answer, bytes):
            writer.write(answer)
            _count(name, len(answer))
        else:  # stream without end until the box hangs up
            if answer == "huge":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n")
            elif answer == "chunked":
                writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            elif answer == "headers":
                writer.write(b"HTTP/1.1 200 OK\r\n")
            else:
                writer.write(b"HTTP/1.1 200 OK\r\n\r\n")
            piece = {
                "huge": b" " * 16384,
                "chunked": b"4000\r\n" + b" " * 16384 + b"\r\n",
                "headers": b"X-Filler: " + b"a" * 16000 + b"\r\n",
                "endless": b"[" + b"0," * 8000,
            }[answer]
            for _ in range(64 * 1024):  # 1 GB at most
                writer.write(piece)
                _count(name, len(piece))
                await writer.drain()
        await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def _trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A status document at 1 byte a second; the connection counts as open until the box hangs up."""
    stats["trickle_requests"] = int(stats["trickle_requests"]) + 1  # type: ignore[call-overload]
    stats["trickling_open"] = int(stats["trickling_open"]) + 1  # type: ignore[call-overload]

    async def drip() -> None:
        for byte in _http(200, b" " * 100000 + json.dumps(_BOX_DOC).encode()):
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(1.0)

    dripping = asyncio.get_running_loop().create_task(drip())
    try:
        while await reader.read(4096):  # the request, then nothing until the box hangs up
            pass
    except ConnectionError:
        pass
    finally:
        stats["trickling_open"] = int(stats["trickling_open"]) - 1  # type: ignore[call-overload]
        dripping.cancel()
        writer.close()


def _announcements() -> list[bytes]:
    fakes = []
    for name, (address, port) in FORBIDDEN.items():
        fakes += infos(1, f"bad-{name}", address, port, 4500)
    for i, (name, (port, _)) in enumerate(SERVERS.items()):
        fakes += infos(1, f"hostile-{name}", f"10.77.16.{i + 1}", port, 4500)
    fakes += infos(TRICKLERS, "trickle", "10.77.17.1+", TRICKLE_PORT, 4500)
    return packets(fakes)


async def main() -> None:
    for name, (port, answer) in SERVERS.items():
        await asyncio.start_server(lambda r, w, n=name, a=answer: _serve(n, a, r, w), "0.0.0.0", port)
    await asyncio.start_server(_trickle, "0.0.0.0", TRICKLE_PORT, backlog=512)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(LAN))
    sock.bind((LAN, 5353))
    data = _announcements()
    tick = 0
    while True:
        if tick % 2 == 0:
            for packet in data:
                sock.sendto(packet, ("224.0.0.251", 5353))
        await asyncio.to_thread(STATS.write_text, json.dumps(stats))
        tick += 1
        await asyncio.sleep(0.5)


asyncio.run(main())
