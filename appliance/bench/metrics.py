"""``bench metrics``: what ``GET /metrics`` costs. The real service (``bench footprint-run``: a 10 ms
stand-in for an Edge TPU, the source at full rate, so the Python side is the bottleneck) sends bundles
to a loopback socket; frames per second are counted from those datagrams (no HTTP involved) over
windows without scrapes and with one scrape a second, alternated; each scrape's round trip is timed.
Also the cost of the send thread's histograms per frame (``StageTimings.observe``)."""

from __future__ import annotations

import argparse
import socket
import statistics
import time
import urllib.request
from typing import Any

from appliance.bench.common import data_args, median_time, service_argv

__all__ = ["add_parser"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` used so far, from /proc."""
    import os
    from pathlib import Path

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _window(rx: socket.socket, seconds: float, scrape_url: str | None, pid: int) -> tuple[float, list[float], float]:
    """(datagrams per second over ``seconds``, each scrape's round trip in seconds, the service's CPU
    seconds per second)."""
    n, scrapes = 0, []
    cpu0, t0 = _cpu_seconds(pid), time.monotonic()
    next_scrape = t0
    while (now := time.monotonic()) - t0 < seconds:
        if scrape_url is not None and now >= next_scrape:
            s0 = time.perf_counter()
            with urllib.request.urlopen(scrape_url, timeout=5) as r:
                r.read()
            scrapes.append(time.perf_counter() - s0)
            next_scrape += 1.0
        try:
            rx.recv(65536)
            n += 1
        except TimeoutError:
            pass
    took = time.monotonic() - t0
    return n / took, scrapes, (_cpu_seconds(pid) - cpu0) / took


def _datagrams_per_frame(status_url: str) -> float:
    """Datagrams the target got per frame processed (a bundle may be split to fit a datagram)."""
    import json

    with urllib.request.urlopen(status_url, timeout=5) as r:
        doc = json.load(r)
    return float(doc["targets"][0]["datagrams"]) / max(1, int(doc["pipeline"]["frames_processed"]))


def _observe_cost() -> float:
    """Seconds per frame the send thread spends on the five histograms."""
    from appliance.pipeline.stats import FrameTimes, StageTimings

    timings, times = StageTimings(), FrameTimes(0.002, 0.010, 0.0007, 0.0003)

    def thousand() -> None:
        for _ in range(1000):
            timings.observe(times, 0.013)

    return median_time(thousand, 21) / 1000


def cmd_metrics(args: argparse.Namespace) -> int:
    """Scrape cost in ms, and fps with a scrape every second vs none (medians of alternated windows)."""
    import subprocess
    import tempfile

    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    rx.settimeout(0.05)
    http = _free_port()
    backend = f"replayed by a {args.standin_ms:g} ms stand-in backend" if args.standin_ms else "on the CPU"
    print(f"model {args.model} {backend}, source at full rate; {args.repeat} windows of {args.seconds:g} s each way")
    with tempfile.TemporaryDirectory() as state:
        argv = [*service_argv(args, state, rx.getsockname()[1], 1000.0, args.standin_ms), "--http-port", str(http)]
        proc = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
        try:
            rx.settimeout(120)
            rx.recv(65536)  # the first frame
            rx.settimeout(0.05)
            _window(rx, args.warmup, None, proc.pid)
            url = f"http://127.0.0.1:{http}/metrics"
            none, scraped, trips, cpu_none, cpu_scraped = [], [], [], [], []
            for _ in range(args.repeat):
                fps, _, cpu = _window(rx, args.seconds, None, proc.pid)
                none.append(fps)
                cpu_none.append(cpu)
                fps, rounds, cpu = _window(rx, args.seconds, url, proc.pid)
                scraped.append(fps)
                cpu_scraped.append(cpu)
                trips += rounds
            per_frame = _datagrams_per_frame(f"http://127.0.0.1:{http}/api/status")
        finally:
            proc.terminate()
            proc.wait(timeout=15)
            rx.close()
    a, b = statistics.median(none) / per_frame, statistics.median(scraped) / per_frame
    print(f"scrape round trip over HTTP: median {statistics.median(trips) * 1e3:.2f} ms ({len(trips)} scrapes)")
    span = [f"{min(v) / per_frame:.1f}-{max(v) / per_frame:.1f}" for v in (none, scraped)]
    print(
        f"fps without scrapes: median {a:.1f} (windows {span[0]}); with a scrape every second: median {b:.1f} "
        f"(windows {span[1]}); ratio {b / a:.3f} (counted from the datagrams, {per_frame:.2f} per frame)"
    )
    c0, c1 = statistics.median(cpu_none), statistics.median(cpu_scraped)
    print(
        f"the service's CPU: {c0 * 1e3:.0f} ms/s without scrapes, {c1 * 1e3:.0f} ms/s with one a second: "
        f"{(c1 - c0) * 1e3:.1f} ms of CPU per scrape"
    )
    print(f"per frame, the send thread's five histograms: {_observe_cost() * 1e6:.2f} µs")
    return 0


def add_parser(bsub: Any) -> None:
    """Register ``bench metrics``."""
    p = bsub.add_parser("metrics", help="GET /metrics: ms per scrape, fps with a scrape a second vs none")
    data_args(p)
    p.add_argument("--model", default="posenet_mobilenet_v1_075_481_641_16_quant_decoder.tflite")
    p.add_argument("--standin-ms", type=float, default=10.0, help="0: the real model on the CPU")
    p.add_argument("--seconds", type=float, default=5.0, help="length of each window")
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--repeat", type=int, default=5, help="windows of each kind (alternated)")
    p.add_argument("--threads", type=int, default=2)
    p.set_defaults(func=cmd_metrics)
