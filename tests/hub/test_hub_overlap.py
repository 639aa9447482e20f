"""Views that partly overlap, with real boxes: two boxes (the real appliance, ``scene:2`` poses, no
model) each see a window of one scene, box A its left 60 %, box B its right 60 % (``x0=``, ``x1=``),
with the floor calibrations of their windows on one 10 m x 7.5 m floor (``tests.support.hubscene``);
a real hub fuses them, a receiver (a UDP socket) reads the hub's ``bundle``. Two walkers cross the
whole width, in opposite directions, 0.75 m apart: each goes from one box's view alone through the
overlap (4..6 m) into the other's alone.

The scenes are in step with the clock (``scene_source``): at capture time t a walker is at frame
``floor(t * fps) mod 120`` of the 8 s crossing, so the test knows who is where from the frames'
capture times. While both boxes live (one crossing, away from the scene's loop cut): every real
person once per frame, each walker one global id from one box's view alone into the other's. Box B
killed: the walker box A sees keeps their global id, the one only B saw leaves."""

from __future__ import annotations

import math
import os
import signal
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from appliance.capture.scene_source import CYCLE_SECONDS, feet_at
from appliance.output.osc.wire import parse_packet
from tests.support.hubscene import ROOM, scene_box, service, stop_all
from tests.support.net import free_udp_port

FPS, PEOPLE = 15.0, 2
LEFT, RIGHT = (0.0, 0.6, 0.0, 1.0), (0.4, 1.0, 0.0, 1.0)
#: Phases of the crossing (seconds since its start): watched from START (after the cut, the walkers
#: within one box's view alone: x < 3.5 m or > 6.5 m) to KILL (x > 6.5 m or < 3.5 m again), then box
#: B killed; the rest watched until END, before the next cut.
START, LATEST_START, KILL, END = 0.5, 2.2, 5.8, 7.8


@dataclass
class HubFrame:
    """One frame of the hub: capture time (unix seconds), global ids, their floor points (metres
    (x, y)), boxes fused."""

    number: int
    t: float
    ids: set[int] = field(default_factory=set)
    floor: dict[int, tuple[float, float]] = field(default_factory=dict)
    live: int = 0

    @property
    def phase(self) -> float:
        return self.t % CYCLE_SECONDS


def receive(sock: socket.socket, until: float, frames: list[HubFrame]) -> None:
    """The hub's frames into ``frames`` until the wall-clock time ``until``."""
    while time.time() < until:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        for address, args in parse_packet(data):
            if address == "/posenet/frame":
                if not frames or frames[-1].number != args[0]:
                    frames.append(HubFrame(int(args[0]), int(args[4]) + int(args[5]) / 1e6))
            elif frames and address == "/posenet/person/pose":
                frames[-1].ids.add(int(args[0]))
            elif frames and address == "/posenet/hub/floor":
                frames[-1].floor[int(args[0])] = (float(args[1]), float(args[2]))
            elif frames and address == "/posenet/hub/boxes":
                frames[-1].live = int(args[0])


def truth(t: float) -> list[tuple[float, float]]:
    """Where the scene's walkers' feet are at capture time ``t``: metres (x, y) on ``ROOM``, walker 1 first."""
    return [(x * ROOM[0], y * ROOM[1]) for x, y in feet_at(t, PEOPLE, FPS)]


def who(frame: HubFrame, gid: int) -> int | None:
    """Which walker (0, 1) the global id's floor point is (within 0.5 m of where they truly are)."""
    if gid not in frame.floor:
        return None
    at = frame.floor[gid]
    near = [i for i, p in enumerate(truth(frame.t)) if math.dist(p, at) <= 0.5]
    return near[0] if len(near) == 1 else None


