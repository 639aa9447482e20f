"""``bench soak``: the real service for ``--minutes`` with faults injected in a loop (failpoints),
receivers coming and going, configuration churn over HTTP and the control port; prints RSS, fps
around each fault and the time to recover, changes acknowledged vs saved, log bytes per hour."""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from pathlib import Path
from typing import Any

from appliance.bench.common import data_args, rss_mb

__all__ = ["SOAK_FAILPOINTS", "add_parser"]


#: The soak's faults, by call count of each point at 10 fps: each point's fault every 2,400 frames
#: (4 minutes), the points staggered by 36 s.
SOAK_FAILPOINTS = (
    "capture.read=raise@360%2400,capture.read=stall@720%2400,prepare=raise@1080%2400,"
    "infer=raise@1440%2400,decode=raise@1800%2400,send=raise@2160%2400"
)


class _Soak:
    """What the soak's load threads record (each field written by one thread)."""

    def __init__(self) -> None:
        self.frames: list[tuple[float, int]] = []  # (monotonic, frame index) as received
        self.receiver_off: list[tuple[float, float]] = []  # windows our receiver was closed
        self.events: list[tuple[float, str]] = []  # (monotonic, log line) of faults and recoveries
        self.acked = 0  # configuration changes answered 200/201
        self.last_name = ""
        self.subscriptions = 0  # control-port subscriptions confirmed
        self.garbage = 0
        self.rss: list[tuple[float, float]] = []


def _soak_receiver(state: _Soak, port: int, stop: Any, period: float) -> None:
    """Receive the bundle stream; close for 5 s every ``period`` s (a receiver coming and going)."""
    import socket

    from pythonosc.osc_bundle import OscBundle
    from pythonosc.osc_message import OscMessage

    next_off = time.monotonic() + period
    while not stop.is_set():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
            rx.bind(("127.0.0.1", port))
            rx.settimeout(0.2)
            while not stop.is_set() and time.monotonic() < next_off:
                try:
                    data = rx.recv(65536)
                except TimeoutError:
                    continue
                header = OscMessage(OscBundle(data).content(0).dgram)
                state.frames.append((time.monotonic(), int(header.params[0])))
        off = time.monotonic()
        stop.wait(5.0)
        state.receiver_off.append((off, time.monotonic()))
        next_off = time.monotonic() + period


