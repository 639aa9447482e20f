"""One clock, proved with real chronyd: two boxes in private network namespaces, one serving time
(our drop-in: ``clock.serve``), the other following it (our drop-in: ``clock.server``). The serving
box's chrony believes true time is 200 ms ahead of the (shared) system clock (a reference clock fed
by the test: the step), so the following box is truly 200 ms behind its server; chrony's estimate
is within 1 ms of it, and the doctor on each box reports it and warns (above 5 ms).

Neither chronyd touches the system clock (``-x``: chrony tracks the offset and serves the corrected
time without adjusting the clock).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from appliance.timesync import chrony_conf, parse_tracking
from tests.discovery.netns import LAN, Net, two_namespaces

#: The true offset of the serving box's time (what chrony serves) over the system clock, seconds.
STEP = 0.2


def _require(program: str) -> str:
    path = shutil.which(program) or (f"/usr/sbin/{program}" if Path(f"/usr/sbin/{program}").exists() else None)
    if path is None:
        pytest.fail(f"{program} is not installed (.ci/setup installs chrony)")
    return path


def _conf(folder: Path, name: str, dropin: str, extra: str = "") -> Path:
    """A chronyd configuration of its own files (pid, drift, no Unix socket), including our drop-in."""
    (folder / f"{name}.dropin").write_text(dropin)
    path = folder / f"{name}.conf"
    path.write_text(
        f"driftfile {folder}/{name}.drift\npidfile {folder}/{name}.pid\nbindcmdaddress 127.0.0.1\nbindcmdaddress /\n"
        f"include {folder}/{name}.dropin\n{extra}"
    )
    return path


def _reference(sock: str, stop: threading.Event) -> None:
    """chrony's SOCK reference clock: every 0.25 s, "true time is ``STEP`` s ahead of the system clock"."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    while not stop.wait(0.25):
        now = time.time()
        sample = struct.pack("qqdiiii", int(now), int(now % 1 * 1e6), STEP, 0, 0, 0, 0x534F434B)
        with contextlib.suppress(OSError):  # chronyd not listening yet
            s.sendto(sample, sock)
    s.close()


def _tracking(net: Net, ns: str, timeout: float, source: str) -> str:
    """chronyc's tracking in ``ns`` once it follows ``source`` (or the last answer at ``timeout``)."""
    deadline, out = time.monotonic() + timeout, ""
    while time.monotonic() < deadline:
        proc = subprocess.run(
            net.argv(ns, "chronyc", "-h", "127.0.0.1", "-n", "-c", "tracking"), capture_output=True, text=True
        )
        out = proc.stdout
        if proc.returncode == 0 and f",{source}," in out and ",Normal" in out:
            return out
        time.sleep(0.3)
    return out


def _doctor(net: Net, ns: str, config: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    argv = [sys.executable, "-m", "appliance", "doctor", "--json", "--no-probe", "--config", str(config)]
    proc = subprocess.run(net.argv(ns, *argv), capture_output=True, text=True, timeout=60, env=env)
    return next(c for c in json.loads(proc.stdout)["checks"] if c["name"] == "clock")


def test_a_box_following_a_serving_box_reports_the_true_offset(tmp_path: Path) -> None:
    chronyd = _require("chronyd")
    _require("chronyc")
    stop = threading.Event()
    refsock = str(tmp_path / "ref.sock")
    served = chrony_conf(True, "", str(tmp_path / "none.d"))
    followed = chrony_conf(False, LAN, str(tmp_path / "none.d")).replace(
        "iburst prefer", "iburst prefer minpoll -2 maxpoll -2"
    )
    with two_namespaces("clk") as net:
        server = _conf(tmp_path, "server", served, f"refclock SOCK {refsock} refid STEP poll -2 precision 1e-6\n")
        client = _conf(tmp_path, "client", followed)
        procs = [
            subprocess.Popen(net.argv(net.lan, chronyd, "-x", "-d", "-f", str(server)), stderr=subprocess.DEVNULL),
            subprocess.Popen(net.argv(net.box, chronyd, "-x", "-d", "-f", str(client)), stderr=subprocess.DEVNULL),
        ]
        feeder = threading.Thread(target=_reference, args=(refsock, stop), daemon=True)
        feeder.start()
        try:
            assert ",STEP," in _tracking(net, net.lan, 20, "STEP")
            first = parse_tracking(_tracking(net, net.box, 30, LAN))
            assert first.reference == LAN
            # once it has a few samples, the estimate is within 1 ms of the true offset
            time.sleep(2)
            t = parse_tracking(_tracking(net, net.box, 5, LAN))
            print(f"true offset {-STEP * 1000:+.1f} ms, chrony's estimate {t.offset_s * 1000:+.3f} ms")
            assert abs(t.offset_s + STEP) < 0.001, t
            (tmp_path / "box.json").write_text(json.dumps({"source": "synthetic", "clock": {"server": LAN}}))
            (tmp_path / "lan.json").write_text(json.dumps({"source": "synthetic", "clock": {"serve": True}}))
            follower, serving = (
                _doctor(net, net.box, tmp_path / "box.json"),
                _doctor(net, net.lan, tmp_path / "lan.json"),
            )
        finally:
            stop.set()
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(5)
            feeder.join(2)
    assert follower["status"] == "warn" and f"chrony follows {LAN}" in follower["detail"], follower
    assert "-200." in follower["detail"] and "more than 5 ms" in follower["detail"], follower
    # the serving box's own system clock is 200 ms behind the time it serves (-x: never corrected)
    assert serving["status"] == "warn" and "follows STEP" in serving["detail"], serving
    assert "serving the LAN" in serving["detail"] and "-200." in serving["detail"], serving
