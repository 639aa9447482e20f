"""The fleet relay against a hostile box that this box lists as verified (a fake box on the venue
network answers its status like a box, so it is listed as one): whatever it answers to the relayed
order, the order's results come back, one per box, the genuine boxes' included."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from appliance.web.models import FleetBox, FleetOrder
from appliance.web.relay import relay

HOSTILE_ANSWERS = {
    "seconds as text": b'{"seconds": "soon"}',
    "seconds null": b'{"seconds": null}',
    "seconds an object": b'{"seconds": {"a": 1}}',
}


class Listed:
    """The part of ``Fleet`` the relay reads: the verified boxes it lists now."""

    def __init__(self, boxes: list[tuple[str, str, int]]) -> None:
        self.boxes = boxes

    async def entries(self) -> list[dict[str, Any]]:
        return [{"name": n, "address": a, "http_port": p, "verified": True} for n, a, p in self.boxes]


async def _box(host: str, answer: bytes) -> asyncio.Server:
    """A box that answers every request ``200`` with ``answer``."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(answer)}\r\n\r\n"
        writer.write(head.encode() + answer)
        await writer.drain()
        writer.close()

    return await asyncio.start_server(serve, host, 0)


@pytest.mark.parametrize("name", HOSTILE_ANSWERS)
def test_a_hostile_answer_to_identify_spoils_no_result(name: str) -> None:
    """Before: ``{"seconds": "soon"}`` (or null, or an object) raised ValueError or TypeError in the
    relay, so POST /api/fleet/apply failed with 500 and the owner lost the genuine box's result (it
    had blinked). After: the hostile box's line says "done", the genuine box's its seconds."""

    async def run() -> list[Any]:
        genuine = await _box("127.0.0.21", json.dumps({"seconds": 10.0}).encode())
        hostile = await _box("127.0.0.22", HOSTILE_ANSWERS[name])
        listed = [
            ("genuine", "127.0.0.21", genuine.sockets[0].getsockname()[1]),
            ("hostile", "127.0.0.22", hostile.sockets[0].getsockname()[1]),
        ]
        order = FleetOrder(
            action="identify",
            boxes=[FleetBox(name=n, address=a, http_port=p, token="a-token-of-12") for n, a, p in listed],
        )
        try:
            return await relay(Listed(listed), order)  # type: ignore[arg-type]
        finally:
            genuine.close()
            hostile.close()

    results = asyncio.run(run())
    assert [(r.name, r.status, r.message) for r in results] == [
        ("genuine", 200, "blinking for 10 s"),
        ("hostile", 200, "done"),
    ]
