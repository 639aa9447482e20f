"""The fleet: two boxes in one private network namespace (``unshare --net``, loopback only, so no
multicast leaves the machine) find each other over mDNS; each lists the other at ``/api/fleet``
with its state read from its own API, and its page shows it with a link."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.discovery.boxes import box_command

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CHROMIUM = os.environ.get("POSENET_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "artifacts"


def test_each_box_lists_the_other(models_dir: Path, images_dir: Path, tmp_path: Path) -> None:
    if shutil.which("unshare") is None:
        pytest.fail("unshare (util-linux) is needed to make a private network namespace")
    py = sys.executable

    def box(name: str, http: int, control: int, oscquery: int) -> str:
        state = tmp_path / name
        state.mkdir()
        (state / "config.json").write_text(json.dumps({"device_name": name}))
        box = box_command(models_dir, images_dir, state, http=http, control=control, oscquery=oscquery)
        return f"{box} > {tmp_path / name}.log 2>&1 &"

    browser = [CHROMIUM, str(ARTIFACTS / "fleet.png")] if Path(CHROMIUM).exists() else []
    ARTIFACTS.mkdir(exist_ok=True)
    script = "\n".join(
        [
            "set -e",
            "ip link set lo up",
            box("stage-left", 18080, 19001, 18081),
            "A=$!",
            box("stage-right", 28080, 29001, 28081),
            "B=$!",
            f"until {py} -c 'import urllib.request as u; u.urlopen(\"http://127.0.0.1:18080/api/status\")' "
            "2>/dev/null; do sleep 0.2; done",
            f"{py} {HERE / 'fleet_peer.py'} http://127.0.0.1:18080 stage-right 40 {' '.join(browser)} "
            f"> {tmp_path / 'fleet.json'}",
            "kill -TERM $A $B",
            "wait $A; wait $B",
        ]
    )
    env = {**os.environ, "POSENET_MODELS_DIR": str(models_dir), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        ["unshare", "--net", "sh", "-c", script], capture_output=True, text=True, timeout=180, env=env, check=False
    )
    logs = "\n".join((tmp_path / f"{n}.log").read_text() for n in ("stage-left", "stage-right"))
    assert proc.returncode == 0, proc.stderr + logs
    result = json.loads((tmp_path / "fleet.json").read_text())
    assert result["fleet"] is not None, logs
    (other,) = result["fleet"]  # box A does not list itself
    assert other["name"].startswith("stage-right (") and other["address"] == "127.0.0.1"
    assert other["http_port"] == 28080 and other["url"] == "http://127.0.0.1:28080/"
    assert other["state"] == "running" and other["fps"] > 0 and other["backend"].startswith("cpu")
    if browser:
        assert result["page"] is not None and "stage-right" in result["page"]["text"]
        assert result["page"]["href"] == "http://127.0.0.1:28080/"
