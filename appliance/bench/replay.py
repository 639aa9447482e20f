"""``bench replay``: does a replay keep time? A synthetic recording (people walking, 15 fps with a
camera's jitter) is played to a real UDP receiver on loopback; the receiver's arrival times are
compared with the schedule: the drift at the end of the replay (last frame's error) and the p99 of
every frame's error, each measured from the first frame's arrival. Baseline, in the same process:
the naive player generic OSC recorders use (sleep the gap between frames after each send).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import struct
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from appliance.playback.player import Player, recorded_stages, replayed, window
from appliance.pose.scenes import Walker, scene
from appliance.recording.fileformat import Header, Recording, encode_frame, encode_header, open_recording
from appliance.transport.targets import TargetSet
from appliance.transport.udp import TargetSpec

__all__ = ["add_parser"]

FPS = 15.0
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux


def make_recording(path: Path, minutes: float) -> Recording:
    """A recording of ``minutes`` at 15 fps: three people walking back and forth, capture times
    with +-2 ms of jitter (source pixels, 640 x 480)."""
    frames = int(minutes * 60 * FPS)
    walkers = [Walker(1, (100, 300), (0.5, 0)), Walker(2, (540, 250), (-0.4, 0)), Walker(3, (320, 350), (0.1, 0.02))]
    rng = np.random.default_rng(1)
    with path.open("wb") as f:
        f.write(encode_header(Header("bench", "0", "synthetic", "scene", 640, 480, 0.0, {})))
        chunk = 900
        for start in range(0, frames, chunk):
            poses, _ = scene(walkers, min(chunk, frames - start), fps=FPS, seed=start)
            for p in poses:
                n = start + p.frame_index
                at = n / FPS + float(rng.uniform(-0.002, 0.002)) if n else 0.0
                p = type(p)(p.keypoints, p.scores, p.ids, p.frame_size, n, 1000.0 + at, 1.7e9 + at)
                f.write(encode_frame(p, at, size=(640, 480)))
    return open_recording(path)


class Receiver:
    """A UDP socket on loopback noting when each frame's first datagram arrived: the kernel's
    receive time stamp (``SO_TIMESTAMPNS``), so this process's own scheduling does not count."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.arrivals: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        marker = b"/posenet/frame\x00\x00,iiiiii\x00"
        while not self._stop.is_set():
            try:
                data, ancillary, _, _ = self.sock.recvmsg(65536, 64)
            except TimeoutError:
                continue
            # the kernel stamps on the wall clock; the schedule runs on the monotonic one, and NTP may
            # slew one against the other (60 ppm is 36 ms in 10 minutes): convert with the offset now
            offset = time.time() - time.monotonic()
            now = time.monotonic()
            for level, kind, value in ancillary:
                if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack("@qq", value[:16])
                    now = sec + nsec * 1e-9 - offset
            at = data.find(marker)
            if at >= 0:
                frame = struct.unpack_from(">i", data, at + len(marker))[0]
                self.arrivals.setdefault(frame, now)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


def errors(recording: Recording, arrivals: dict[int, float], speed: float) -> tuple[float, float, float, int]:
    """(drift at the last frame, p99 of |error|, median |error|, frames seen), in seconds: each
    arrival against the schedule ``t0 + (at_i - at_0) / speed``, with ``t0`` placed where the
    arrivals fit it best (their median offset: one late first frame must not shift every other)."""
    ats = {f.poses.frame_index: f.at for f in recording.frames()}
    seen = sorted(f for f in arrivals if f in ats)
    first = seen[0]
    raw = [(arrivals[f] - arrivals[first]) - (ats[f] - ats[first]) / speed for f in seen]
    t0 = statistics.median(raw)
    err = [e - t0 for e in raw]
    ordered = sorted(abs(e) for e in err)
    return err[-1], ordered[int(0.99 * (len(ordered) - 1))], ordered[len(ordered) // 2], len(seen)


def naive_play(recording: Recording, targets: TargetSet, speed: float) -> None:
    """The baseline: send, then sleep the gap to the next frame (errors add up)."""
    last = None
    for frame, poses in replayed(window(recording), recorded_stages(recording)):
        if last is not None:
            time.sleep(max(0.0, (frame.at - last) / speed))
        targets.send(poses)
        last = frame.at


Play = Callable[[Recording, TargetSet, float], Any]


def run_one(recording: Recording, speed: float, play: Play) -> tuple[float, ...]:
    """Play ``recording`` with ``play`` to a fresh receiver: ``errors`` of what arrived."""
    rx = Receiver()
    try:
        with TargetSet([TargetSpec("127.0.0.1", rx.port, "bundle")]) as targets:
            play(recording, targets, speed)
        time.sleep(0.2)
        return errors(recording, rx.arrivals, speed)
    finally:
        rx.close()


def cmd_replay(args: argparse.Namespace) -> int:
    """Print drift and p99 error of the product's replay and of the naive baseline."""
    with tempfile.TemporaryDirectory() as tmp:
        rec = make_recording(Path(tmp) / "bench.jsonl", args.minutes)
        base = make_recording(Path(tmp) / "base.jsonl", args.baseline_minutes)
        n = sum(1 for _ in rec.frames())
        print(f"bench replay: {args.minutes:g} min at {FPS:g} fps ({n} frames), 3 people, bundle format to loopback")
        for speed in args.speeds:
            drift, p99, med, seen = run_one(rec, speed, lambda r, t, s: Player(r, t, speed=s).run())
            print(
                f"  product  speed {speed:g}: {seen}/{n} frames, end drift {drift * 1e3:+.2f} ms, "
                f"p99 error {p99 * 1e3:.2f} ms, median {med * 1e3:.2f} ms "
                f"(goals: drift < {1e3 / FPS:.0f} ms, p99 < 5 ms)"
            )
        nb = sum(1 for _ in base.frames())
        for speed in args.speeds:
            drift, p99, med, seen = run_one(base, speed, naive_play)
            print(
                f"  baseline speed {speed:g} ({args.baseline_minutes:g} min, sleep-the-gap): {seen}/{nb} frames, "
                f"end drift {drift * 1e3:+.2f} ms, p99 error {p99 * 1e3:.2f} ms, median {med * 1e3:.2f} ms"
            )
    return 0


def add_parser(bsub: Any) -> None:
    """Register ``bench replay``."""
    p = bsub.add_parser("replay", help="replay timing: drift and per-frame error against the schedule")
    p.add_argument("--minutes", type=float, default=10.0, help="length of the recording (default 10)")
    p.add_argument("--baseline-minutes", type=float, default=1.0, help="length for the naive baseline (default 1)")
    p.add_argument("--speeds", type=float, nargs="+", default=[1.0, 2.0])
    p.set_defaults(func=cmd_replay)