def _soak_http(state: _Soak, base: str, receiver_port: int, stop: Any) -> None:
    """Configuration churn over HTTP: a rename every 2 s, a target added and removed every 10 s."""
    import json
    import urllib.request

    def call(method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            base + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            if r.status in (200, 201):
                state.acked += 1
            return json.load(r)

    i = 0
    while not stop.wait(2.0):
        i += 1
        try:
            call(
                "PATCH", "/api/config", {"device_name": f"soak-{i}", "decoder": {"min_pose_score": 0.2 + (i % 5) / 100}}
            )
            state.last_name = f"soak-{i}"
            if i % 5 == 0:
                targets = call("POST", "/api/targets", {"host": "127.0.0.1", "port": 9, "format": "arr"})
                call("DELETE", f"/api/targets/{len(targets) - 1}")
        except OSError:
            continue


def _soak_control(state: _Soak, port: int, stop: Any) -> None:
    """Control-port churn: subscribe (with the confirmation), change, remove; garbage every second."""
    import os
    import socket

    from appliance.output.osc.wire import message, parse_message

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as patch:
        patch.bind(("127.0.0.1", 0))
        patch.settimeout(2.0)
        box = ("127.0.0.1", port)
        i = 0
        while not stop.wait(1.0):
            i += 1
            patch.sendto(os.urandom(40 + i % 200), box)
            state.garbage += 1
            if i % 5:
                continue
            try:
                patch.sendto(message("/posenet/listeners/add", "is", [patch.getsockname()[1], "bundle"]), box)
                while True:
                    address, args = parse_message(patch.recv(65536))
                    if address == "/posenet/listeners/confirm":
                        patch.sendto(message("/posenet/listeners/confirm", "s", [str(args[0])]), box)
                    if address == "/posenet/listeners/added":
                        state.subscriptions += 1
                        break
                patch.sendto(message("/posenet/format", "s", ["arr"]), box)
                patch.sendto(message("/posenet/listeners/remove", "", []), box)
            except (OSError, ValueError):
                continue


def _soak_log(state: _Soak, log: Path, stop: Any) -> None:
    """Stamp the service's log lines about faults and recoveries with our clock."""
    with log.open() as f:
        while not stop.is_set():
            line = f.readline()
            if not line:
                stop.wait(0.2)
                continue
            if "appliance.failpoints: failpoint" in line:
                state.events.append((time.monotonic(), line.strip()[:110]))


def cmd_soak(args: argparse.Namespace) -> int:
    """The real service for ``--minutes`` with faults in a loop; prints RSS, fps around each fault and
    the time to recover, changes acknowledged vs saved, log bytes per hour."""
    import json
    import os
    import socket
    import subprocess
    import sys
    import tempfile
    import threading

    state = _Soak()
    stop = threading.Event()
    ports = []
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    receiver, http, control = ports
    model = Path(args.models_dir or os.environ.get("POSENET_MODELS_DIR", ".")) / args.model
    image = Path(args.images).resolve() / "face.jpg"
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "service.log"
        argv = [sys.executable, "-m", "appliance", "run", "--source", f"images:{image}@10", "--model", str(model)]
        argv += ["--state-dir", tmp, "--target", f"127.0.0.1:{receiver}/bundle", "--http-bind", "127.0.0.1"]
        argv += ["--http-port", str(http), "--control-port", str(control), "--oscquery-port", "0"]
        argv += ["--no-discovery", "--quiet", "--threads", "1"]
        env = {**os.environ, "POSENET_FAILPOINTS": args.failpoints}
        with log.open("w") as out:
            proc = subprocess.Popen(argv, stderr=out, env=env)
        base = f"http://127.0.0.1:{http}"
        t0 = time.monotonic()
        loads = [
            threading.Thread(target=_soak_receiver, args=(state, receiver, stop, 45.0), daemon=True),
            threading.Thread(target=_soak_log, args=(state, log, stop), daemon=True),
        ]
        for t in loads:
            t.start()
        while not state.frames and time.monotonic() - t0 < 120:
            time.sleep(0.2)
        for target, targs in ((_soak_http, (state, base, receiver, stop)), (_soak_control, (state, control, stop))):
            loads.append(threading.Thread(target=target, args=targs, daemon=True))
            loads[-1].start()
        start = time.monotonic()
        log_start = log.stat().st_size
        end = start + args.minutes * 60
        print(f"soak: {args.minutes:.0f} min, failpoints {args.failpoints}")
        print(f"{'min':>4s} {'fps':>6s} {'RSS MB':>7s} {'restarts':>8s} {'errors':>7s} {'acked':>6s} {'subs':>5s}")
        minute = 0
        while time.monotonic() < end:
            time.sleep(min(60.0, max(end - time.monotonic(), 0.1)))
            minute += 1
            rss = rss_mb(proc.pid)
            state.rss.append((time.monotonic(), rss))
            now = time.monotonic()
            fps = sum(1 for t, _ in state.frames if now - 60 <= t) / 60
            try:
                with urllib_open(base + "/api/status") as r:
                    status = json.load(r)
            except OSError:
                status = {"pipeline_restarts": "?", "pipeline": {"errors": "?"}}
            print(
                f"{minute:4d} {fps:6.1f} {rss:7.1f} {status['pipeline_restarts']!s:>8s} "
                f"{status.get('pipeline', {}).get('errors', '?')!s:>7s} {state.acked:6d} {state.subscriptions:5d}",
                flush=True,
            )
        stop.set()
        for t in loads:
            t.join(10)
        elapsed = time.monotonic() - start
        log_bytes = log.stat().st_size - log_start
        proc.terminate()
        proc.wait(timeout=20)
        saved = json.loads((Path(tmp) / "config.json").read_text())
    _soak_report(state, args, start, elapsed, log_bytes, saved, proc.returncode)
    return 0


def urllib_open(url: str) -> Any:
    import urllib.request

    return urllib.request.urlopen(url, timeout=10)


def _soak_report(
    state: _Soak, args: argparse.Namespace, start: float, elapsed: float, log_bytes: int, saved: Any, rc: int
) -> None:
    times = [t for t, _ in state.frames if t >= start]
    off = state.receiver_off

    def receiving(t: float) -> bool:
        return not any(a - 1.0 <= t <= b + 1.0 for a, b in off)

    def fps(a: float, b: float) -> float:
        return sum(1 for t in times if a <= t < b) / max(b - a, 1e-9)

    print("\nfaults (service log, stamped here): fps 10 s before / 10 s after, seconds until frames resume")
    recoveries = []
    faults = [(t, line) for t, line in state.events if "appliance.failpoints: failpoint" in line and t >= start]
    for t, line in faults:
        resume = next((x for x in times if x > t), None)
        recover = (resume - t) if resume is not None else float("inf")
        if receiving(t):
            recoveries.append(recover)
        print(
            f"  {t - start:7.1f} s  {fps(t - 10, t):5.1f} / {fps(t, t + 10):5.1f} fps  {recover:5.2f} s  {line[-60:]}"
        )
    fault_times = [t for t, _ in faults]

    def explained(a: float, b: float) -> bool:  # a fault started this pause
        return any(a - 0.5 <= t <= b for t in fault_times)

    gaps = [
        b - a
        for a, b in itertools.pairwise(times)
        if b - a > 1.0 and receiving(a) and receiving(b) and not explained(a, b)
    ]
    rss0, rss1 = (state.rss[0][1], state.rss[-1][1]) if state.rss else (0.0, 0.0)
    print(
        f"\nsummary over {elapsed / 60:.1f} min: {len(times)} frames ({len(times) / elapsed:.1f} fps), "
        f"{len(faults)} failpoint faults, {len(off)} receiver outages; worst recovery "
        f"{max(recoveries, default=0):.2f} s, median {statistics.median(recoveries) if recoveries else 0:.2f} s; "
        f"{len(gaps)} pauses over 1 s not caused by a fault or a receiver outage"
    )
    print(f"RSS after the first minute {rss0:.1f} MB, at the end {rss1:.1f} MB (growth {rss1 - rss0:+.1f} MB)")
    kept = saved.get("device_name") == state.last_name
    print(
        f"changes: {state.acked} acknowledged over HTTP, the last one ({state.last_name}) "
        f"{'saved' if kept else 'NOT saved'}; {state.subscriptions} control-port subscriptions confirmed, "
        f"{state.garbage} garbage packets"
    )
    print(f"log: {log_bytes} bytes in {elapsed / 60:.1f} min = {log_bytes / elapsed * 3600:.0f} bytes per hour")
    print(f"service exit status {rc}")


def add_parser(bsub: Any) -> None:
    """Register ``bench soak``."""
    soak = bsub.add_parser("soak", help="the real service under faults in a loop for N minutes")
    soak.add_argument("--minutes", type=float, default=30.0)
    data_args(soak)
    soak.add_argument("--model", default="posenet_mobilenet_v1_075_353_481_16_quant_decoder.tflite")
    soak.add_argument("--failpoints", default=SOAK_FAILPOINTS, help="POSENET_FAILPOINTS for the service")
    soak.set_defaults(func=cmd_soak)
