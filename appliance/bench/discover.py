"""``bench discover``: what a flood of ``/posenet/discover`` costs the pipeline.

The real service runs on the CPU, fed faster than it can go so that any CPU the control port takes
shows up as fewer frames. In the same process, phases alternate: quiet; the same flood sent to a
port nobody listens on ("elsewhere": what the flooder itself costs this shared machine); a flood of
``/posenet/discover`` at ``--rate`` questions a second (loopback, from 16 sockets of one address, so
the per-source limit answers a few and refuses the rest). fps is frames processed over each phase
(fps in the tables); the answers are counted at the flooding sockets. The box's own cost is the
flood against "elsewhere". Medians of the repeats and their ratio are printed. Nothing asserts a time.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
from typing import Any

from appliance.bench.common import data_args, service_argv, start_service
from appliance.output.osc.wire import message

__all__ = ["add_parser"]


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def _start(args: argparse.Namespace, state: str) -> tuple[subprocess.Popen[str], str]:
    """The service on the CPU with its control port at ``args.control_port``; (process, HTTP base URL)."""
    return start_service([*service_argv(args, state, 9, args.fps, 0.0), "--control-port", str(args.control_port)])


def _flood(port: int, rate: float, stop: threading.Event, counts: dict[str, int]) -> None:
    """``rate`` questions a second to the control port until ``stop``; answers counted."""
    ask = message("/posenet/discover", "", [])
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(16)]
    for s in socks:
        s.setblocking(False)
    t0, n = time.monotonic(), 0
    while not stop.is_set():
        s = socks[n % len(socks)]
        try:
            s.sendto(ask, ("127.0.0.1", port))
            counts["questions"] += 1
        except OSError:
            counts["send_errors"] += 1
        n += 1
        for r in socks:
            try:
                while r.recv(2048):
                    counts["answers"] += 1
            except BlockingIOError:
                pass
        time.sleep(max(0.0, t0 + n / rate - time.monotonic()))
    for s in socks:
        s.close()


def _phase(base: str, port: int, seconds: float, rate: float) -> tuple[float, dict[str, int]]:
    """fps over ``seconds``, quiet (``rate`` 0) or under the flood at ``port``."""
    counts = {"questions": 0, "answers": 0, "send_errors": 0}
    stop = threading.Event()
    flood = threading.Thread(target=_flood, args=(port, rate, stop, counts), daemon=True) if rate else None
    if flood is not None:
        flood.start()
    a = _get(base + "/api/status")["pipeline"]["frames_processed"]
    t0 = time.monotonic()
    time.sleep(seconds)
    b = _get(base + "/api/status")["pipeline"]["frames_processed"]
    elapsed = time.monotonic() - t0
    stop.set()
    if flood is not None:
        flood.join(5)
    return (b - a) / elapsed, counts


def cmd_discover(args: argparse.Namespace) -> int:
    """fps quiet and under a discovery flood, with the answers the flood got."""
    print(f"{args.model}, face.jpg fed at {args.fps:g} fps, CPU ({args.threads} threads); flood of {args.rate:g}/s")
    print(f"{args.repeat} rounds of {args.seconds:g} s per phase")
    args.control_port = args.control_port or 19471
    with tempfile.TemporaryDirectory() as state:
        proc, base = _start(args, state)
        try:
            deadline = time.monotonic() + 60
            while _get(base + "/api/status").get("pipeline", {}).get("fps", 0) <= 0:
                if time.monotonic() > deadline:
                    raise RuntimeError("no frames")
                time.sleep(0.5)
            time.sleep(args.seconds)  # warm up
            quiet, elsewhere, flooded, asked, answered = [], [], [], [], []
            for _ in range(args.repeat):
                quiet.append(_phase(base, args.control_port, args.seconds, 0.0)[0])
                elsewhere.append(_phase(base, args.control_port + 1, args.seconds, args.rate)[0])
                fps, counts = _phase(base, args.control_port, args.seconds, args.rate)
                flooded.append(fps)
                asked.append(counts["questions"] / args.seconds)
                answered.append(counts["answers"] / args.seconds)
        finally:
            proc.terminate()
            proc.wait(15)
    q, e, f = statistics.median(quiet), statistics.median(elsewhere), statistics.median(flooded)
    asked_s, answered_s = statistics.median(asked), statistics.median(answered)
    print(f"{'quiet':>8s} {'elsewhere':>10s} {'flood':>8s} {'flood/elsewhere':>16s} {'asked/s':>8s} {'answers/s':>10s}")
    print(f"{q:8.1f} {e:10.1f} {f:8.1f} {f / e:16.3f} {asked_s:8.0f} {answered_s:10.1f}")
    return 0


def add_parser(bsub: Any) -> None:
    """Register ``bench discover``."""
    p = bsub.add_parser("discover", help="pipeline fps with and without a flood of /posenet/discover")
    data_args(p)
    p.add_argument("--model", default="posenet_mobilenet_v1_075_353_481_16_quant_decoder.tflite")
    p.add_argument("--fps", type=float, default=200.0, help="how fast frames are offered (faster than processed)")
    p.add_argument("--rate", type=float, default=5000.0, help="questions a second during the flood")
    p.add_argument("--seconds", type=float, default=5.0, help="length of each phase")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--control-port", type=int, default=0, help="the service's control port (default 19471)")
    p.set_defaults(func=cmd_discover)
