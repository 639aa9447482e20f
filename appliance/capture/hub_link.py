"""One box as the hub sees it: its subscription over the box's OSC control port (the confirmed
handshake, renewed before the lease ends; ``hub.subscribe_key``, when set, as the request's last
argument) and its ``bundle`` stream assembled into whole frames. A box that refuses the subscription
(``/posenet/error``: a wrong or missing key, not its subnet ...) is asked again after a wait that
doubles (``REFUSED_SECONDS``), and its reason is kept (``refused``, at most 160 printable characters).

Everything a box (or anyone forging its address) sends is bounded: datagrams are parsed by
``wire.parse_packet`` (at most 256 messages, bundles nested at most 8 deep), a frame holds at most
``MAX_PEOPLE`` people, frame sizes are 1..8192, only the last ``RING`` frames are kept, at most
``MAX_FPS`` frames a second are taken, at most ``MAX_LEFT`` people leave in one frame, and only
datagrams from the box's own address count (the rest are counted and dropped); the box's replies
(``/posenet/listeners/*``, ``/posenet/error``) only from its control port, a confirmation is
answered only soon after a request and once per datagram (never more datagrams out than in), a lease
taken only soon after a request, and a
box silent for ``SILENT_SECONDS`` while its lease is believed in force is asked again (a forged
``added`` cannot hold back the renewal). A forger of the box's very address and port (a raw socket
on the LAN) can still say what the box says: its frames, clock and view. Keypoints arrive in 0..1
(the ``bundle`` format's default coordinates, order (x, y)); floor positions in metres. The floor
the box's picture sees (``/posenet/view/floor ,iff... n x y ...``, metres (x, y)) is taken with
3..``MAX_VIEW`` corners, every coordinate finite and within +-``VIEW_LIMIT`` m (else refused and
counted); the link keeps the latest, for ``VIEW_SECONDS``.
"""

from __future__ import annotations

import math
import socket
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from appliance.guards import RateLimit
from appliance.output.osc.wire import message, parse_packet
from appliance.pose.fusion import TUNING

__all__ = ["MAX_PEOPLE", "MAX_VIEW", "RING", "VIEW_LIMIT", "VIEW_SECONDS", "BoxFrame", "BoxLink"]

#: People in one box frame at most (a frame announcing more is dropped whole).
MAX_PEOPLE = 32
#: Frames kept per box for aligning by capture time.
RING = 8
#: Seconds between subscription requests until the box confirms one, and the renewal's share of the lease.
RETRY_SECONDS, RENEW_SHARE = 1.0, 1 / 3
#: Seconds a box's word on its clock (``/posenet/clock``, said once a second) counts.
CLOCK_SECONDS = 5.0
#: Seconds before asking a box that refused the subscription again: the first wait, doubled per refusal up to the last.
REFUSED_SECONDS = (2.0, 60.0)
#: Datagrams read from one box per call at most (the others wait in the socket: a flood cannot hold the hub).
BURST = 64
#: Whole frames a second taken from one box at most (a burst of 2 s allowed); the rest are dropped and
#: counted, so a box sending tiny frames as fast as it can cannot make the hub send as fast.
MAX_FPS = 120.0
#: Seconds without a whole frame, while the lease is believed in force, before asking again (a forged
#: ``/posenet/listeners/added`` cannot keep the hub from renewing a subscription the box ended).
SILENT_SECONDS = 3.0
#: Seconds after a request during which the box's confirmation is answered (one per datagram) and
#: its lease taken.
CONFIRM_SECONDS = 2.0
#: People leaving in one frame at most (more are dropped and counted: a frame never completed cannot grow).
MAX_LEFT = 2 * MAX_PEOPLE
#: Corners of a box's view on the floor at most (a box sends 3..5); metres a coordinate may be off
#: the origin at most (as the floor settings' marks); seconds a view is kept without a newer one.
MAX_VIEW, VIEW_LIMIT, VIEW_SECONDS = 8, 1000.0, 2.0


