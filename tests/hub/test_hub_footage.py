"""Views that partly overlap, on real footage with the real model: two boxes (the real appliance,
``images:test_couple.jpg`` at 3 fps, PoseNet 481x641 on the CPU) each see a window of the photo (two
people walking in snow, 1920x1278; person 1 at x 0.33..0.47 of the picture, person 2 at 0.51..0.65),
box A its left 68 % (``x1=0.68``: both people), box B its right 52 % (``x0=0.48``: person 2 only),
each with the floor calibration of its window on one floor (the whole picture on 8 m x 5.3 m,
``crop_floor``); a real hub fuses them, a receiver (a UDP socket) reads the hub's ``bundle``, two
more read each box's own.

Once both boxes are live: the receiver sees the photo's 2 people once per frame, with the same 2
global ids throughout; the hub's status says person 2 is seen by both boxes, person 1 by box A
alone. Printed: the frames, people per frame, ids, and how far apart the two boxes put person 2 on
the floor (the model sees them at a different scale and place in each window)."""

from __future__ import annotations

import json
import math
import selectors
import socket
import statistics
import subprocess
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.capture.base import crop_floor
from appliance.output.osc.wire import parse_packet
from tests.support.hubscene import service, stop_all
from tests.support.net import free_tcp_port, free_udp_port, wait_http

MODEL = "posenet_mobilenet_v1_075_481_641_16_quant_decoder.tflite"
FPS, PEOPLE = 3.0, 2
LEFT, RIGHT = (0.0, 0.68, 0.0, 1.0), (0.48, 1.0, 0.0, 1.0)
#: The photo's floor, metres (x, y): 8 m across, its height in proportion (1920x1278).
ROOM = (8.0, round(8.0 * 1278 / 1920, 3))
#: Person 1's feet are left of this floor x (metres), person 2's right of it (picture x 0.41 / 0.59).
SPLIT_X = 4.0
Window = tuple[float, float, float, float]


@dataclass
class Frame:
    """One frame of a bundle stream: ids, their floor points (metres (x, y)), boxes fused (hub only)."""

    number: int
    ids: set[int] = field(default_factory=set)
    floor: dict[int, tuple[float, float]] = field(default_factory=dict)
    live: int = 0


def receive(socks: dict[str, socket.socket], until: float, frames: dict[str, list[Frame]]) -> None:
    """Each socket's frames into ``frames[name]`` until the wall-clock time ``until``."""
    with selectors.DefaultSelector() as sel:
        for name, s in socks.items():
            sel.register(s, selectors.EVENT_READ, name)
        while (left := until - time.time()) > 0:
            for key, _ in sel.select(min(left, 0.2)):
                name = key.data
                for address, args in parse_packet(socks[name].recv(65536)):
                    _take(frames.setdefault(name, []), address, args)


def _take(frames: list[Frame], address: str, args: list[Any]) -> None:
    if address == "/posenet/frame":
        if not frames or frames[-1].number != args[0]:
            frames.append(Frame(int(args[0])))
    elif frames and address == "/posenet/person/pose":
        frames[-1].ids.add(int(args[0]))
    elif frames and address in ("/posenet/hub/floor", "/posenet/person/floor"):
        frames[-1].floor[int(args[0])] = (float(args[1]), float(args[2]))
    elif frames and address == "/posenet/hub/boxes":
        frames[-1].live = int(args[0])


def udp() -> socket.socket:
    """A receiver on a free loopback port."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    return s


def bundle(sock: socket.socket) -> str:
    """The ``--target`` of the receiver ``sock``, in the ``bundle`` format."""
    return f"127.0.0.1:{sock.getsockname()[1]}/bundle"


def box(
    state: Path, photo: Path, win: Window, model: Path, control_port: int, out: socket.socket
) -> subprocess.Popen[bytes]:
    """A box seeing ``win`` = (x0, x1, y0, y1), 0..1 of ``photo``, with the real model on the CPU,
    calibrated on ``ROOM`` (its ``floor`` section saved in ``state`` first), sending to ``out`` too."""
    state.mkdir()
    (state / "config.json").write_text(json.dumps({"floor": crop_floor(win, ROOM)}))
    source = "images:{}@{:g},x0={:g},x1={:g},y0={:g},y1={:g}".format(photo, FPS, *win)
    argv = ["--source", source, "--model", str(model), "--accelerator", "cpu", "--threads", "1"]
    return service(state, "run", *argv, "--control-port", str(control_port), "--target", bundle(out))


def status(port: int) -> dict[str, Any]:
    """The hub's ``/api/status``."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=10) as r:
        return dict(json.load(r))


