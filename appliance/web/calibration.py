"""One click on a hub's page: the calibration correction the hub offers for one of its boxes applied
to that box's floor calibration (``POST /api/hub/calibration/apply``).

The hub's owner asks, naming the box (as the hub's status names it), the correction's walk and that
box's access token. The hub then, on the event loop:

1. takes the correction it offers for that box *now* (``Reading.status().hub``): refused (409)
   unless it comes from the walk named and that walk was never applied by this hub (a correction
   is applied at most once: a second click, or a stale page, changes nothing);
2. finds the box's HTTP port: from mDNS (the peer of that name at that address), else, for a box
   named ``HOST:CONTROL_PORT``, by asking the box itself over its control port
   (``/posenet/discover``, answered by ``/posenet/here ... http_port``; ``DISCOVER_TRIES`` tries of
   ``DISCOVER_WAIT`` seconds);
3. reads the box's floor section (``GET /api/config``) and moves its four floor marks by the
   correction (``appliance.pose.calibrate.corrected``: rotated about the origin, then shifted;
   metres, (x, y)); the picture marks stay as they are;
4. writes the section back (``PATCH /api/config`` with ``Authorization: Bearer <token>``; the box
   validates it as always) and, on success, starts that box's walk over (``Commanding.restart_walk``:
   the moments measured with the old calibration no longer fit).

Nothing is written to the box unless every step before succeeded. Bounded like the fleet's relay
(``appliance.web.fleet.request``: sizes, ``RELAY_DEADLINE`` seconds a request, no redirects), one
apply at a time per box, at most ``MAX_APPLIED`` walks remembered. The token goes in that one
request's header only: never stored, never logged, never in an answer.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import deque
from dataclasses import dataclass
from typing import Any

from appliance.core.facade import Steering
from appliance.discovery.peers import clean_text
from appliance.output.osc.wire import message, parse_packet
from appliance.pose.calibrate import Correction, corrected
from appliance.web.fleet import FetchError, get_json, request
from appliance.web.models import HubApplied, HubApply
from appliance.web.relay import RELAY_DEADLINE, answer_line

__all__ = ["DISCOVER_TRIES", "DISCOVER_WAIT", "MAX_APPLIED", "Calibrations", "Refused", "ask_http_port"]

#: Seconds to wait for a box's ``/posenet/here``, and the tries (a datagram may be lost).
DISCOVER_WAIT, DISCOVER_TRIES = 0.5, 3
#: Walks remembered as applied (their corrections are refused from then on).
MAX_APPLIED = 256


@dataclass(frozen=True)
class Refused(Exception):
    """Why an apply was refused, as the answer says it: HTTP ``status``, the field at fault, one line."""

    status: int
    field: str
    msg: str


class Calibrations:
    """The hub's applies (event loop only): the boxes being changed, the walks applied."""

    def __init__(self, control: Steering) -> None:
        self.control = control
        self._busy: set[str] = set()
        self._applied: deque[int] = deque(maxlen=MAX_APPLIED)

    async def apply(self, order: HubApply) -> HubApplied:
        """Apply the correction offered for ``order.box`` from walk ``order.walk`` (module docstring).

        Raises:
            Refused: nothing changed on the box (or the box's own refusal, relayed).
        """
        self._offered(order)
        if order.box in self._busy:
            raise Refused(409, "box", f"{order.box}: an apply to this box is under way")
        self._busy.add(order.box)
        try:
            return await self._apply(order)
        finally:
            self._busy.discard(order.box)

    async def _apply(self, order: HubApply) -> HubApplied:
        address, port = await self._where(order.box)
        image, before = await self._floor(order.box, address, port)
        c = self._offered(order)  # again: still offered, still not applied, after the waits
        after = [[round(v, 4) for v in p] for p in corrected(before, c.degrees, c.dx, c.dy)]
        body = json.dumps({"floor": {"image": image, "floor": after}}).encode()
        code, answer = await self._ask(order.box, address, port, "PATCH", body, order.token)
        if code != 200:
            raise _refusal(order.box, code, answer, order.token)
        self._applied.append(c.walk)
        self.control.restart_walk(order.box)
        return HubApplied(
            box=order.box,
            walk=c.walk,
            degrees=c.degrees,
            dx=c.dx,
            dy=c.dy,
            before=before,
            floor=after,
            message=f"applied to {order.box}: its floor turned {c.degrees:.2f} degrees and shifted "
            f"({c.dx:.3f}, {c.dy:.3f}) m; walk through the overlap again to check",
        )

    def _offered(self, order: HubApply) -> Correction:
        """The correction offered for the box now, if it comes from the walk named and was never applied."""
        report = self.control.status().hub
        if report is None:
            raise Refused(409, "box", "this box is not a hub")
        found = next((c for c in report.corrections if c.box == order.box), None)
        if order.walk in self._applied:
            raise Refused(409, "walk", f"{order.box}: this correction (walk {order.walk}) was applied already")
        if found is None:
            raise Refused(409, "box", f"{order.box}: no correction offered now (walk through the overlap)")
        if found.walk != order.walk:
            raise Refused(409, "walk", f"{order.box}: the correction offered is from another walk now: look again")
        return found

    async def _where(self, box: str) -> tuple[str, int]:
        """The box's address (the hub's link) and HTTP port (mDNS, else the box says)."""
        report = self.control.status().hub
        state = next((b for b in report.boxes if b.name == box), None) if report is not None else None
        if state is None:
            raise Refused(409, "box", f"{box}: not a box this hub follows now")
        for peer in self.control.peers():
            if peer.name == box and peer.address == state.address:
                return state.address, peer.http_port
        _, _, control = box.rpartition(":")
        if not control.isdigit() or not 1 <= int(control) <= 65535:
            raise Refused(502, "box", f"{box}: its HTTP port is not known (not found on mDNS)")
        try:
            http_port = await ask_http_port(state.address, int(control))
        except (FetchError, OSError) as exc:
            raise Refused(
                502, "box", f"{box} unreachable: did not say its HTTP port ({exc}); nothing changed"
            ) from None
        return state.address, http_port

    async def _floor(self, box: str, address: str, port: int) -> tuple[list[list[float]], list[list[float]]]:
        """The box's floor calibration now: its four picture marks and four floor marks."""
        try:
            async with asyncio.timeout(RELAY_DEADLINE):
                doc = await get_json(address, port, "/api/config")
        except TimeoutError:
            raise Refused(
                502, "box", f"{box} unreachable: no answer within {RELAY_DEADLINE:g} s; nothing changed"
            ) from None
        except (FetchError, OSError) as exc:
            raise Refused(502, "box", f"{box} unreachable at {address}:{port}: {_why(exc)}") from None
        section = doc.get("floor") if isinstance(doc, dict) else None
        image = _marks(section.get("image")) if isinstance(section, dict) else None
        floor = _marks(section.get("floor")) if isinstance(section, dict) else None
        if image is None or floor is None:
            raise Refused(409, "box", f"{box} has no floor calibration (four marks): calibrate it first")
        return image, floor

    async def _ask(self, box: str, address: str, port: int, method: str, body: bytes, token: str) -> tuple[int, bytes]:
        try:
            async with asyncio.timeout(RELAY_DEADLINE):
                return await request(address, port, method, "/api/config", body, token)
        except TimeoutError:
            raise Refused(502, "box", f"{box}: no answer within {RELAY_DEADLINE:g} s") from None
        except (FetchError, OSError) as exc:
            raise Refused(502, "box", f"{box} unreachable at {address}:{port}: {_why(exc)}") from None