@dataclass(slots=True)
class BoxFrame:
    """One whole frame of a box: its index, size (w, h), capture time (Unix seconds on the box's
    clock), arrival (``time.monotonic()``), people as (id, score, keypoints (17, 3) in 0..1 (x, y,
    score)), floor positions by id (metres, (x, y)), the enter/leave events of the frame, and the
    floor its picture sees (corners, metres (x, y); empty when the frame did not say)."""

    index: int
    size: tuple[int, int]
    count: int
    t_wall: float
    arrived: float = 0.0
    people: list[tuple[int, float, NDArray[np.float32]]] = field(default_factory=list)
    floor: dict[int, tuple[float, float]] = field(default_factory=dict)
    left: list[int] = field(default_factory=list)
    view: tuple[tuple[float, float], ...] = ()


#: The box's answers to the hub's requests, taken only from its control port.
_REPLIES = ("/posenet/listeners/", "/posenet/error")


class BoxLink:
    """The hub's subscription to one box and its frames; driven by the hub's one thread."""

    def __init__(
        self, name: str, address: str, control_port: int, sock: socket.socket | None = None, keyed: bool = True
    ) -> None:
        self.name, self.address, self.control_port = name, address, control_port
        self.keyed = keyed  # given hub.subscribe_key: a box the owner named (one found on mDNS may be anyone's)
        self.sock = sock if sock is not None else socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        if sock is None:
            self.sock.bind(("0.0.0.0", 0))
        self.frames: deque[BoxFrame] = deque(maxlen=RING)
        self.delays: deque[float] = deque(maxlen=32)  # arrival minus capture, wall clock (s)
        self.lease_until = 0.0  # monotonic; 0: never confirmed
        self.last_frame = 0.0  # monotonic arrival of the newest whole frame
        self.created = time.monotonic()
        self.dropped = 0  # datagrams from elsewhere, malformed, or frames over the caps
        self.sends_floor = False
        self.finished = 0  # whole frames since the subscription began
        self.refused = ""  # the box's last refusal of the subscription ("" once it confirms one)
        self._wait = REFUSED_SECONDS[0]
        self._key = ""  # the subscribe key last given
        self._clock: tuple[bool, float, float] | None = None  # the box's word: synchronised, offset ms, when
        self._rate = RateLimit(MAX_FPS, 2 * MAX_FPS, size=1)
        self._next_add = 0.0
        self._asked = -math.inf  # monotonic: the last request sent
        self._confirm = False  # a confirmation may be answered (one per datagram, soon after a request)
        self._pending: BoxFrame | None = None
        self._last_index: int | None = None  # the newest finished frame's index
        self._view: tuple[float, tuple[tuple[float, float], ...]] = (0.0, ())  # (arrival, corners)

    @property
    def port(self) -> int:
        """The local port the box streams to."""
        return int(self.sock.getsockname()[1])

    def tick(self, now: float) -> None:
        """Ask for (or renew) the subscription when due: ``/posenet/listeners/add port bundle [key]``
        (``hub.subscribe_key``, to a ``keyed`` box only; a new key is given at once)."""
        key = TUNING.subscribe_key if self.keyed else ""
        if key != self._key:
            self._key, self._next_add, self._wait = key, now, REFUSED_SECONDS[0]
        silent = self.lease_until > now and now - max(self.last_frame, self._asked) > SILENT_SECONDS
        if now >= self._next_add or silent:
            args: list[int | float | str] = [self.port, "bundle", key] if key else [self.port, "bundle"]
            self._send(message("/posenet/listeners/add", "iss"[: len(args)], args))
            self._next_add = now + RETRY_SECONDS
            self._asked = now

    def _send(self, data: bytes) -> None:
        try:
            self.sock.sendto(data, (self.address, self.control_port))
        except OSError:
            return  # unreachable now: the next tick tries again

    def receive(self, now: float) -> list[BoxFrame]:
        """Read what arrived (at most ``BURST`` datagrams); the frames it completed."""
        done: list[BoxFrame] = []
        for _ in range(BURST):
            try:
                data, src = self.sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            if src[0] != self.address:
                self.dropped += 1
                continue
            try:
                messages = parse_packet(data)
            except ValueError:
                self.dropped += 1
                continue
            self._confirm = now - self._asked <= CONFIRM_SECONDS
            for address, args in messages:
                if address.startswith(_REPLIES) and src[1] != self.control_port:
                    self.dropped += 1  # the box's replies come from its control port
                    continue
                self._handle(address, args, now, done)
        return done

    def _handle(self, address: str, args: list[int | float | str], now: float, done: list[BoxFrame]) -> None:
        asked = now - self._asked <= CONFIRM_SECONDS  # a lease is taken only soon after a request
        try:
            if address == "/posenet/listeners/confirm" and args and isinstance(args[0], str):
                if self._confirm:  # one per datagram: forged confirmations are reflected, never multiplied
                    self._confirm = False
                    self._send(message("/posenet/listeners/confirm", "s", [args[0][:64]]))
            elif address == "/posenet/listeners/added" and len(args) >= 4 and args[1] == self.port and asked:
                lease = min(max(float(args[3]), 3.0), 3600.0)
                self.lease_until = now + lease
                self._next_add = now + lease * RENEW_SHARE
                self.refused, self._wait = "", REFUSED_SECONDS[0]
            elif address == "/posenet/error" and args and isinstance(args[0], str):
                self._refusal(args[0], now)
            elif address == "/posenet/clock" and len(args) == 2 and math.isfinite(offset := float(args[1])):
                self._clock = (bool(int(args[0])), max(-1e7, min(offset, 1e7)), now)
            elif address == "/posenet/frame":
                self._frame(args, now, done)
            elif address == "/posenet/person/pose":
                self._person(args, now, done)
            elif address == "/posenet/person/floor":
                self._floor(args, now, done)
            elif address == "/posenet/view/floor":
                self._floor_view(args, now)
            elif address == "/posenet/person/leave" and self._pending is not None and args:
                if len(self._pending.left) >= MAX_LEFT:
                    self.dropped += 1
                    return
                self._pending.left.append(int(args[0]))
        except (TypeError, ValueError, OverflowError):
            self.dropped += 1

    def _refusal(self, why: str, now: float) -> None:
        """The box refused a request: kept for the status; while no lease is in force the next request
        waits (2 s, doubling up to 60 s: a box backing off is not hammered). A lease in force keeps its
        renewal time (a forged refusal cannot make the hub miss it)."""
        self.refused = "".join(c if c.isprintable() else "?" for c in why[:160])
        if not self.keyed and "subscribe key" in why:
            self.refused += " (the hub gives its key only to boxes named with --box)"
        if self.lease_until <= now:
            self._next_add = now + self._wait
            self._wait = min(self._wait * 2, REFUSED_SECONDS[1])

    def _frame(self, args: list[int | float | str], now: float, done: list[BoxFrame]) -> None:
        if len(args) < 6:
            self.dropped += 1
            return
        index, w, h, count, sec, usec = (int(a) for a in args[:6])
        if not (0 < w <= 8192 and 0 < h <= 8192 and 0 <= count <= MAX_PEOPLE):
            self.dropped += 1
            return
        pending = self._pending
        if (pending.index if pending is not None else self._last_index) == index:
            return  # the header again, at the start of the frame's next bundle (it may be finished)
        if pending is not None:
            self._finish(pending, now, done)  # a newer frame: the last one is as whole as it gets
        self._pending = BoxFrame(index, (w, h), count, sec + usec / 1e6)
        self._complete(now, done)

    def _person(self, args: list[int | float | str], now: float, done: list[BoxFrame]) -> None:
        frame = self._pending
        if frame is None or len(args) != 54 or len(frame.people) >= frame.count:
            self.dropped += 1
            return
        values = np.asarray(args[3:], np.float32).reshape(17, 3)
        if not np.isfinite(values).all():
            self.dropped += 1
            return
        frame.people.append((int(args[0]), float(args[2]), values))
        self._complete(now, done)

    def _floor(self, args: list[int | float | str], now: float, done: list[BoxFrame]) -> None:
        frame = self._pending
        x, y = float(args[1]), float(args[2])
        if not (math.isfinite(x) and math.isfinite(y)):
            self.dropped += 1
            return
        self.sends_floor = True  # also after a frame that was whole without (its people came first)
        if frame is None or len(frame.floor) >= MAX_PEOPLE:
            self.dropped += 1
            return
        frame.floor[int(args[0])] = (x, y)
        self._complete(now, done)

    def _floor_view(self, args: list[int | float | str], now: float) -> None:
        """``n x1 y1 ... xn yn``: kept when n is 3..``MAX_VIEW``, every coordinate finite and within
        +-``VIEW_LIMIT`` metres; else refused and counted."""
        n = args[0] if args and isinstance(args[0], int) else 0
        values = [a for a in args[1:] if isinstance(a, float)]
        whole = 3 <= n <= MAX_VIEW and len(args) == 1 + 2 * n and len(values) == 2 * n
        if not whole or not all(math.isfinite(v) and abs(v) <= VIEW_LIMIT for v in values):
            self.dropped += 1
            return
        corners = tuple(zip(values[::2], values[1::2], strict=True))
        self._view = (now, corners)
        if self._pending is not None:
            self._pending.view = corners

    def view(self, now: float) -> tuple[tuple[float, float], ...]:
        """The floor the box's picture sees (corners, metres (x, y)), as it last said within
        ``VIEW_SECONDS`` of ``now`` (monotonic); empty when it did not."""
        arrived, corners = self._view
        return corners if now - arrived <= VIEW_SECONDS else ()

    def _complete(self, now: float, done: list[BoxFrame]) -> None:
        """The pending frame is whole when every person arrived (and, from a box that sends floor
        positions, each person's floor position). A box's first frame waits for its floor positions
        or the next frame (until then the hub cannot know whether the box sends them)."""
        frame = self._pending
        if frame is None or len(frame.people) < frame.count:
            return
        if (self.sends_floor or not self.finished) and len(frame.floor) < frame.count:
            return
        self._finish(frame, now, done)

    def _finish(self, frame: BoxFrame, now: float, done: list[BoxFrame]) -> None:
        self._pending = None
        self._last_index = frame.index
        if not self._rate.allow(0, now):
            self.dropped += 1
            return
        self.finished += 1
        frame.arrived = now
        self.frames.append(frame)
        self.last_frame = now
        self.delays.append(time.time() - frame.t_wall)
        done.append(frame)

    def delay(self) -> float | None:
        """The median of arrival minus capture time over the last frames (seconds, wall clocks: the
        network's delay plus the clocks' difference); None before any frame."""
        if not self.delays:
            return None
        return float(np.median(np.asarray(self.delays)))

    def clock(self, now: float) -> tuple[bool, float] | None:
        """The box's word on its clock, if it said it in the last ``CLOCK_SECONDS``: (synchronised
        within its clock.warn_ms, its offset in ms, positive: ahead); None otherwise."""
        said = self._clock
        return None if said is None or now - said[2] > CLOCK_SECONDS else (said[0], said[1])

    def nearest(self, t_wall: float) -> BoxFrame | None:
        """The kept frame captured nearest ``t_wall`` (Unix seconds), or None."""
        return min(self.frames, key=lambda f: abs(f.t_wall - t_wall), default=None)

    def close(self) -> None:
        """Close the socket (the box stops streaming when the lease ends, unrenewed)."""
        self.sock.close()
