"""The fleet: two real boxes in two private network namespaces joined by a veth pair (no multicast
leaves the machine) find each other over mDNS; box A lists box B at ``/api/fleet`` with its state
read from B's own API, first, even while 1,000 fake boxes are announced, and A's page shows B with a
link."""

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
from tests.discovery.netns import BOX, FAKES, LAN, two_namespaces

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CHROMIUM = os.environ.get("POSENET_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "artifacts"
FAKE_COUNT = 1000


def test_real_box_listed_first_among_1000_fakes(models_dir: Path, images_dir: Path, tmp_path: Path) -> None:
    env = {**os.environ, "POSENET_MODELS_DIR": str(models_dir), "PYTHONPATH": str(ROOT)}
    procs: list[subprocess.Popen[bytes]] = []

    def start(argv: list[str], log: str) -> subprocess.Popen[bytes]:
        with (tmp_path / log).open("wb") as out:
            p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        procs.append(p)
        return p

    def box(net_ns: str, name: str, address: str) -> subprocess.Popen[bytes]:
        state = tmp_path / name
        state.mkdir()
        (state / "config.json").write_text(json.dumps({"device_name": name}))
        cmd = box_command(models_dir, images_dir, state, http=18080, control=19001, oscquery=18081, address=address)
        return start(["ip", "netns", "exec", net_ns, "sh", "-c", f"exec {cmd}"], f"{name}.log")

    def peer(ns: str, *args: str) -> dict[str, Any]:
        argv = [sys.executable, str(HERE / "fleet_peer.py"), args[0], f"http://{BOX}:18080", *args[1:]]
        done = subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=180, env=env)
        assert done.returncode == 0, done.stderr + logs()
        return json.loads(done.stdout.splitlines()[-1])

    def logs() -> str:
        return "\n".join(
            f"--- {n}\n" + (tmp_path / f"{n}.log").read_text()[-3000:]
            for n in ("stage-left", "stage-right", "fakes")
            if (tmp_path / f"{n}.log").exists()
        )

    with two_namespaces("flt") as net:
        a = box(net.box, "stage-left", BOX)
        # 1,000 fake boxes named to sort before the real one, each at its own address (lan answers
        # for them all, refusing the connection), announced every second, before box B starts.
        fakes = [LAN, str(FAKE_COUNT), "aaa-fake", f"{FAKES}+", "18080", "4500", "90"]
        start(net.argv(net.lan, sys.executable, str(HERE / "fake_boxes.py"), *fakes), "fakes.log")
        flood = peer(net.box, "fakes", "aaa-fake", "64", "60")
        assert flood["ok"], flood["fleet"][:3]
        box(net.lan, "stage-right", LAN)
        browser = [CHROMIUM, str(ARTIFACTS / "fleet.png")] if Path(CHROMIUM).exists() else []
        ARTIFACTS.mkdir(exist_ok=True)
        result = peer(net.box, "first", "stage-right", "90", "4", *browser)
        t0 = time.monotonic()
        a.send_signal(signal.SIGTERM)
        rc = a.wait(timeout=30)
        stop_s = time.monotonic() - t0
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=30)
    answers = flood["answers"] + result["answers"]
    figures = {
        "fakes_listed_after_s": flood["after_s"],
        "real_first_after_s": result["after_s"],
        "answers": len(answers),
        "median_s": statistics.median(a["s"] for a in answers),
        "max_s": max(a["s"] for a in answers),
        "max_bytes": max(a["bytes"] for a in answers),
        "sigterm_s": round(stop_s, 2),
    }
    (ARTIFACTS / "fleet_fakes.json").write_text(json.dumps(figures, indent=2))
    assert result["ok"], f"{figures}\n{result['fleet'][:3]}\n{logs()}"
    assert result["stayed_first"], result["fleet"][:3]
    other = result["fleet"][0]
    assert other["name"].startswith("stage-right (") and other["address"] == LAN and other["verified"]
    assert other["http_port"] == 18080 and other["url"] == f"http://{LAN}:18080/"
    assert other["state"] == "running" and other["fps"] > 0 and other["backend"].startswith("cpu")
    assert not any(e["name"].startswith("stage-left") for e in result["fleet"])  # A does not list itself
    fakes = [e for e in result["fleet"][1:] if e["name"].startswith("aaa-fake")]
    assert fakes and not any(e["verified"] for e in fakes)
    assert len(result["fleet"]) <= 64 and figures["max_bytes"] < 64 * 1024, figures
    assert all(a["status"] == 200 for a in answers) and figures["max_s"] < 3.0, figures
    assert rc == 0 and stop_s < 10, figures
    if browser:
        assert result["page"] is not None and "stage-right" in result["page"]["text"]
        assert result["page"]["href"] == f"http://{LAN}:18080/"