def _refusal(box: str, code: int, answer: bytes, token: str) -> Refused:
    """The box's refusal of the new floor, said for the hub's owner (nothing changed there; the token,
    should the box echo it, left out)."""
    line = answer_line(code, answer)
    line = clean_text(line.replace(token, "(the token)") if token else line, 300)
    if code == 401:
        return Refused(403, "token", f"{box} refused the token (missing or wrong); nothing changed")
    if code == 403 and "authorization" in line:
        return Refused(
            403, "token", f"{box} has no owner token, so it takes no change from another computer: claim it first"
        )
    if 400 <= code < 500:
        return Refused(409, "box", f"{box} refused the corrected floor ({line}); nothing changed")
    return Refused(502, "box", f"{box} answered {line}")


def _why(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _marks(value: Any) -> list[list[float]] | None:
    """Four [x, y] marks of finite numbers, or None."""
    if not isinstance(value, list) or len(value) != 4:
        return None
    out = []
    for p in value:
        ok = isinstance(p, list) and len(p) == 2
        if not ok or not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in p):
            return None
        out.append([float(p[0]), float(p[1])])
    return out


async def ask_http_port(address: str, control_port: int) -> int:
    """The HTTP port the box at ``address`` says it has, asked over its OSC control port
    (``/posenet/discover``; only a ``/posenet/here`` from ``address`` and that port counts: another
    program on the box's address cannot name its own port to be sent the token).

    Raises:
        FetchError: no answer, or its HTTP API is off.
        OSError: the datagram could not be sent.
    """
    loop = asyncio.get_running_loop()
    said: asyncio.Future[int] = loop.create_future()

    class Here(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
            if (addr[0], addr[1]) != (address, control_port) or said.done() or len(data) > 1024:
                return
            try:
                messages = parse_packet(data)
            except ValueError:
                return
            for name, args in messages:
                port = args[3] if name == "/posenet/here" and len(args) >= 5 else None
                if isinstance(port, int) and 0 <= port <= 65535:
                    said.set_result(port)
                    return

    transport, _ = await loop.create_datagram_endpoint(Here, local_addr=("0.0.0.0", 0))
    try:
        for _ in range(DISCOVER_TRIES):
            transport.sendto(message("/posenet/discover", "", []), (address, control_port))
            try:
                async with asyncio.timeout(DISCOVER_WAIT):
                    port = await asyncio.shield(said)
            except TimeoutError:
                continue
            if port == 0:
                raise FetchError("its HTTP API is off")
            return port
        raise FetchError(f"no /posenet/here within {DISCOVER_TRIES * DISCOVER_WAIT:g} s")
    finally:
        transport.close()
