"""The hub's page applies a calibration correction with one click, in a real browser (Debian's
Chromium through Playwright, under the page's content security policy): two real boxes on loopback
(``scene:1`` poses, no model) see the same walker, box B's floor marks turned 8 degrees and shifted
off A's; the real hub (``--box`` on loopback) offers B's correction; the page's "Apply" (with a
token typed, sent once and cleared) says it applied it, and box B's saved floor marks are then
close to A's (metres, (x, y))."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from appliance.pose.calibrate import corrected
from tests.support.net import free_tcp_port, free_udp_port, wait_http

CHROMIUM = "/usr/bin/chromium"
IMAGE = [[0, 0], [1, 0], [1, 1], [0, 1]]
ROOM = [[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0]]


def _service(state: Path, command: str, config: dict[str, Any], *extra: str) -> subprocess.Popen[bytes]:
    state.mkdir()
    (state / "config.json").write_text(json.dumps(config))
    argv = [sys.executable, "-m", "appliance", command, "--state-dir", str(state), "--http-bind", "127.0.0.1"]
    argv += ["--oscquery-port", "0", "--no-discovery", "--quiet", *extra]
    return subprocess.Popen(argv, stderr=subprocess.DEVNULL, start_new_session=True)


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=3) as r:
        return json.load(r)


def test_the_page_applies_the_offered_correction_with_one_click(tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is not installed (.ci/setup installs it)")
    sync_api: Any = pytest.importorskip("playwright.sync_api")
    off = [[round(v, 4) for v in p] for p in corrected(ROOM, 8.0, 0.3, -0.2)]
    controls, https = [free_udp_port(), free_udp_port()], [free_tcp_port(), free_tcp_port(), free_tcp_port()]
    procs = [
        _service(
            tmp_path / f"box{i}",
            "run",
            {"floor": {"image": IMAGE, "floor": floor}},
            *("--source", "scene:1@15", "--control-port", str(controls[i]), "--http-port", str(https[i])),
        )
        for i, floor in enumerate([ROOM, off])
    ]
    boxes = [x for port in controls for x in ("--box", f"127.0.0.1:{port}")]
    procs.append(_service(tmp_path / "hub", "hub", {}, *boxes, "--control-port", "0", "--http-port", str(https[2])))
    base = f"http://127.0.0.1:{https[2]}"
    try:
        wait_http(https[2], 30)
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.goto(base + "/")
            buttons = page.locator("#hub-corrections li[data-box] button")
            sync_api.expect(buttons).to_have_count(1, timeout=60000)
            box = page.locator("#hub-corrections li[data-box]").get_attribute("data-box") or ""
            page.fill("#hub-token", "a-token-typed-here")
            buttons.click()
            state = page.locator("#hub-apply-state")
            sync_api.expect(state).to_contain_text(f"applied to {box}", timeout=15000)
            assert page.input_value("#hub-token") == ""  # sent once, not kept
            browser.close()
        applied = _get(f"http://127.0.0.1:{https[controls.index(int(box.rpartition(':')[2]))]}/api/config")
        other = ROOM if box.endswith(str(controls[1])) else off
        now = applied["floor"]["floor"]
        print(f"{box}'s floor marks now {now}; the reference's {other}")
        assert now != (off if other is ROOM else ROOM)
        assert all(math.dist(p, q) < 0.45 for p, q in zip(now, other, strict=True)), (now, other)
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(15)
