"""``bench hub``: the latency the hub adds, from a box's frame to the hub's fused frame.

Real boxes (the appliance with ``scene:PEOPLE@FPS`` poses, on loopback, no mDNS) stream to a real
hub (``posenet-appliance hub --box ...``) and, at the same moment, to this benchmark, which
subscribes to every box itself the way the hub does (``BoxLink``) and receives the hub's output.
A box frame's input time is when its last datagram arrived here; its output time is when the first
hub frame stamped with its capture time or a later one arrived here (the hub stamps each fused frame
with the newest capture time of the box frames that completed it: boxes in step, as ``scene`` boxes
are, often complete theirs in one turn of the hub, fused once; the count of box frames with a hub
frame of their very own capture time is printed too). Both arrive on loopback at this one process,
so the difference is what the hub added: parsing, aligning, fusing, the stages, encoding and sending. Prints the
median and the 99th percentile over ``--seconds``, per repeat, and their medians. Nothing asserts a
time.

``--overlap``: the boxes see windows of one scene side by side, each overlapping the next by 20 % of
the scene's width (two boxes: ``x0=0,x1=0.6`` and ``x0=0.4,x1=1``), each with the floor calibration
of its window on one floor (``scene_source.crop_floor`` on ``ROOM``), so the walkers cross from one
view into the next. Also printed then, from the hub's frames while every box is fused (the 0.5 s
after each of the scene's loop cuts left out): the **once-ratio** (frames with every walker once:
exactly one global id within 0.5 m of where ``scene_source.feet_at`` says they stand, and nobody
else) and the **id switches** (a walker's global id changing within one crossing). Without it every
box sees the whole scene, uncalibrated (the numbers of earlier runs).
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from appliance.capture.hub_link import BoxLink
from appliance.capture.scene_source import CYCLE_SECONDS, ROOM, crop_floor, feet_at
from appliance.output.osc.wire import parse_packet

__all__ = ["add_parser"]


def _service(state: Path, command: str, *extra: str) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "appliance", command, "--state-dir", str(state), "--http-bind", "127.0.0.1"]
    argv += ["--http-port", "0", "--oscquery-port", "0", "--no-discovery", "--quiet", *extra]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _collect(
    links: list[BoxLink], out: socket.socket, seconds: float, tally: Tally | None = None
) -> tuple[dict[int, float], dict[int, float]]:
    """(box frames' last arrival, the hub's frames' arrival), keyed by capture time in microseconds;
    the hub's frames also counted into ``tally``."""
    sel = selectors.DefaultSelector()
    for link in links:
        sel.register(link.sock, selectors.EVENT_READ, link)
    sel.register(out, selectors.EVENT_READ, None)
    boxes: dict[int, float] = {}
    hub: dict[int, float] = {}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        now = time.monotonic()
        for link in links:
            link.tick(now)
        # the boxes' sockets first: a hub frame read in the same turn is stamped after the box frames
        for key, _ in sorted(sel.select(0.05), key=lambda ready: ready[0].data is None):
            if key.data is None:
                _hub_frames(out, hub, tally)
            else:
                for frame in key.data.receive(time.monotonic()):
                    boxes[round(frame.t_wall * 1e6)] = frame.arrived
    sel.close()
    return boxes, hub


def _hub_frames(out: socket.socket, hub: dict[int, float], tally: Tally | None) -> None:
    while True:
        try:
            data = out.recv(65536)
        except BlockingIOError:
            return
        now = time.monotonic()
        try:
            messages = parse_packet(data)
        except ValueError:
            continue
        if not messages:
            continue
        address, args = messages[0]
        if address == "/posenet/frame" and len(args) >= 6:
            hub.setdefault(int(args[4]) * 1_000_000 + int(args[5]), now)
        if tally is not None:
            tally.add(messages)


class Tally:
    """The hub's frames, for the once-ratio and the id switches (``--overlap``): each frame's capture
    time (unix seconds), its global ids and their floor points (metres (x, y)), the boxes fused."""

    def __init__(self, people: int, fps: float, boxes: int, room: tuple[float, float]) -> None:
        self.people, self.fps, self.boxes, self.room = people, fps, boxes, room
        self.frames: list[tuple[int, float, dict[int, tuple[float, float] | None], int]] = []

    def add(self, messages: list[tuple[str, list[Any]]]) -> None:
        """One datagram's messages (a frame's bundles each start with its ``/posenet/frame``)."""
        for address, args in messages:
            if address == "/posenet/frame" and (not self.frames or self.frames[-1][0] != args[0]):
                self.frames.append((int(args[0]), int(args[4]) + int(args[5]) / 1e6, {}, 0))
            elif not self.frames:
                continue
            elif address == "/posenet/person/pose":
                self.frames[-1][2].setdefault(int(args[0]), None)
            elif address == "/posenet/hub/floor":
                self.frames[-1][2][int(args[0])] = (float(args[1]), float(args[2]))
            elif address == "/posenet/hub/boxes":
                number, t, people, _ = self.frames[-1]
                self.frames[-1] = (number, t, people, int(args[0]))

    def result(self) -> tuple[int, int, int, dict[int, int]]:
        """(frames with every box fused, away from the loop cuts; of them with every walker once; id
        switches within a crossing; how many of those frames had how many people)."""
        counted = once = 0
        sizes: dict[int, int] = {}
        last: dict[tuple[int, int], int] = {}  # (walker, crossing) -> global id
        switches = 0
        for _, t, people, live in self.frames:
            if live != self.boxes or t % CYCLE_SECONDS < 0.5:
                continue
            counted += 1
            sizes[len(people)] = sizes.get(len(people), 0) + 1
            truth = [(x * self.room[0], y * self.room[1]) for x, y in feet_at(t, self.people, self.fps)]
            found: dict[int, list[int]] = {}
            for gid, at in people.items():
                near = [i for i, p in enumerate(truth) if at is not None and math.dist(p, at) <= 0.5]
                if len(near) == 1:
                    found.setdefault(near[0], []).append(gid)
            once += len(people) == self.people and all(len(found.get(i, [])) == 1 for i in range(self.people))
            for walker, gids in found.items():
                key = (walker, int(t // CYCLE_SECONDS))
                switches += key in last and last[key] != gids[0]
                last[key] = gids[0]
        return counted, once, switches, dict(sorted(sizes.items()))


#: How much of the scene's width neighbouring windows share (``--overlap``).
OVERLAP = 0.2


def windows(boxes: int) -> list[tuple[float, float, float, float]]:
    """``boxes`` windows (x0, x1, y0, y1) of the scene's picture (0..1) side by side, covering it,
    each sharing ``OVERLAP`` of the width with the next."""
    width = (1.0 + (boxes - 1) * OVERLAP) / boxes
    return [(round(i * (width - OVERLAP), 6), round(i * (width - OVERLAP) + width, 6), 0.0, 1.0) for i in range(boxes)]


def room(people: int) -> tuple[float, float]:
    """The floor the scene lies on (``--overlap``): ``ROOM``, deeper for more than two walkers so
    that neighbouring walkers stay 0.75 m apart (the hub fuses within 0.5 m), metres (x, y)."""
    return ROOM[0], ROOM[1] * max(people, 2) / 2


def _box(state: Path, args: argparse.Namespace, i: int, port: int) -> subprocess.Popen[bytes]:
    """Box ``i``: the whole scene, or (``--overlap``) its window with that window's floor calibration."""
    state.mkdir()
    source = f"scene:{args.people}@{args.fps}"
    if args.overlap:
        win = windows(args.boxes)[i]
        source += ",x0={:g},x1={:g},y0={:g},y1={:g}".format(*win)
        (state / "config.json").write_text(json.dumps({"floor": crop_floor(win, room(args.people))}))
    return _service(state, "run", "--source", source, "--control-port", str(port))


def _run(args: argparse.Namespace, state: Path, tally: Tally | None) -> tuple[float, float, int, int, int]:
    """One repeat: (median ms, p99 ms, box frames matched, of them by a hub frame of their own capture
    time, box frames); the hub's frames into ``tally``."""
    ports = [_free_udp_port() for _ in range(args.boxes)]
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    out.bind(("127.0.0.1", 0))
    out.setblocking(False)
    procs = [_box(state / f"box{i}", args, i, port) for i, port in enumerate(ports)]
    hub_argv = [x for port in ports for x in ("--box", f"127.0.0.1:{port}")]
    (state / "hub").mkdir()
    target = f"127.0.0.1:{out.getsockname()[1]}/bundle"
    procs.append(_service(state / "hub", "hub", *hub_argv, "--target", target, "--control-port", "0"))
    links = [BoxLink(f"box{i}", "127.0.0.1", port) for i, port in enumerate(ports)]
    try:
        _collect(links, out, args.warmup)
        boxes, hub = _collect(links, out, args.seconds, tally)
    finally:
        for link in links:
            link.close()
        out.close()
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(20)
    lat = latencies(boxes, hub, 1.0 / args.fps)
    if not lat:
        raise RuntimeError("no frame of the hub matched a box frame: did the services start?")
    p99 = lat[min(len(lat) - 1, round(0.99 * (len(lat) - 1)))]
    return statistics.median(lat), p99, len(lat), sum(k in hub for k in boxes), len(boxes)


def latencies(boxes: dict[int, float], hub: dict[int, float], period: float) -> list[float]:
    """Milliseconds from each box frame's arrival to the first hub frame arriving after it stamped
    with a capture time no more than half a frame ``period`` (seconds) before its own (the hub fuses
    each box's frame nearest the stamp: this one or a newer), within 1 s; sorted. Both keyed by
    capture time in microseconds, arrivals in seconds."""
    order = sorted(hub.items(), key=lambda kv: kv[1])
    arrivals = [t for _, t in order]
    out = []
    for k, arrived in boxes.items():
        for stamp, t in order[bisect.bisect_left(arrivals, arrived) :]:
            if t - arrived > 1.0:
                break
            if stamp >= k - period / 2 * 1e6:
                out.append((t - arrived) * 1000.0)
                break
    return sorted(out)


def cmd_hub(args: argparse.Namespace) -> int:
    """Print the latency the hub adds (median, p99) per repeat and the medians; with ``--overlap``
    also the once-ratio and the id switches."""
    medians, p99s, ratios, switches = [], [], [], []
    scenario = "overlapping windows of one scene" if args.overlap else "the whole scene each"
    print(f"{args.boxes} boxes x {args.people} people at {args.fps:g} fps, {scenario}")
    for r in range(args.repeat):
        tally = Tally(args.people, args.fps, args.boxes, room(args.people)) if args.overlap else None
        with tempfile.TemporaryDirectory() as tmp:
            med, p99, matched, own, total = _run(args, Path(tmp), tally)
        medians.append(med)
        p99s.append(p99)
        line = f"repeat {r + 1}: hub latency median {med:.2f} ms, p99 {p99:.2f} ms"
        line += f" ({matched} of {total} box frames matched, {own} by their own capture time)"
        if tally is not None:
            counted, once, switched, sizes = tally.result()
            ratios.append(once / max(counted, 1))
            switches.append(switched)
            line += f"; every walker once in {once} of {counted} fused frames, id switches {switched}"
            if once < counted:
                line += f" (people in a fused frame: {sizes})"
        print(line)
    summary = (
        f"median of {args.repeat}: median {statistics.median(medians):.2f} ms, p99 {statistics.median(p99s):.2f} ms"
    )
    if ratios:
        summary += f"; once-ratio {statistics.median(ratios):.1%}, id switches {sum(switches)} in all"
    print(summary)
    return 0


def add_parser(bsub: Any) -> None:
    """``bench hub``."""
    p = bsub.add_parser("hub", help="the latency the hub adds (box frame in -> fused frame out), real boxes")
    p.add_argument("--boxes", type=int, default=2, help="boxes (default 2)")
    p.add_argument("--people", type=int, default=2, help="people per box (default 2)")
    p.add_argument("--fps", type=float, default=15.0, help="each box's frame rate (default 15)")
    p.add_argument("--seconds", type=float, default=10.0, help="seconds measured per repeat (default 10)")
    p.add_argument("--warmup", type=float, default=6.0, help="seconds to let the services start (default 6)")
    p.add_argument("--repeat", type=int, default=3, help="repeats (default 3)")
    p.add_argument(
        "--overlap",
        action="store_true",
        help="boxes see overlapping windows of one scene, with agreeing floor calibrations; also prints the "
        "once-ratio and the id switches (default: every box the whole scene, uncalibrated)",
    )
    p.set_defaults(func=cmd_hub)
