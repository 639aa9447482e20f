"""Attack peer (run inside ``unshare --net`` by test_freeze): the packets that froze the box.

Starts the box (argv after ``--``) with a NOTIFY_SOCKET and WATCHDOG_USEC=2 s, polls
``GET /api/status`` every 50 ms throughout, records every WATCHDOG=1, and runs the scenarios named
in argv[3] (comma-separated):

* ``freeze``: one packet ``/`` + 36 ``*`` + ``x`` from a forged source; then until the box answers
  again (at most 60 s);
* ``bundles``: bundles of 256 of the worst patterns within the caps, as fast as one sender can, 3 s;
* ``zflood``: 2,000 packets ``/posenet/[z-a]x`` (it used to raise out of the protocol) at about 2,000
  a second: the log's growth per packet the box read.

Prints one JSON object: per scenario the slowest and median status answer (ms), failed requests,
the worst ``loop_lag_ms`` reported, the longest gap between WATCHDOG=1 (s), the box's error count.
usage: freeze_peer.py CONTROL_PORT HTTP_PORT SCENARIOS -- BOX ARGV...
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from tests.attacks.netlab import BOX, Box, Poller, Wire, bundle, osc, setup

VISITOR = "10.77.0.50"  # on the box's network
control_port, http_port = int(sys.argv[1]), int(sys.argv[2])
scenarios = sys.argv[3].split(",")
box_argv = sys.argv[sys.argv.index("--") + 1 :]

FREEZE = "/" + "*" * 36 + "x"


def worst(i: int) -> str:
    """The ``i``-th of the worst patterns within the caps (and past them), each one different, so
    that no cache of the box can help."""
    tag = f"{i:x}"
    return [
        FREEZE + tag,
        "/posenet/{" + ",".join(f"{tag}{j}" for j in range(31)) + ",info}",  # a long {} list
        "/posenet/" + "*a" * 7 + "*" + tag,  # as many stars as allowed, each able to stop anywhere
        "/*?*?*?*?*?*?*?" + tag,
        "/posenet/" + "[[[[]" * 4 + tag,  # nested-looking brackets
        "/posenet/[z-a]" + tag,
    ][i % 6]


class Pets(threading.Thread):
    """The WATCHDOG=1 (and other) notifications, with their times."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(name="pets", daemon=True)
        self.sock, self.times = sock, []  # type: ignore[var-annotated]

    def run(self) -> None:
        while True:
            try:
                if self.sock.recv(4096) == b"WATCHDOG=1":
                    self.times.append(time.monotonic())
            except OSError:
                return

    def gap(self, start: float, end: float) -> float:
        """The longest time without WATCHDOG=1 between ``start`` and ``end``."""
        marks = [start, *[t for t in self.times if start <= t <= end], end]
        return max(b - a for a, b in itertools.pairwise(marks))


def summary(poller: Poller, pets: Pets, start: float, end: float, lags_from: int) -> dict[str, Any]:
    samples = [s for t, s in poller.samples if start <= t <= end]
    ok = [s for s in samples if s is not None]
    return {
        "status_requests": len(samples),
        "status_failed": len(samples) - len(ok),
        "status_worst_ms": round(max([*ok, 0.0]) * 1000, 1),
        "status_median_ms": round(statistics.median(ok) * 1000, 1) if ok else None,
        "loop_lag_ms_worst": max(poller.lags[lags_from:], default=None),
        "watchdog_max_gap_s": round(pets.gap(start, end), 2),
        "seconds": round(end - start, 2),
    }


def send_bundles(visitor: socket.socket, seconds: float, rate: float) -> int:
    """Bundles of 256 different worst patterns, ``rate`` a second (0: as fast as one sender can),
    for ``seconds``."""
    garbage = os.environ.get("GARBAGE") == "1"
    packets = [bundle(*[osc(worst(n * 256 + i)) for i in range(256)]) for n in range(50)]
    if garbage:
        packets = [bytes(len(p)) for p in packets]
    sent, n, start = 0, 0, time.monotonic()
    while (now := time.monotonic()) - start < seconds:
        sent += visitor.sendto(packets[n % len(packets)], (BOX, control_port))
        n += 1
        if rate:
            time.sleep(max(0.0, start + n / rate - now))
    return sent


def run(box: Box, wire: Wire, visitor: socket.socket, poller: Poller, pets: Pets) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name in scenarios:
        lags_from, start = len(poller.lags), time.monotonic()
        sent = 0
        if name == "freeze":
            sent = wire.send(osc(FREEZE), "10.77.0.60")
            time.sleep(1.0)
            while time.monotonic() - start < 60:  # until the box answers again
                try:
                    box.status(1.0)
                    break
                except OSError:
                    continue
            time.sleep(1.0)
        elif name == "bundles":  # from another process: this one's GIL must not slow the poller
            with multiprocessing.get_context("fork").Pool(1) as pool:
                sent = pool.apply(send_bundles, (visitor, 3.0, float(os.environ.get("RATE", "300"))))
            start += 0.3  # the sender's start-up (building its bundles) is not part of the attack
            time.sleep(0.5)
        elif name == "zflood":
            log_before, read_before = box.log.stat().st_size, box.status()["control"]["messages"]
            for _ in range(2000):
                sent += wire.send(osc("/posenet/[z-a]x"), "10.77.0.61")
                time.sleep(0.0005)
            time.sleep(1.5)
            grew, read = box.log.stat().st_size - log_before, box.status()["control"]["messages"] - read_before
            result["zflood_log"] = {"packets_read": read, "log_bytes": grew, "bytes_per_packet": round(grew / read, 1)}
        end = time.monotonic()
        result[name] = {**summary(poller, pets, start, end, lags_from), "bytes_sent": sent}
    result["control"] = box.status()["control"]
    return result


def main() -> None:
    setup(VISITOR)
    tmp = Path(tempfile.mkdtemp())
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp / "notify"))
    pets = Pets(notify)
    pets.start()
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp / "notify"), "WATCHDOG_USEC": "2000000"}
    env.pop("WATCHDOG_PID", None)
    box = Box(box_argv, http_port, tmp / "box.log", env)
    visitor = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    visitor.bind((VISITOR, 0))
    result: dict[str, Any] = {}
    try:
        box.wait_running()
        time.sleep(1.0)
        wire = Wire(control_port)
        poller = Poller(box, every=0.05, timeout=30.0)
        poller.start()
        time.sleep(1.0)
        result["idle"] = summary(poller, pets, time.monotonic() - 1.0, time.monotonic(), 0)
        result.update(run(box, wire, visitor, poller, pets))
        poller.stopped.set()
        poller.join(35)
    finally:
        result["box_rc"] = box.stop()
        notify.close()
    result["box_log_tail"] = box.log.read_text()[-600:]
    print(json.dumps(result))


main()
