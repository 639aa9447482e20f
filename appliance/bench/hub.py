"""``bench hub``: the latency the hub adds, from a box's frame to the hub's fused frame.

Real boxes (the appliance with ``scene:PEOPLE@FPS`` poses, on loopback, no mDNS) stream to a real
hub (``posenet-appliance hub --box ...``) and, at the same moment, to this benchmark, which
subscribes to every box itself the way the hub does (``BoxLink``) and receives the hub's output.
A box frame's input time is when its last datagram arrived here; its output time is when the hub's
frame with the same capture time arrived here (the hub stamps each fused frame with the capture time
of the box frame that completed it). Both arrive on loopback at this one process, so the difference
is what the hub added: parsing, aligning, fusing, the stages, encoding and sending. Prints the
median and the 99th percentile over ``--seconds``, per repeat, and their medians. Nothing asserts a
time.
"""

from __future__ import annotations

import argparse
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


def _collect(links: list[BoxLink], out: socket.socket, seconds: float) -> tuple[dict[int, float], dict[int, float]]:
    """(box frames' last arrival, the hub's frames' arrival), keyed by capture time in microseconds."""
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
        for key, _ in sel.select(0.05):
            if key.data is None:
                _hub_frames(out, hub)
            else:
                for frame in key.data.receive(time.monotonic()):
                    boxes[round(frame.t_wall * 1e6)] = frame.arrived
    sel.close()
    return boxes, hub


def _hub_frames(out: socket.socket, hub: dict[int, float]) -> None:
    while True:
        try:
            data = out.recv(65536)
        except BlockingIOError:
            return
        now = time.monotonic()
        try:
            address, args = parse_packet(data)[0]
        except (ValueError, IndexError):
            continue
        if address == "/posenet/frame" and len(args) >= 6:
            hub.setdefault(int(args[4]) * 1_000_000 + int(args[5]), now)


def _run(args: argparse.Namespace, state: Path) -> tuple[float, float, int, int]:
    """One repeat: (median ms, p99 ms, frames matched, box frames)."""
    ports = [_free_udp_port() for _ in range(args.boxes)]
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    out.bind(("127.0.0.1", 0))
    out.setblocking(False)
    procs = []
    for i, port in enumerate(ports):
        (state / f"box{i}").mkdir()
        source = f"scene:{args.people}@{args.fps}"
        procs.append(_service(state / f"box{i}", "run", "--source", source, "--control-port", str(port)))
    hub_argv = [x for port in ports for x in ("--box", f"127.0.0.1:{port}")]
    (state / "hub").mkdir()
    target = f"127.0.0.1:{out.getsockname()[1]}/bundle"
    procs.append(_service(state / "hub", "hub", *hub_argv, "--target", target, "--control-port", "0"))
    links = [BoxLink(f"box{i}", "127.0.0.1", port) for i, port in enumerate(ports)]
    try:
        _collect(links, out, args.warmup)
        boxes, hub = _collect(links, out, args.seconds)
    finally:
        for link in links:
            link.close()
        out.close()
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(20)
    lat = sorted((hub[k] - t) * 1000.0 for k, t in boxes.items() if k in hub)
    if not lat:
        raise RuntimeError("no frame of the hub matched a box frame: did the services start?")
    p99 = lat[min(len(lat) - 1, round(0.99 * (len(lat) - 1)))]
    return statistics.median(lat), p99, len(lat), len(boxes)


def cmd_hub(args: argparse.Namespace) -> int:
    """Print the latency the hub adds (median, p99) per repeat and the medians."""
    medians, p99s = [], []
    for r in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            med, p99, matched, total = _run(args, Path(tmp))
        medians.append(med)
        p99s.append(p99)
        print(
            f"repeat {r + 1}: {args.boxes} boxes x {args.people} people at {args.fps} fps: hub latency "
            f"median {med:.2f} ms, p99 {p99:.2f} ms ({matched} of {total} box frames matched)"
        )
    print(f"median of {args.repeat}: median {statistics.median(medians):.2f} ms, p99 {statistics.median(p99s):.2f} ms")
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
    p.set_defaults(func=cmd_hub)