def crossing(frames: list[HubFrame]) -> tuple[int, list[list[int]], list[list[float]]]:
    """(frames with every walker once, each walker's global ids in turn, the floor x they were seen at)."""
    once = 0
    ids: list[list[int]] = [[] for _ in range(PEOPLE)]
    xs: list[list[float]] = [[] for _ in range(PEOPLE)]
    for f in frames:
        found = sorted(w for g in f.ids if (w := who(f, g)) is not None)
        once += found == list(range(PEOPLE)) and len(f.ids) == PEOPLE
        for g in f.ids:
            w = who(f, g)
            if w is not None:
                if not ids[w] or ids[w][-1] != g:
                    ids[w].append(g)
                xs[w].append(f.floor[g][0])
    return once, ids, xs


def test_two_boxes_with_overlapping_views_give_each_walker_once_with_one_id_across(tmp_path: Path) -> None:
    ports = [free_udp_port(), free_udp_port()]
    boxes = [
        scene_box(tmp_path / "a", LEFT, ports[0], PEOPLE, FPS),
        scene_box(tmp_path / "b", RIGHT, ports[1], PEOPLE, FPS),
    ]
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    out.bind(("127.0.0.1", 0))
    out.settimeout(0.1)
    target = f"127.0.0.1:{out.getsockname()[1]}/bundle"
    hub_argv = [x for p in ports for x in ("--box", f"127.0.0.1:{p}")]
    hub = service(tmp_path / "hub", "hub", *hub_argv, "--target", target, "--control-port", "0")
    try:
        frames: list[HubFrame] = []
        deadline = time.time() + 40
        while time.time() < deadline and not any(f.live == 2 and len(f.ids) == PEOPLE for f in frames[-5:]):
            receive(out, time.time() + 0.3, frames)
        assert any(f.live == 2 for f in frames[-5:]), f"the hub never fused both boxes: {frames[-3:]}"
        now = time.time()
        cycle = now - now % CYCLE_SECONDS
        if now % CYCLE_SECONDS > LATEST_START:  # too late in this crossing: the next one
            cycle += CYCLE_SECONDS
        receive(out, cycle + START, [])
        both: list[HubFrame] = []
        receive(out, cycle + KILL, both)
        os.killpg(boxes[1].pid, signal.SIGKILL)
        boxes[1].wait(5)
        after: list[HubFrame] = []
        receive(out, cycle + END, after)
    finally:
        out.close()
        stop_all([hub, *boxes])
    _check_crossing([f for f in both if f.live == 2])
    _check_killed(both, [f for f in after if f.live == 1])


def _check_crossing(both: list[HubFrame]) -> None:
    once, ids, xs = crossing(both)
    print(
        f"both boxes live: {len(both)} frames; every walker once in {once} ({once / max(len(both), 1):.1%}); "
        f"walker 1 ids {ids[0]} at x {min(xs[0], default=0):.1f}..{max(xs[0], default=0):.1f} m, "
        f"walker 2 ids {ids[1]} at x {min(xs[1], default=0):.1f}..{max(xs[1], default=0):.1f} m; "
        f"id switches {sum(len(i) - 1 for i in ids)}"
    )
    assert len(both) > 60, both[-3:]
    assert once >= 0.9 * len(both), both[:5]
    for w in range(PEOPLE):  # from one box's view alone (x < 4 m or > 6 m) into the other's, one id
        assert min(xs[w]) < 3.6 and max(xs[w]) > 6.4, (w, min(xs[w]), max(xs[w]))
        assert len(ids[w]) == 1, (w, ids[w])


def _check_killed(both: list[HubFrame], after: list[HubFrame]) -> None:
    _, ids, _ = crossing(both[-10:])
    kept, gone = ids[1][-1], ids[0][-1]  # walker 2 is in box A's view alone by now, walker 1 in B's
    stayed = sum(f.ids == {kept} for f in after)
    print(f"box B killed: {len(after)} frames with box A alone; walker 2 kept id {kept} in {stayed}")
    assert len(after) >= 10, after
    assert stayed >= 0.9 * len(after) and not any(gone in f.ids for f in after), after[:5]
