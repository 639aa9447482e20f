"""What the benchmarks share: their data options, medians of timed calls, the test photos, a
process's resident memory and the command line of the real service. Every other bench module imports
this one; it imports none of them."""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["data_args", "images_in", "median_time", "rss_mb", "service_argv", "start_service"]


def data_args(parser: Any) -> Any:
    """The options every benchmark takes: where the test photos and the models are."""
    parser.add_argument("--images", default="../shared/images", help="folder of test photos")
    parser.add_argument("--models-dir", help="models folder (default: $POSENET_MODELS_DIR)")
    return parser


def median_time(fn: Callable[[], object], repeat: int, warmup: int = 3) -> float:
    """Median seconds of ``repeat`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def images_in(folder: Path) -> list[Path]:
    """The photos in ``folder`` (JPEG, BMP, PNG), sorted."""
    return sorted(p for p in folder.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".bmp", ".png"))


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MB (0 when unknown)."""
    with Path(f"/proc/{pid}/status").open() as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def service_argv(args: argparse.Namespace, state: str, port: int, fps: float, standin_ms: float) -> list[str]:
    """The real service on face.jpg at ``fps``, bundles to ``port`` on loopback, HTTP on a free loopback
    port, no control port, OSCQuery or mDNS: ``run`` on the CPU, or with ``standin_ms`` the same with a
    backend replaying the model's outputs every that many ms (``bench footprint-run``)."""
    import os
    import sys

    model = Path(args.models_dir or os.environ.get("POSENET_MODELS_DIR", ".")) / args.model
    image = Path(args.images).resolve() / "face.jpg"
    argv = [sys.executable, "-m", "appliance"]
    if standin_ms:
        argv += ["bench", "footprint-run", "--standin-ms", str(standin_ms), "--model", str(model)]
        argv += ["--image", str(image), "--port", str(port), "--state-dir", state, "--fps", str(fps)]
    else:
        argv += ["run", "--source", f"images:{image}@{fps:g}", "--model", str(model), "--state-dir", state]
        argv += ["--target", f"127.0.0.1:{port}/bundle", "--http-bind", "127.0.0.1", "--http-port", "0"]
        argv += ["--control-port", "0", "--oscquery-port", "0", "--no-discovery", "--quiet"]
        argv += ["--threads", str(args.threads), "--accelerator", "cpu"]
    return argv


def start_service(argv: list[str]) -> tuple[subprocess.Popen[str], str]:
    """Start the real service (``argv``) and wait (at most 120 s) until its HTTP server says where it
    is: (process, HTTP base URL). Its standard error is drained afterwards; RuntimeError if it never
    said (the process is killed)."""
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    deadline = time.monotonic() + 120
    for line in proc.stderr:
        found = re.search(r"web page and API on (http://[0-9.]+:\d+)/", line)
        if found:
            threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep the pipe drained
            return proc, found.group(1)
        if time.monotonic() > deadline:
            break
    proc.kill()
    raise RuntimeError("the service did not start")
