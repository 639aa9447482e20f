"""The hub's apply path (``appliance.web.calibration``) against a small real HTTP box on loopback
(asyncio, answering ``GET /api/config`` and ``PATCH /api/config`` as told): the box's HTTP port
from mDNS, the floor marks moved by the offered correction (metres, (x, y)), the box's refusals
said for people, unreachable boxes, stale or repeated walks, one apply at a time per box. The
correction is injected in the hub's report (a real walk: tests/hub/test_hub_apply.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from appliance.core.app import Application
from appliance.core.status import Peer
from appliance.output.osc.wire import message
from appliance.pose.calibrate import Correction, corrected
from appliance.pose.fusion import BoxState, HubReport
from appliance.web.calibration import Calibrations, Refused
from appliance.web.models import HubApply
from appliance.web.relay import RELAY_DEADLINE
from appliance.web.server import create_app
from tests.support.net import free_tcp_port
from tests.support.owner import OWNER, TOKEN, VISITOR, change

IMAGE = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
FLOOR = [[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0]]
CORRECTION = Correction("b", "a", 0.5, -0.25, 90.0, 0.01, 40, walk=7)


@dataclass
class Box:
    """What the fake box answers, and what it was sent."""

    patch: tuple[int, dict[str, Any]] = (200, {})
    floor: Any = field(default_factory=lambda: {"image": IMAGE, "floor": FLOOR})
    delay: float = 0.0
    sent: list[tuple[str, str, bytes]] = field(default_factory=list)  # (method, authorization, body)


@asynccontextmanager
async def serving(box: Box, host: str = "127.0.0.1") -> AsyncIterator[int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:] if h)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        method = head[0].split()[0]
        box.sent.append((method, headers.get("authorization", ""), body))
        await asyncio.sleep(box.delay)
        code, doc = (200, {"floor": box.floor}) if method == "GET" else box.patch
        data = json.dumps(doc).encode()
        writer.write(f"HTTP/1.1 {code} X\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
        await writer.drain()
        writer.close()

    port = free_tcp_port()
    server = await asyncio.start_server(handle, host, port)
    try:
        yield port
    finally:
        server.close()


class Hub:
    """The facade as the apply path reads it: the hub's report, the peers; the walks restarted."""

    def __init__(self, http_port: int, report: HubReport | None = None) -> None:
        box = BoxState("b", "127.0.0.1", True, True, 1.0, 1, 0)
        self.report = report if report is not None else HubReport((box,), (CORRECTION,))
        self.peers_seen = [Peer("b", "127.0.0.1", http_port)]
        self.restarted: list[str] = []

    def status(self) -> Any:
        return type("S", (), {"hub": self.report})()

    def peers(self) -> list[Peer]:
        return self.peers_seen

    def restart_walk(self, box: str) -> None:
        self.restarted.append(box)


def _order(**kw: Any) -> HubApply:
    return HubApply.model_validate({"box": "b", "walk": 7, "token": "box-token-0123", **kw})


def test_the_floor_marks_are_moved_by_the_correction_once_with_the_token() -> None:
    async def run() -> None:
        box = Box()
        async with serving(box) as port:
            hub = Hub(port)
            calibrations = Calibrations(hub)  # type: ignore[arg-type]
            done = await calibrations.apply(_order())
            expected = [[round(v, 4) for v in p] for p in corrected(FLOOR, 90.0, 0.5, -0.25)]
            assert done.floor == expected and done.before == FLOOR and done.walk == 7
            assert done.floor == [[0.5, -0.25], [0.5, 1.75], [-1.5, 1.75], [-1.5, -0.25]]  # (-y, x) + (0.5, -0.25)
            (m1, auth1, _), (m2, auth2, body) = box.sent
            assert (m1, auth1, m2, auth2) == ("GET", "", "PATCH", "Bearer box-token-0123")
            assert json.loads(body) == {"floor": {"image": IMAGE, "floor": done.floor}}
            assert hub.restarted == ["b"]
            with pytest.raises(Refused) as again:
                await calibrations.apply(_order())
            assert (again.value.status, again.value.field) == (409, "walk") and len(box.sent) == 2

    asyncio.run(run())


