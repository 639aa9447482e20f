"""``clock.server = "auto"`` end to end: two real boxes on a venue of private namespaces, box A
serving time (``clock.serve``: ``clock=serve`` in its mDNS TXT records), box B following whichever
box serves (``auto``). B's service writes A's address to ``clock-server`` in its state directory;
``posenet-appliance clock apply`` (as root: here, the test) turns it into chrony's files, and a real
chronyd in B's namespace, started on them, follows a real chronyd serving in A's namespace."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from appliance.timesync import parse_tracking
from tests.support.venue import Machine, venue


def _box(m: Machine, state: Path, clock: dict[str, object]) -> subprocess.Popen[bytes]:
    state.mkdir()
    (state / "config.json").write_text(json.dumps({"device_name": f"box-{m.address[-1]}", "clock": clock}))
    argv = [sys.executable, "-m", "appliance", "run", "--source", "scene:1@5", "--state-dir", str(state)]
    argv += ["--http-bind", m.address, "--http-port", "8080", "--control-port", "9001", "--oscquery-port", "0"]
    argv += ["--interface", m.address, "--target", "127.0.0.1:9/bundle", "--quiet"]
    return subprocess.Popen(m.host_argv(*argv), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _chronyd(m: Machine, folder: Path, name: str, dropin: Path) -> subprocess.Popen[bytes]:
    conf = folder / f"{name}.conf"
    conf.write_text(
        f"driftfile {folder}/{name}.drift\npidfile {folder}/{name}.pid\nbindcmdaddress 127.0.0.1\n"
        f"bindcmdaddress /\ninclude {dropin}\n"
    )
    # -u root: the test's files are in a 0700 folder, which chrony's own user could not read
    return subprocess.Popen(m.argv("chronyd", "-x", "-d", "-u", "root", "-f", str(conf)), stderr=subprocess.DEVNULL)


def test_a_box_set_to_auto_follows_the_box_that_serves_time(tmp_path: Path) -> None:
    with venue("clk", 2) as (a, b):
        procs = [_box(a, tmp_path / "a", {"serve": True}), _box(b, tmp_path / "b", {"server": "auto"})]
        try:
            found = tmp_path / "b" / "clock-server"
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and (not found.exists() or found.read_text().strip() != a.address):
                time.sleep(0.2)
            assert found.read_text().strip() == a.address
            out = {}
            for m, name in ((a, "a"), (b, "b")):
                conf, sources = tmp_path / f"{name}.dropin", tmp_path / f"{name}.sources.d"
                cmd = [sys.executable, "-m", "appliance", "clock", "apply", "--state-dir", str(tmp_path / name)]
                cmd += ["--conf", str(conf), "--sources-dir", str(sources), "--no-reload"]
                out[name] = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
                procs.append(_chronyd(m, tmp_path, name, conf))
            assert "serve=yes" in out["a"] and f"server=auto ({a.address})" in out["b"]
            assert (tmp_path / "b.sources.d" / "hub.sources").read_text() == f"server {a.address} iburst prefer\n"
            tracked = ""
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and f",{a.address}," not in tracked:
                argv = b.argv("chronyc", "-h", "127.0.0.1", "-n", "-c", "tracking")
                tracked = subprocess.run(argv, capture_output=True, text=True).stdout
                time.sleep(0.5)
            t = parse_tracking(tracked)
            assert t.reference == a.address and t.synchronised and abs(t.offset_s) < 0.005, t
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(15)


def test_chronyd_is_installed() -> None:
    if subprocess.run(["which", "chronyd"], capture_output=True).returncode:
        pytest.fail("chronyd is needed (.ci/setup installs chrony)")
