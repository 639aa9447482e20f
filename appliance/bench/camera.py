"""``bench camera``: what the page's camera view costs the pipeline.

The real service runs (the CPU model, or a stand-in backend that answers in 10 ms like an Edge
TPU), fed faster than it can go so that any CPU the view takes shows up as fewer frames. In the
same process, phases alternate: nobody watching; the live pose stream only (what the page had
before the picture); the whole view (the stream plus a camera picture every 250 ms, as the page
does). fps is frames processed over each phase; the picture's cost is the whole view against the
stream alone. Medians of the
repeats and their ratio are printed. Nothing asserts a time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
from typing import Any

from appliance.bench.common import data_args, service_argv, start_service

__all__ = ["add_parser"]


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def _viewer(base: str, stop: threading.Event, counts: dict[str, int], pictures: bool) -> None:
    """The page: the server-sent pose stream read continuously, and (``pictures``) a camera picture
    every 250 ms."""

    def stream() -> None:
        with urllib.request.urlopen(base + "/api/poses/stream", timeout=10) as r:
            while not stop.is_set():
                if r.readline():
                    counts["events"] += 1

    t = threading.Thread(target=stream, daemon=True)
    t.start()
    while pictures and not stop.is_set():
        with urllib.request.urlopen(base + "/api/camera.jpg", timeout=5) as r:
            counts["bytes"] += len(r.read())
            counts["pictures"] += 1
        stop.wait(0.25)
    stop.wait()


def _phase(base: str, seconds: float, watch: str) -> tuple[float, dict[str, int]]:
    """fps over ``seconds`` with nobody (""), the pose stream ("stream") or the whole view ("view")."""
    counts = {"events": 0, "pictures": 0, "bytes": 0}
    stop = threading.Event()
    viewer = (
        threading.Thread(target=_viewer, args=(base, stop, counts, watch == "view"), daemon=True) if watch else None
    )
    if viewer is not None:
        viewer.start()
        time.sleep(1.0)  # the stream is open and pictures flowing before counting
    a = _get(base + "/api/status")["pipeline"]["frames_processed"]
    t0 = time.monotonic()
    time.sleep(seconds)
    b = _get(base + "/api/status")["pipeline"]["frames_processed"]
    elapsed = time.monotonic() - t0
    stop.set()
    if viewer is not None:
        viewer.join(5)
    return (b - a) / elapsed, counts


def _start(args: argparse.Namespace, state: str, standin_ms: float) -> tuple[subprocess.Popen[str], str]:
    return start_service(service_argv(args, state, 9, args.fps, standin_ms))


def cmd_camera(args: argparse.Namespace) -> int:
    """fps with nobody watching, with the live pose stream, and with the whole view (stream + picture)."""
    print(f"{args.model}, face.jpg fed at {args.fps:g} fps; {args.repeat} rounds of {args.seconds:g} s per phase")
    head = f"{'runs on':28s} {'nobody':>9s} {'live poses':>11s} {'+ picture':>10s}"
    print(head + f" {'ratio: picture':>15s} {'whole page':>11s}  {'pictures/s':>10s} {'kB each':>8s}")
    for standin_ms, label in ((0.0, f"CPU ({args.threads} threads)"), (10.0, "10 ms stand-in (Edge TPU)")):
        with tempfile.TemporaryDirectory() as state:
            proc, base = _start(args, state, standin_ms)
            try:
                deadline = time.monotonic() + 60
                while _get(base + "/api/status").get("pipeline", {}).get("fps", 0) <= 0:
                    if time.monotonic() > deadline:
                        raise RuntimeError("no frames")
                    time.sleep(0.5)
                time.sleep(args.seconds)  # warm up
                fps: dict[str, list[float]] = {"": [], "stream": [], "view": []}
                pictures, sizes = [], []
                for _ in range(args.repeat):
                    for watch in fps:
                        got, counts = _phase(base, args.seconds, watch)
                        fps[watch].append(got)
                        if watch == "view":
                            pictures.append(counts["pictures"] / (args.seconds + 1.0))
                            sizes.append(counts["bytes"] / max(counts["pictures"], 1) / 1024)
            finally:
                proc.terminate()
                proc.wait(15)
        a, b, c = (statistics.median(fps[k]) for k in ("", "stream", "view"))
        print(
            f"{label:28s} {a:9.1f} {b:11.1f} {c:10.1f} {c / b:15.3f} {c / a:11.3f}"
            f"  {statistics.median(pictures):10.1f} {statistics.median(sizes):8.1f}"
        )
    return 0


def add_parser(bsub: Any) -> None:
    """Register ``bench camera``."""
    cam = bsub.add_parser("camera", help="pipeline fps with and without a viewer of the camera picture")
    data_args(cam)
    cam.add_argument("--model", default="posenet_mobilenet_v1_075_481_641_16_quant_decoder.tflite")
    cam.add_argument("--fps", type=float, default=200.0, help="how fast frames are offered (faster than processed)")
    cam.add_argument("--seconds", type=float, default=6.0, help="length of each phase")
    cam.add_argument("--repeat", type=int, default=3)
    cam.add_argument("--threads", type=int, default=2)
    cam.set_defaults(func=cmd_camera)