@pytest.mark.parametrize(
    ("answer", "status", "field", "words"),
    [
        ((401, {"detail": [{"loc": ["header", "authorization"], "msg": "missing or wrong access token"}]}), 403,
         "token", "refused the token"),
        ((403, {"detail": [{"loc": ["header", "authorization"], "msg": "this box has no owner yet"}]}), 403,
         "token", "no owner token"),
        ((422, {"detail": [{"loc": ["body", "floor"], "msg": "four points each"}]}), 409, "box",
         "floor: four points each"),
        ((500, {}), 502, "box", "answered HTTP 500"),
    ],
)  # fmt: skip
def test_the_box_refusing_is_said_for_people_and_no_walk_restarts(
    answer: tuple[int, dict[str, Any]], status: int, field: str, words: str
) -> None:
    async def run() -> None:
        async with serving(Box(patch=answer)) as port:
            hub = Hub(port)
            with pytest.raises(Refused) as refused:
                await Calibrations(hub).apply(_order())  # type: ignore[arg-type]
            assert (refused.value.status, refused.value.field) == (status, field)
            assert words in refused.value.msg and "box-token-0123" not in refused.value.msg
            assert hub.restarted == []

    asyncio.run(run())


def test_nothing_is_sent_for_a_stale_walk_an_uncalibrated_or_unreachable_box_or_a_box_busy() -> None:
    async def run() -> None:
        box = Box()
        async with serving(box) as port:
            cases = [(_order(walk=6), 409, "walk"), (_order(box="c"), 409, "box")]
            for order, status, field_ in cases:
                with pytest.raises(Refused) as refused:
                    await Calibrations(Hub(port)).apply(order)  # type: ignore[arg-type]
                assert (refused.value.status, refused.value.field) == (status, field_), refused.value
            with pytest.raises(Refused) as refused:
                await Calibrations(Hub(port, HubReport())).apply(_order())  # type: ignore[arg-type]
            assert "no correction offered" in refused.value.msg
            assert box.sent == []
            box.floor = {"image": [], "floor": []}
            with pytest.raises(Refused) as refused:
                await Calibrations(Hub(port)).apply(_order())  # type: ignore[arg-type]
            assert refused.value.status == 409 and "no floor calibration" in refused.value.msg
            assert [m for m, _, _ in box.sent] == ["GET"]
            box.floor, box.delay = {"image": IMAGE, "floor": FLOOR}, 0.3
            calibrations = Calibrations(Hub(port))  # type: ignore[arg-type]
            first = asyncio.create_task(calibrations.apply(_order()))
            await asyncio.sleep(0.05)
            with pytest.raises(Refused) as refused:
                await calibrations.apply(_order())
            assert "under way" in refused.value.msg
            assert (await first).walk == 7
        gone = Hub(port)  # the box's server closed: unreachable
        with pytest.raises(Refused) as refused:
            await Calibrations(gone).apply(_order())  # type: ignore[arg-type]
        assert refused.value.status == 502 and "unreachable" in refused.value.msg and gone.restarted == []

    asyncio.run(run())


def test_a_box_named_host_and_control_port_that_never_answers_is_unreachable() -> None:
    async def run() -> None:
        state = BoxState("127.0.0.1:9", "127.0.0.1", True, True, 1.0, 1, 0)
        correction = Correction("127.0.0.1:9", "a", 0.0, 0.0, 1.0, 0.01, 40, walk=3)
        hub = Hub(1, HubReport((state,), (correction,)))
        with pytest.raises(Refused) as refused:
            await Calibrations(hub).apply(_order(box="127.0.0.1:9", walk=3))  # type: ignore[arg-type]
        assert refused.value.status == 502 and "did not say its HTTP port" in refused.value.msg

    asyncio.run(run())