def test_two_boxes_on_overlapping_windows_of_a_photo_give_each_person_once(
    models_dir: Path, images_dir: Path, tmp_path: Path
) -> None:
    socks = {"hub": udp(), "A": udp(), "B": udp()}
    ports = [free_udp_port(), free_udp_port()]
    http = free_tcp_port()
    model = models_dir / MODEL
    boxes = [
        box(tmp_path / name, images_dir / "test_couple.jpg", win, model, port, socks[name])
        for name, win, port in (("A", LEFT, ports[0]), ("B", RIGHT, ports[1]))
    ]
    hub_argv = [x for p in ports for x in ("--box", f"127.0.0.1:{p}")]
    hub_argv += ["--target", bundle(socks["hub"]), "--control-port", "0", "--http-port", str(http)]
    hub = service(tmp_path / "hub", "hub", *hub_argv)
    try:
        frames: dict[str, list[Frame]] = {}
        deadline = time.time() + 60
        while time.time() < deadline and not any(f.live == 2 and f.ids for f in frames.get("hub", [])[-3:]):
            receive(socks, time.time() + 0.5, frames)
        start = len(frames.get("hub", []))
        assert any(f.live == 2 for f in frames.get("hub", [])[-3:]), f"the hub never fused both boxes: {frames}"
        receive(socks, time.time() + 10, frames)
        wait_http(http, 10)
        persons = status(http)["hub"]["persons"]
    finally:
        for s in socks.values():
            s.close()
        stop_all([hub, *boxes])
    _check(frames["hub"][start:], persons, [f"127.0.0.1:{p}" for p in ports])
    _disagreement(frames["A"], frames["B"])


def _check(hub: list[Frame], persons: list[dict[str, Any]], names: list[str]) -> None:
    both = [f for f in hub if f.live == 2]
    counts = Counter(len(f.ids) for f in both)
    ids = Counter(i for f in both for i in f.ids)
    once = sum(len(f.ids) == PEOPLE and {x > SPLIT_X for x, _ in f.floor.values()} == {False, True} for f in both)
    seen = {p["id"]: (round(p["x"], 2), round(p["y"], 2), sorted(p["boxes"])) for p in persons}
    print(
        f"hub: {len(both)} frames with both boxes live (of {len(hub)}); people per frame {dict(counts)}; "
        f"each person once in {once} ({once / max(len(both), 1):.0%}); global ids {dict(ids)}; status {seen}"
    )
    assert len(both) >= 15, hub[-3:]
    assert once >= 0.9 * len(both) and max(counts) <= PEOPLE, both[:5]
    assert len(ids) == PEOPLE, ids  # one global id per person, kept
    by_side = {p["x"] > SPLIT_X: sorted(p["boxes"]) for p in persons}
    assert len(persons) == PEOPLE and by_side == {False: names[:1], True: sorted(names)}, persons  # 2: the overlap


def _disagreement(a: list[Frame], b: list[Frame]) -> None:
    """How far apart boxes A and B put person 2 (the one right of ``SPLIT_X``) on the floor."""

    def median(frames: list[Frame]) -> tuple[float, float]:
        pts = [p for f in frames[-20:] for p in f.floor.values() if p[0] > SPLIT_X]
        assert pts, frames[-3:]
        return statistics.median(x for x, _ in pts), statistics.median(y for _, y in pts)

    pa, pb = median(a), median(b)
    print(
        f"person 2 on the floor: box A ({pa[0]:.3f}, {pa[1]:.3f}) m, box B ({pb[0]:.3f}, {pb[1]:.3f}) m: "
        f"{math.dist(pa, pb):.3f} m apart; box A people per frame {dict(Counter(len(f.ids) for f in a))}, "
        f"box B {dict(Counter(len(f.ids) for f in b))}"
    )
    assert math.dist(pa, pb) < 0.5, (pa, pb)  # within the hub's hub.distance_m
