"""A box the hub cannot trust, for tests on loopback: a real UDP socket answering the control port's
subscription handshake and sending what the real box's ``bundle`` encoder makes, plus issue 22's
``/posenet/person/floor id x y`` (metres on the floor, (x, y)), which real boxes do not send yet."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable

import numpy as np

from appliance.output.osc import FORMATS
from appliance.output.osc.base import OutputOptions
from appliance.output.osc.extras import encode_extras
from appliance.output.osc.wire import bundle, message, parse_packet
from appliance.stages import STAGES
from appliance.stages.hub import BoxClock
from appliance.types import Poses

__all__ = ["FakeBox", "clock_said", "frame", "person_at", "walk"]


class FakeBox:
    """A socket on 127.0.0.1 answering the subscription handshake; ``stream(datagrams)`` sends to the
    subscriber once it confirmed. With a ``key``, a request without it last is refused (``/posenet/error``,
    as the real box answers); ``asked`` counts the requests, ``heard`` every datagram by its address, ``adds``
    the requests' arguments."""

    def __init__(self, key: str | None = None) -> None:
        self.key, self.asked = key, 0
        self.heard: Counter[str] = Counter()
        self.adds: list[list[object]] = []  # every request's arguments
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.subscriber: tuple[str, int] | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                data, src = self.sock.recvfrom(65536)
            except TimeoutError:
                continue
            address, args = parse_packet(data)[0]
            self.heard[address] += 1
            if address == "/posenet/listeners/add":
                self.asked += 1
                self.adds.append(list(args))
                if self.key is not None and args[-1] != self.key:
                    why = "/posenet/listeners/add: wrong or missing subscribe key (the last argument)"
                    self.sock.sendto(message("/posenet/error", "s", [why]), src)
                    continue
                self.sock.sendto(message("/posenet/listeners/confirm", "s", ["n0nce"]), (src[0], int(args[0])))
            elif address == "/posenet/listeners/confirm" and args == ["n0nce"]:
                self.sock.sendto(message("/posenet/listeners/added", "sisi", ["h", src[1], "bundle", 60]), src)
                self.subscriber = src

    def send(self, data: bytes) -> None:
        assert self.subscriber is not None
        self.sock.sendto(data, self.subscriber)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        self.sock.close()


def person_at(local: int, t_wall: float, index: int) -> Poses:
    kp = np.full((1, 17, 3), 0.5, np.float32) * np.array([640, 480, 1], np.float32)
    return Poses(kp, np.array([0.9], np.float32), np.array([local], np.int32), (640, 480), index, 0.0, t_wall)


def frame(
    poses: Poses, floor: tuple[float, float] | None, view: list[tuple[float, float]] | None = None
) -> list[bytes]:
    """What a box sends for ``poses``: the bundle format's datagrams, then the floor extra's (the
    floor its picture sees first, ``view``: corners in metres (x, y), when given)."""
    out = FORMATS["bundle"](poses, OutputOptions())
    if floor is not None or view is not None:
        header = parse_packet(out[0])[0]
        extra = [message("/posenet/frame", "iiiiii", header[1])]
        if view is not None:
            extra.append(
                message("/posenet/view/floor", "i" + "ff" * len(view), [len(view), *(c for xy in view for c in xy)])
            )
        if floor is not None:
            extra.append(message("/posenet/person/floor", "iff", [int(poses.ids[0]), *floor]))
        out.append(bundle(1, extra))
    return out


def clock_said(poses: Poses, synchronised: bool, offset_ms: float) -> list[bytes]:
    """What a real box sends after ``poses`` to say its clock (the hub stage's ``/posenet/clock``, in a
    bundle of its own starting with the frame header)."""
    said = dataclasses.replace(poses, extras={"hub": BoxClock(synchronised, offset_ms)})
    extra = STAGES["hub"].extra
    assert extra is not None
    return encode_extras(said, OutputOptions(), [extra])


def walk(
    boxes: list[FakeBox],
    floors: list[Callable[[int], tuple[float, float]]],
    seconds: float,
    stop: threading.Event,
    behind: tuple[float, ...] = (),
    views: tuple[list[tuple[float, float]], ...] = (),
    clocks: tuple[tuple[bool, float] | None, ...] = (),
) -> None:
    """Each box sends one person (its id 1 + box index) at its floor position in frame i,
    ``floors[box](i)`` (metres, (x, y)), at 15 fps for ``seconds`` (or until ``stop``), once every
    box is subscribed; ``behind[box]``: seconds its capture times are behind (a clock off);
    ``views[box]``: the floor its picture sees (corners, metres (x, y)), sent every frame;
    ``clocks[box]``: what it says of its clock (synchronised, offset ms) every 15th frame, or nothing."""
    deadline = time.monotonic() + seconds
    i = 0
    while time.monotonic() < deadline and not stop.is_set():
        if all(b.subscriber is not None for b in boxes):
            now = time.time()
            for k, (box, floor) in enumerate(zip(boxes, floors, strict=True)):
                late = behind[k] if k < len(behind) else 0.0
                view = views[k] if k < len(views) else None
                poses = person_at(1 + k, now - late, i)
                said = clocks[k] if k < len(clocks) and i % 15 == 0 else None
                for data in frame(poses, floor(i), view) + (clock_said(poses, *said) if said is not None else []):
                    box.send(data)
            i += 1
        time.sleep(1 / 15)