def test_the_route_is_the_owners_names_the_field_at_fault_never_echoes_the_token_and_needs_a_hub(
    running: Application, client_for: Callable[..., TestClient]
) -> None:
    api = create_app(running)
    change(running, http={"token": TOKEN})
    order = {"box": "b", "walk": 1, "token": "box-token-0123"}
    r = client_for(api, VISITOR).post("/api/hub/calibration/apply", json=order)
    assert r.status_code == 401, r.text
    owner = client_for(api, OWNER)
    r = owner.post("/api/hub/calibration/apply", json={**order, "token": " secret-with-space", "walk": 0})
    assert r.status_code == 422 and "secret-with-space" not in r.text
    assert {tuple(d["loc"]) for d in r.json()["detail"]} == {("body", "token"), ("body", "walk")}
    r = owner.post("/api/hub/calibration/apply", json=order)  # this box runs images, not a hub
    assert r.status_code == 409 and r.json()["detail"][0]["msg"] == "this box is not a hub", r.text


def test_a_forged_here_from_another_port_on_the_box_address_is_not_sent_the_token() -> None:
    """A box named ``HOST:CONTROL_PORT`` says its HTTP port over its control port. Another program on
    the box's address (a raw socket elsewhere forges the same) answers the hub's ``/posenet/discover``
    first, naming its own HTTP port: only the box's control port is believed, so the token goes to
    the box, never to that port."""

    async def run() -> None:
        real, thief = Box(), Box()
        async with serving(real) as real_http, serving(thief) as thief_http:
            loop = asyncio.get_running_loop()
            forger, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0))

            class Control(asyncio.DatagramProtocol):
                def connection_made(self, transport: asyncio.BaseTransport) -> None:
                    self.transport: Any = transport

                def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                    port = self.transport.get_extra_info("sockname")[1]
                    forger.sendto(message("/posenet/here", "ssiii", ["b", "127.0.0.1", port, thief_http, 0]), addr)
                    here = message("/posenet/here", "ssiii", ["b", "127.0.0.1", port, real_http, 0])
                    loop.call_later(0.05, self.transport.sendto, here, addr)

            control, _ = await loop.create_datagram_endpoint(Control, local_addr=("127.0.0.1", 0))
            name = f"127.0.0.1:{control.get_extra_info('sockname')[1]}"
            state = BoxState(name, "127.0.0.1", True, True, 1.0, 1, 0)
            hub = Hub(1, HubReport((state,), (Correction(name, "a", 0.5, -0.25, 90.0, 0.01, 40, walk=7),)))
            hub.peers_seen = []  # not on mDNS: the box is asked
            try:
                await Calibrations(hub).apply(_order(box=name))  # type: ignore[arg-type]
            finally:
                control.close()
                forger.close()
        print(f"the forger's HTTP port was sent {len(thief.sent)} requests, the box {len(real.sent)}")
        assert thief.sent == []
        assert [(m, a) for m, a, _ in real.sent] == [("GET", ""), ("PATCH", "Bearer box-token-0123")]

    asyncio.run(run())


