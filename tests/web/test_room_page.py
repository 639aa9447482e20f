"""The room on the page in a real browser (Debian's Chromium driven by Playwright) against a real
appliance fed by a pose source (``scene:``, no model): a zone added, its corner dragged over the
skeleton view (no camera picture: it is off by default), saved; a bad name refused at its field with
nothing changed; the floor calibrated by dragging a mark, its grid drawn. Screenshot in
``tests/artifacts/webpage-room.png``."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.net import free_tcp_port, wait_http
from tests.support.service import appliance_run_args

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = "/usr/bin/chromium"
OFFLINE = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking"]
#: Pixels of the view whose colour is the floor grid's (green over black).
GRID_PIXELS = """() => {
    const c = document.getElementById('view');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i + 1] > 120 && d[i] < 110 && d[i + 2] < 140) n++;
    return n;
}"""
AT = """([x, y]) => {
    const c = document.getElementById('view');
    const d = c.getContext('2d').getImageData(Math.round(x * c.width), Math.round(y * c.height), 1, 1).data;
    return [d[0], d[1], d[2]];
}"""


@pytest.fixture
def box(models_dir: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = free_tcp_port()
    (tmp_path / "config.json").write_text(json.dumps({"device_name": "room"}))
    model = models_dir / "posenet_mobilenet_v1_075_353_481_16_quant_decoder.tflite"
    proc = subprocess.Popen(
        appliance_run_args("scene:2@10", model, tmp_path, http_port=port, target="127.0.0.1:9/bundle"),
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    wait_http(port)
    yield base, tmp_path
    proc.terminate()
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err


def _config(base: str) -> dict[str, Any]:
    with urllib.request.urlopen(base + "/api/config", timeout=5) as r:
        out: dict[str, Any] = json.load(r)
        return out


def _drag(page: Any, frm: tuple[float, float], to: tuple[float, float]) -> None:
    """Drag with the mouse from one place of the view to another ((x, y) in 0..1 of the view)."""
    page.locator("#view").scroll_into_view_if_needed()
    r = page.locator("#view").bounding_box()
    page.mouse.move(r["x"] + frm[0] * r["width"], r["y"] + frm[1] * r["height"])
    page.mouse.down()
    for k in range(1, 6):
        t = k / 5
        x, y = frm[0] + (to[0] - frm[0]) * t, frm[1] + (to[1] - frm[1]) * t
        page.mouse.move(r["x"] + x * r["width"], r["y"] + y * r["height"])
    page.mouse.up()


def test_zones_and_the_floor_are_drawn_and_edited_on_the_view(box: tuple[str, Path]) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is not installed (.ci/setup installs it)")
    sync_api: Any = pytest.importorskip("playwright.sync_api")
    base, state = box
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=OFFLINE)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844}, bypass_csp=True, device_scale_factor=1)
            page.goto(base + "/")
            page.wait_for_selector("body[data-ready]", timeout=20000)
            page.wait_for_function("document.getElementById('summary').textContent.includes('2 people')", timeout=20000)
            page.click("#room summary")
            # A zone added (a square below the middle) and its first corner dragged up and left.
            page.click("#add-zone")
            assert page.evaluate(AT, [0.5, 0.6]) != [0, 0, 0]  # drawn over the skeletons on black
            _drag(page, (0.35, 0.45), (0.2, 0.3))
            page.click("#save-zones")
            sync_api.expect(page.locator("#message")).to_have_text("zones saved")
            (zone,) = _config(base)["zones"]
            assert zone["name"] == "zone1" and zone["point"] == "feet" and zone["space"] == "image"
            assert zone["points"][0] == pytest.approx([0.2, 0.3], abs=0.01) and zone["points"][1] == [0.65, 0.45]
            # A bad name: refused at its field, nothing changed.
            page.fill("[data-path='zones.0.name']", "not ok!")
            page.click("#save-zones")
            sync_api.expect(page.locator("#message")).to_contain_text("zones.0.name")
            sync_api.expect(page.locator("[data-path='zones.0.name']")).to_have_class("invalid")
            assert _config(base)["zones"] == [zone]
            # The floor: mark 1 dragged, the rectangle's size typed, saved; the grid is drawn.
            page.fill("[data-path='zones.0.name']", "door")
            before = page.evaluate(GRID_PIXELS)
            page.click("#calibrate")
            _drag(page, (0.25, 0.9), (0.15, 0.95))
            page.fill("#floor-width", "5")
            page.fill("#floor-depth", "4")
            page.click("#save-floor")
            sync_api.expect(page.locator("#message")).to_have_text("floor saved")
            floor = _config(base)["floor"]
            assert floor["image"][0] == pytest.approx([0.15, 0.95], abs=0.01) and floor["image"][1] == [0.75, 0.9]
            assert floor["floor"] == [[0.0, 0.0], [5.0, 0.0], [5.0, 4.0], [0.0, 4.0]]
            assert page.evaluate(GRID_PIXELS) > before + 500
            assert page.evaluate("document.documentElement.scrollWidth") <= 390  # fits a phone
            page.screenshot(path=str(ARTIFACTS / "webpage-room.png"), full_page=True)
            # The slots, scene and features settings are ordinary fields.
            for field in ("#f-slots-count", "#f-slots-rule", "#f-scene-rate", "#f-features-hands_seconds"):
                assert page.locator(field).count() == 1, field
            assert json.loads((state / "config.json").read_text())["floor"] == floor
            # Who gets what: a target's extras, from the targets' table (empty: the format's default).
            assert page.input_value("[data-path='targets.0.extras']") == ""
            page.fill("[data-path='targets.0.extras']", "scene, zones")
            page.click("#save-targets")
            sync_api.expect(page.locator("#message")).to_have_text("targets saved")
            assert _config(base)["targets"][0]["extras"] == ["scene", "zones"]
            page.fill("[data-path='targets.0.extras']", "scene, nope")
            page.click("#save-targets")
            sync_api.expect(page.locator("#message")).to_contain_text("not a stage with messages")
            assert _config(base)["targets"][0]["extras"] == ["scene", "zones"]
        finally:
            browser.close()
