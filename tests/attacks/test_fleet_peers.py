"""Hostile fleet peers (issue 19): fake boxes announced over mDNS on a veth pair between two private
network namespaces point the box at loopback, its own address, 0.0.0.0, link-local and off-subnet
listeners, at servers that redirect there, trickle 1 byte a second, answer wrong types, huge or
endless bodies and headers, errors, or another box's status. The box must ask none of the forbidden
places, follow no redirect, answer ``/api/fleet`` without a 5xx, small and quick, keep answering
control-port and HTTP changes while 50 tricklers are being asked, and stop on SIGTERM at once."""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.discovery.boxes import box_command
from tests.discovery.netns import BOX, LAN, two_namespaces

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
TRICKLERS = 50
PROBE_SECONDS = 12


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_hostile_fleet_peers(models_dir: Path, images_dir: Path, tmp_path: Path) -> None:
    env = {**os.environ, "POSENET_MODELS_DIR": str(models_dir), "PYTHONPATH": str(ROOT)}
    procs: list[subprocess.Popen[bytes]] = []
    hits = tmp_path / "forbidden.log"
    hits.touch()
    stats = tmp_path / "hostile.json"

    def start(ns: str, argv: list[str], log: str) -> subprocess.Popen[bytes]:
        with (tmp_path / log).open("wb") as out:
            p = subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdout=out, stderr=subprocess.STDOUT, env=env)
        procs.append(p)
        return p

    def wait_for(path: Path, text: str) -> None:
        end = time.monotonic() + 30
        while text not in (path.read_text() if path.exists() else "") and time.monotonic() < end:
            time.sleep(0.1)

    with two_namespaces("fla") as net:
        counters = [sys.executable, str(HERE / "counters.py"), str(hits)]
        start(net.box, [*counters, "127.0.0.1:18555", f"{BOX}:18556", "0.0.0.0:18558"], "counters-box.log")
        start(net.lan, [*counters, "10.99.0.1:18557", "169.254.1.1:18559"], "counters-lan.log")
        wait_for(tmp_path / "counters-box.log", "listening")
        wait_for(tmp_path / "counters-lan.log", "listening")
        state = tmp_path / "box"
        state.mkdir()
        (state / "config.json").write_text(json.dumps({"device_name": "stage-left"}))
        cmd = box_command(models_dir, images_dir, state, http=18080, address=BOX, http_bind="0.0.0.0")
        box = start(net.box, ["sh", "-c", f"exec {cmd}"], "box.log")
        start(net.lan, [sys.executable, str(HERE / "hostile_peers.py"), LAN, str(stats), str(TRICKLERS)], "hostile.log")
        probe = subprocess.run(
            ["ip", "netns", "exec", net.box, sys.executable, str(HERE / "fleet_probe.py"), f"http://{BOX}:18080",
             "19001", str(PROBE_SECONDS)],
            capture_output=True, text=True, timeout=240, env=env, check=False,
        )  # fmt: skip
        rss_after = _rss_kb(box.pid)
        # Shutdown with a fetch under way: ask the fleet, and stop the box while it is being answered.
        ask = f"import urllib.request as u; u.urlopen('http://{BOX}:18080/api/fleet', timeout=30).read()"
        start(net.box, [sys.executable, "-c", ask], "last-fleet.log")
        time.sleep(0.5)
        open_at_stop = json.loads(stats.read_text())["trickling_open"]
        t0 = time.monotonic()
        box.send_signal(signal.SIGTERM)
        try:
            rc: int | None = box.wait(timeout=45)
        except subprocess.TimeoutExpired:
            rc = None
        stop_s = time.monotonic() - t0
        hostile = json.loads(stats.read_text())
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=30)
    log = (tmp_path / "box.log").read_text()
    assert probe.returncode == 0, probe.stderr + log[-3000:]
    out: dict[str, Any] = json.loads(probe.stdout.splitlines()[-1])
    fleet = out["fleet"]
    control = [c["s"] for c in out["control"]]
    forbidden = hits.read_text().split()
    figures = {
        "forbidden_connections": {k: forbidden.count(k) for k in sorted(set(forbidden))},
        "redirects_asked": {k: v for k, v in hostile["requests"].items() if k.startswith("redirect")},
        "trickle_requests": hostile["trickle_requests"],
        "trickling_open_at_sigterm": open_at_stop,
        "fleet_answers": len(fleet),
        "fleet_not_200": [f["status"] for f in fleet if f["status"] != 200],
        "fleet_median_s": statistics.median(f["s"] for f in fleet) if fleet else None,
        "fleet_max_s": max((f["s"] for f in fleet), default=None),
        "fleet_max_bytes": max((f["bytes"] for f in fleet), default=None),
        "control_changes": len(control),
        "control_unanswered": sum(c is None for c in control),
        "control_median_s": statistics.median(c for c in control if c is not None) if any(control) else None,
        "control_max_s": max((c for c in control if c is not None), default=None),
        "http_change_median_s": statistics.median(c["s"] for c in out["http_change"]) if out["http_change"] else None,
        "http_change_not_200": [c["status"] for c in out["http_change"] if c["status"] != 200],
        "status_max_s": max((s["s"] for s in out["status"]), default=None),
        "sigterm_s": round(stop_s, 2),
        "sigterm_rc": rc,
        "rss_after_mb": round(rss_after / 1024, 1),
        "log_tracebacks": log.count("Traceback"),
        "log_bytes": len(log),
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "fleet_attacks.json").write_text(json.dumps({"figures": figures, **out}, indent=2))
    listed = {e["name"].rsplit("-", 1)[0]: e for e in out["last_fleet"] or []}
    # Nothing reached a forbidden place, directly or through a redirect; the redirects were asked.
    assert not forbidden, figures
    assert len(figures["redirects_asked"]) == 4 and all(figures["redirects_asked"].values()), figures
    for name in ("302-loopback", "301-own", "307-offsubnet", "308-linklocal"):
        entry = listed[f"hostile-redirect-{name}"]
        assert "not followed" in entry["error"] and not entry["verified"], entry
    assert not any(name.startswith("bad-") for name in listed), sorted(listed)
    assert "SECRET" not in json.dumps(out["last_fleet"])
    # Wrong types are unknown, never an error page; strings are cut to size.
    for name in ("pipeline-list", "wrong-types", "json-list", "json-string", "deep-nesting", "not-json", "error-500"):
        entry = listed[f"hostile-{name}"]
        assert entry["state"] == "unknown" and not entry["verified"] and entry["fps"] is None, entry
    assert listed["hostile-huge-body"]["error"].startswith("body over"), listed["hostile-huge-body"]
    assert listed["hostile-another-box"]["error"].startswith("answers as another box")
    assert all(len(e["state"]) <= 40 and len(e["backend"]) <= 120 for e in listed.values())
    assert not figures["fleet_not_200"] and figures["fleet_max_s"] < 3.0 and figures["fleet_max_bytes"] < 64 * 1024
    # 50 tricklers were being asked, and the box kept answering changes promptly.
    assert figures["trickle_requests"] >= 8, figures
    assert figures["control_unanswered"] == 0 and figures["control_max_s"] < 2.0, figures
    assert not figures["http_change_not_200"] and figures["status_max_s"] < 2.0, figures
    # SIGTERM with fetches under way stops the box in its normal time (about 1.5 s without peers).
    assert open_at_stop >= 1 and rc == 0 and stop_s < 8.0, figures
    assert figures["log_tracebacks"] == 0, log[-3000:]