def _ok(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


HOSTILE = {  # what a fake box answers GET /api/config (or, "patch": the PATCH) with: raw HTTP
    "deep": b"HTTP/1.1 200 OK\r\nContent-Length: 60000\r\n\r\n" + b"[" * 60000,
    "endless": b"HTTP/1.1 200 OK\r\n\r\n" + b'{"floor": "' + b"x" * 200_000,
    "endless head": b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 20_000,
    "wrong types": _ok(b'{"floor": {"image": [[0, 0], "a", 1, null], "floor": [true]}}'),
    "not finite": _ok(b'{"floor": {"image": [[0, 0], [1, 0], [1, 1], [0, 1]], "floor": [[NaN, 0], [0, 0]]}}'),
    "redirect": b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.2:8080/api/config\r\nContent-Length: 0\r\n\r\n",
    "drip": b"",  # one byte a second
    "patch echoes the token": b"",
}


@pytest.mark.parametrize("answer", list(HOSTILE))
def test_a_fake_boxs_answer_is_bounded_and_never_holds_the_loop_nor_shows_the_token(answer: str) -> None:
    """A box answering the hub's GET or PATCH with nesting 60,000 deep, an endless body or head,
    wrong types, NaN, a redirect, one byte a second, or the token echoed back: refused (409 or 502)
    within the relay's deadline, the hub's event loop never held more than 50 ms, no token in the
    line shown, nothing written when the read failed."""

    async def run() -> tuple[Refused, float, float, list[bytes]]:
        asked: list[bytes] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                with contextlib.suppress(asyncio.CancelledError):  # (cancelled when the test ends)
                    await answering(reader, writer)
            finally:
                writer.transport.abort()

        async def answering(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await reader.readuntil(b"\r\n\r\n")
            asked.append(head.split(b" ")[0])
            length = next(
                (int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")), 0
            )
            await reader.readexactly(length)
            with contextlib.suppress(OSError):
                if answer == "drip":
                    for c in b"HTTP/1.1 200 OK\r\n\r\n{}":
                        writer.write(bytes([c]))
                        await writer.drain()
                        await asyncio.sleep(1)
                elif answer == "patch echoes the token":
                    if head.startswith(b"GET"):
                        doc = json.dumps({"floor": {"image": IMAGE, "floor": FLOOR}}).encode()
                        writer.write(_ok(doc))
                    else:
                        said = [{"loc": ["body", head.decode()], "msg": head.decode(), "type": "x"}]
                        doc = json.dumps({"detail": said}).encode()
                        writer.write(b"HTTP/1.1 422 X\r\nContent-Length: %d\r\n\r\n%s" % (len(doc), doc))
                else:
                    writer.write(HOSTILE[answer])
                await writer.drain()
                await asyncio.sleep(5)

        port = free_tcp_port()
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        worst, running = 0.0, True

        async def ticker() -> None:
            nonlocal worst
            last = time.monotonic()
            while running:
                await asyncio.sleep(0.005)
                now = time.monotonic()
                worst, last = max(worst, now - last - 0.005), now

        with contextlib.suppress(Refused):  # once unmeasured: the process's first refusal under pytest
            await Calibrations(Hub(port)).apply(_order())  # type: ignore[arg-type]  # (timeout plugin) costs ~50 ms once
        asked.clear()
        tick = asyncio.ensure_future(ticker())
        started = time.monotonic()
        try:
            with pytest.raises(Refused) as refused:
                await Calibrations(Hub(port)).apply(_order())  # type: ignore[arg-type]
            took = time.monotonic() - started
        finally:
            running = False
            await tick
            server.close()
        return refused.value, took, worst, asked

    refusal, took, worst, asked = asyncio.run(run())
    print(f"{answer}: {refusal.status} {refusal.msg!r} in {took:.2f} s, the loop held {worst * 1000:.1f} ms at most")
    assert refusal.status in (409, 502) and took < 2 * RELAY_DEADLINE + 0.5 and worst < 0.05
    assert "box-token-0123" not in refusal.msg
    assert asked == ([b"GET", b"PATCH"] if answer == "patch echoes the token" else [b"GET"])


def test_an_mdns_record_naming_the_box_at_another_address_is_not_sent_the_token() -> None:
    """Anyone may announce the box's name on mDNS at their own address (and port): the hub asks only
    the peer of that name at the address it follows the box at."""

    async def run() -> None:
        real, thief = Box(), Box()
        async with serving(real) as real_http, serving(thief, "127.0.0.2") as thief_http:
            hub = Hub(real_http)
            hub.peers_seen = [Peer("b", "127.0.0.2", thief_http), Peer("b", "127.0.0.1", real_http)]
            await Calibrations(hub).apply(_order())  # type: ignore[arg-type]
            hub.peers_seen = [Peer("b", "127.0.0.2", thief_http)]  # only the forged record
            with pytest.raises(Refused) as refused:
                await Calibrations(hub).apply(_order())  # type: ignore[arg-type]
        assert thief.sent == [] and len(real.sent) == 2
        assert refused.value.status == 502 and "not found on mDNS" in refused.value.msg, refused.value

    asyncio.run(run())
