"""The hub's page in a real browser (Debian's Chromium through Playwright, under the page's own
content security policy): the floor map draws each box's view (the floor its picture sees) as a
translucent polygon in its colour and each fused person once as a dot with their global id, filled
and ringed with the colours of the two boxes that see them, fits the views, lists the boxes, and
offers the calibration correction the walk gives. The hub is the real service (``posenet-appliance hub --box
...`` on loopback); the two boxes are ``tests.support.fakebox`` boxes sending one walking person
each, box B's floor calibration 3 degrees and 11 cm off A's (issue 22's floor messages, which real
boxes do not send yet). A screenshot goes to tests/artifacts/."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.support.fakebox import FakeBox, walk
from tests.support.net import free_tcp_port

CHROMIUM = "/usr/bin/chromium"
#: Box B's floor calibration is off: its floor is box A's rotated by 3 degrees, then shifted (0.1, 0.05) m.
B_DEGREES, B_SHIFT = 3.0, (0.1, 0.05)


def along(i: int) -> tuple[float, float]:
    """One person walking along x at 0.3 m/s (15 fps), back and forth over 2 m, in box A's floor frame."""
    x = (i * 0.02) % 4.0
    return (1.0 + (x if x <= 2.0 else 4.0 - x), 3.0)


def along_from_b(i: int) -> tuple[float, float]:
    """The same person in box B's (mis)calibrated floor frame."""
    x, y = along(i)
    c, s = math.cos(math.radians(B_DEGREES)), math.sin(math.radians(B_DEGREES))
    return (c * x - s * y + B_SHIFT[0], s * x + c * y + B_SHIFT[1])


#: The floor each box's picture sees (metres, (x, y)): A's from the left wall, B's from the right.
VIEW_A = [(-1.0, 7.5), (5.0, 7.5), (3.0, 0.5), (0.5, 0.5)]
VIEW_B = [(9.0, 8.0), (1.0, 8.0), (2.5, 1.0), (6.0, 1.0)]

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def test_the_floor_map_shows_one_dot_per_person_coloured_by_the_boxes(tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is not installed (.ci/setup installs it)")
    sync_api: Any = pytest.importorskip("playwright.sync_api")
    boxes = [FakeBox(), FakeBox()]
    port = free_tcp_port()
    argv = [sys.executable, "-m", "appliance", "hub", "--state-dir", str(tmp_path), "--http-bind", "127.0.0.1"]
    argv += ["--http-port", str(port), "--control-port", "0", "--oscquery-port", "0", "--no-discovery", "--quiet"]
    argv += [x for b in boxes for x in ("--box", f"127.0.0.1:{b.port}")]
    hub = subprocess.Popen([*argv, "--target", "127.0.0.1:9/bundle"], stderr=subprocess.DEVNULL)
    stop = threading.Event()
    views = (VIEW_A, VIEW_B)
    sender = threading.Thread(target=walk, args=(boxes, [along, along_from_b], 60, stop, (), views), daemon=True)
    sender.start()
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_fused(base)
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.goto(base + "/")
            dots = page.locator("#hub-floor circle")
            sync_api.expect(dots).to_have_count(1, timeout=15000)
            colours = {dots.get_attribute("fill"), dots.get_attribute("stroke")}
            assert colours == {"#2a7de1", "#e1632a"}  # the two boxes' colours (the best one fills)
            sync_api.expect(page.locator("#hub-floor text")).to_have_text(dots.get_attribute("data-id") or "-")
            _check_views(page, sync_api)
            sync_api.expect(page.locator("#hub-boxes li")).to_have_count(2)
            sync_api.expect(page.locator("#hub-boxes li").first).to_contain_text("live, 1 people, clock ok")
            # calibration help: B's floor is A's rotated by 3 degrees: the hub offers the inverse
            help_b = page.locator("#hub-corrections li[data-box]")
            sync_api.expect(help_b).to_contain_text("rotate -3.0°", timeout=20000)
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "webpage-hub.png"), full_page=True)
            browser.close()
    finally:
        stop.set()
        sender.join(2)
        hub.terminate()
        hub.wait(15)
        for b in boxes:
            b.close()


def _check_views(page: Any, sync_api: Any) -> None:
    """One translucent polygon per box in its colour, under the dots; the map fits every corner."""
    polygons = page.locator("#hub-floor polygon")
    sync_api.expect(polygons).to_have_count(2, timeout=15000)
    assert [polygons.nth(i).get_attribute("fill") for i in range(2)] == ["#2a7de1", "#e1632a"]
    drawn = page.eval_on_selector_all(
        "#hub-floor > *", "nodes => nodes.map(n => [n.tagName, n.getAttribute('points')])"
    )
    assert [t for t, _ in drawn][:2] == ["polygon", "polygon"]  # drawn first: under the people
    corners = [[float(c) for c in xy.split(",")] for xy in drawn[1][1].split()]
    assert corners == [list(c) for c in VIEW_B]
    x, y, w, h = (float(v) for v in page.get_attribute("#hub-floor", "viewBox").split())
    for cx, cy in [*VIEW_A, *VIEW_B]:
        assert x < cx < x + w and y < cy < y + h
    assert w <= 60 and h <= 60
    assert page.eval_on_selector("#hub-floor polygon", "p => getComputedStyle(p).fillOpacity") == "0.15"


def _wait_fused(base: str) -> None:
    """Until the hub's status has one person seen by both boxes."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/api/status", timeout=1) as r:
                hub = json.load(r).get("hub") or {}
            if [len(p["boxes"]) for p in hub.get("persons", [])] == [2]:
                return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail("the hub did not fuse the two boxes' person within 60 s")
