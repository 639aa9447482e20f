"""The web page in a real browser (Debian's Chromium driven by Playwright) against a real appliance.

The appliance runs as ``posenet-appliance run`` with still images, the HTTP server on loopback.
A screenshot is kept in ``tests/artifacts/webpage.png``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import appliance_run_args, free_tcp_port

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
MODEL = "posenet_mobilenet_v1_075_353_481_16_quant_decoder.tflite"
CHROMIUM = "/usr/bin/chromium"
OFFLINE = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


COUNT_LIT_PIXELS = """() => {
    const c = document.getElementById('view');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] > 60) n++;
    return n;
}"""


@pytest.fixture
def appliance(models_dir: Path, images_dir: Path, tmp_path: Path) -> Iterator[str]:
    port = free_tcp_port()
    proc = subprocess.Popen(
        appliance_run_args(
            f"images:{images_dir}/face.jpg@8", models_dir / MODEL, tmp_path, http_port=port, target="127.0.0.1:9/bundle"
        ),
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "POSENET_MODELS_DIR": str(models_dir)},
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/api/status", timeout=1):
                break
        except OSError:
            time.sleep(0.2)
    yield base
    proc.terminate()
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err


def _config(base: str) -> dict:  # type: ignore[type-arg]
    with urllib.request.urlopen(base + "/api/config", timeout=5) as r:
        return json.load(r)  # type: ignore[no-any-return]


def test_page_shows_skeletons_status_and_changes_targets(appliance: str) -> None:
    if not Path(CHROMIUM).exists():
        msg = "Debian chromium is not installed (.ci/setup installs it)"
        if os.environ.get("POSENET_REQUIRE_MODELS") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=OFFLINE)
        try:
            # Playwright's wait_for_function evaluates strings, which the page's own CSP forbids:
            # this test drives the page, test_the_page_works_under_its_content_security_policy
            # checks the policy.
            page = browser.new_page(viewport={"width": 1300, "height": 760}, bypass_csp=True)
            page.goto(appliance + "/")
            page.wait_for_function("document.getElementById('state').textContent === 'running'", timeout=20000)
            page.wait_for_function("document.getElementById('summary').textContent.includes('4 people')", timeout=20000)
            # Skeletons were drawn: the canvas is no longer all black.
            lit = page.evaluate(COUNT_LIT_PIXELS)
            assert lit > 500
            assert "cpu" in page.text_content("#status")

            # Add a target with the form.
            page.fill("#t-host", "127.0.0.3")
            page.fill("#t-port", "7001")
            page.select_option("#t-format", "arr")
            page.click("#add-target button[type=submit]")
            page.wait_for_function("document.getElementById('message').textContent === 'target added'")
            assert {
                "host": "127.0.0.3",
                "port": 7001,
                "format": "arr",
                "coords": "pixels",  # the form follows the format's own coordinates
                "mirror": False,
                "timetag": "immediate",
            } in _config(appliance)["targets"]
            # "Send to this computer" adds the browser's own address.
            page.fill("#t-port", "7002")
            page.click("#this-computer")
            page.wait_for_function("document.getElementById('message').textContent === 'sending to this computer'")
            assert any(t["host"] == "127.0.0.1" and t["port"] == 7002 for t in _config(appliance)["targets"])
            # A preset fills in the form: one choice for a p5-poses-osc sketch on this computer.
            page.select_option("#t-preset", "p5-poses-osc")
            assert page.input_value("#t-port") == "12000" and page.input_value("#t-coords") == "pixels"
            page.click("#this-computer")
            page.wait_for_function("document.getElementById('message').textContent === 'sending to this computer'")
            assert {
                "host": "127.0.0.1",
                "port": 12000,
                "format": "individual",
                "coords": "pixels",
                "mirror": False,
                "timetag": "immediate",
            } in _config(appliance)["targets"]
            # An invalid threshold is refused with the field named, and nothing changes.
            page.fill("#d-score", "2")
            page.evaluate("document.getElementById('d-score').removeAttribute('max')")
            page.click("#save-decoder")
            page.wait_for_function("document.getElementById('message').classList.contains('error')")
            assert "decoder.min_pose_score" in page.text_content("#message")
            assert _config(appliance)["decoder"]["min_pose_score"] == 0.2
            # Smoothing off and a new beta, saved.
            page.uncheck("#s-enabled")
            page.fill("#s-beta", "6")
            page.click("#save-smoothing")
            page.wait_for_function("document.getElementById('message').textContent === 'saved'")
            smoothing = _config(appliance)["smoothing"]
            assert smoothing["enabled"] is False and smoothing["beta"] == 6
            # Remove the first target from the table.
            before = len(_config(appliance)["targets"])
            page.click("#targets button.remove >> nth=0")
            page.wait_for_function("document.getElementById('message').textContent === 'target removed'")
            assert len(_config(appliance)["targets"]) == before - 1
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "webpage.png"), full_page=True)
        finally:
            browser.close()
    assert shutil.which("chromium") or Path(CHROMIUM).exists()


def test_the_page_works_under_its_content_security_policy(appliance: str) -> None:
    """With the policy in force (no framing, nothing from elsewhere), the page runs without a violation."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is not installed (.ci/setup installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with urllib.request.urlopen(appliance + "/", timeout=5) as r:
        assert r.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=OFFLINE)
        try:
            page = browser.new_page()
            violations: list[str] = []
            page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
            page.goto(appliance + "/")
            state = page.locator("#state")
            sync_api.expect(state).to_have_text("running", timeout=20000)
            sync_api.expect(page.locator("#t-format option")).to_have_count(5)  # choices from the schema
            assert violations == []
            # Another site cannot frame it: Chromium refuses to render it in an iframe.
            page.set_content(f'<iframe id="f" src="{appliance}/"></iframe>')
            page.wait_for_timeout(1000)
            frame = page.frame_locator("#f")
            assert frame.locator("#state").count() == 0
        finally:
            browser.close()
