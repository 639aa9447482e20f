"""A visitor holds 1,100 idle TCP connections to the box (started, as systemd would by default, with
1,024 file descriptors): the page and the API keep answering, changes are still saved, idle
connections are closed, and the journal does not fill."""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.net import free_tcp_port
from tests.support.service import appliance_run_args

MODEL = "posenet_mobilenet_v1_075_353_481_16_quant_decoder.tflite"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
FLOOD = 1100


def get(url: str, timeout: float = 10) -> tuple[float, dict]:  # type: ignore[type-arg]
    t0 = time.monotonic()
    with urllib.request.urlopen(url, timeout=timeout) as r:
        doc = json.load(r)
    return time.monotonic() - t0, doc


def test_a_thousand_idle_connections_do_not_take_the_box_down(
    models_dir: Path, images_dir: Path, tmp_path: Path
) -> None:
    if shutil.which("prlimit") is None:
        pytest.fail("prlimit (util-linux) is needed")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    port = free_tcp_port()
    log = tmp_path / "box.log"
    args = appliance_run_args(f"images:{images_dir}/face.jpg@5", models_dir / MODEL, tmp_path, http_port=port)
    env = {**os.environ, "POSENET_MODELS_DIR": str(models_dir)}
    with log.open("w") as out:
        box = subprocess.Popen(["prlimit", "--nofile=1024:1024", *args], stderr=out, env=env)
    base = f"http://127.0.0.1:{port}"
    held: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if get(base + "/api/status", 1)[1]["state"] == "running":
                    break
            except OSError:
                time.sleep(0.2)
        log_before = log.stat().st_size
        t0 = time.monotonic()
        for _ in range(FLOOD):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            held.append(s)
        flood_s = time.monotonic() - t0
        time.sleep(1.0)
        times = []
        for _ in range(5):
            elapsed, _ = get(base + "/api/status")
            times.append(elapsed)
        req = urllib.request.Request(
            base + "/api/config",
            data=b'{"device_name": "still-here"}',
            method="PATCH",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200
        assert json.loads((tmp_path / "config.json").read_text())["device_name"] == "still-here"
        time.sleep(12)  # past the 10 s a connection has to send its request
        _, after = get(base + "/api/status")
        log_growth = log.stat().st_size - log_before
    finally:
        for s in held:
            s.close()
        box.terminate()
        box.wait(timeout=15)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    http = after["servers"]["http"]["detail"]
    line = (
        f"{FLOOD} idle connections opened in {flood_s:.2f} s; GET /api/status under the flood: median "
        f"{sorted(times)[2] * 1000:.1f} ms, worst {max(times) * 1000:.1f} ms; config saved; log grew "
        f"{log_growth} bytes; http server: {http}"
    )
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "connection-flood.txt").write_text(line + "\n")
    print(line)
    assert max(times) < 3.0, line
    assert log_growth < 2000, log.read_text()[-2000:]
    assert box.returncode == 0
    # Every idle connection was closed: evicted for newcomers, or timed out.
    opened, _refused, evicted, timed_out = (int(n) for n in re.findall(r"\d+", http))
    assert opened <= 2 and evicted + timed_out >= FLOOD - 10, http
