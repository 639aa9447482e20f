"""The web page in a real browser (Debian's Chromium driven by Playwright) against a real appliance.

The appliance runs as ``posenet-appliance run`` with still images, the HTTP server on loopback.
Screenshots at phone and laptop widths are kept in ``tests/artifacts/`` (``webpage-phone.png``,
``webpage-laptop.png``, ``webpage-settings-error.png``).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.net import free_tcp_port, wait_http
from tests.support.service import appliance_run_args

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
MODEL = "posenet_mobilenet_v1_075_353_481_16_quant_decoder.tflite"
TOKEN = "owner-token-0123"
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
    (tmp_path / "config.json").write_text(json.dumps({"device_name": "stage-left"}))
    proc = subprocess.Popen(
        appliance_run_args(
            f"images:{images_dir}/face.jpg@8", models_dir / MODEL, tmp_path, http_port=port, target="127.0.0.1:9/bundle"
        ),
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "POSENET_MODELS_DIR": str(models_dir)},
    )
    base = f"http://127.0.0.1:{port}"
    wait_http(port)
    yield base
    assert not [p for p in tmp_path.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg")]  # never stored
    proc.terminate()
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err


def _get(base: str, path: str) -> Any:
    with urllib.request.urlopen(base + path, timeout=5) as r:
        return json.load(r)


def _config(base: str) -> dict:  # type: ignore[type-arg]
    with urllib.request.urlopen(base + "/api/config", timeout=5) as r:
        return json.load(r)  # type: ignore[no-any-return]


PICTURE_DRAWN = """() => {
    const c = document.getElementById('view');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const colours = new Set();
    for (let i = 0; i < d.length; i += 4 * 7) colours.add((d[i] >> 3) << 10 | (d[i + 1] >> 3) << 5 | (d[i + 2] >> 3));
    return colours.size;
}"""


def _chromium() -> object:
    if not Path(CHROMIUM).exists():
        msg = "Debian chromium is not installed (.ci/setup installs it)"
        if os.environ.get("POSENET_REQUIRE_MODELS") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return pytest.importorskip("playwright.sync_api")


def test_the_view_shows_the_camera_with_skeletons_ids_and_scores(appliance: str) -> None:
    sync_api: Any = _chromium()
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=OFFLINE)
        try:
            for name, viewport in (
                ("phone", {"width": 390, "height": 844}),
                ("laptop", {"width": 1366, "height": 900}),
            ):
                # Playwright evaluates strings, which the page's own CSP forbids: drive with bypass_csp;
                # test_the_page_works_under_its_content_security_policy checks the policy.
                page = browser.new_page(viewport=viewport, bypass_csp=True, device_scale_factor=1)
                page.goto(appliance + "/")
                sync_api.expect(page.locator("#state")).to_have_text("running", timeout=20000)
                page.wait_for_function(
                    "document.getElementById('summary').textContent.includes('4 people')", timeout=20000
                )
                if name == "phone":  # off by default (privacy): the page says so, then the owner turns it on
                    sync_api.expect(page.locator("#picture-note")).to_contain_text("off on this box", timeout=10000)
                    _patch(appliance, {"http": {"camera_view": True}})
                # The camera picture is drawn (thousands of colours, not a black canvas with lines) ...
                page.wait_for_function(PICTURE_DRAWN.replace("return colours.size;", "return colours.size > 2000;"))
                # ... with the status at a glance in the header.
                sync_api.expect(page.locator("#g-people")).to_have_text("4")
                assert float(page.text_content("#g-fps") or "0") > 0
                sync_api.expect(page.locator("#g-backend")).to_contain_text("cpu")
                sync_api.expect(page.locator("#health li[data-check=runtime]")).to_contain_text("pose decoder")
                page.screenshot(path=str(ARTIFACTS / f"webpage-{name}.png"), full_page=True)
                if name == "phone":  # readable on a phone: nothing wider than the screen
                    assert page.evaluate("document.documentElement.scrollWidth") <= 390
                page.close()
            # Turning the picture off leaves only the skeletons on black.
            page = browser.new_page(bypass_csp=True)
            page.goto(appliance + "/")
            page.wait_for_function(PICTURE_DRAWN.replace("return colours.size;", "return colours.size > 2000;"))
            page.uncheck("#show-picture")
            lit = COUNT_LIT_PIXELS.replace("return n;", "return n / (c.width * c.height) < 0.1;")
            page.wait_for_function(lit)
        finally:
            browser.close()


def test_every_setting_is_on_the_page_changes_persist_and_errors_show_at_the_field(
    appliance: str, tmp_path: Path
) -> None:
    sync_api: Any = _chromium()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=OFFLINE)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900}, bypass_csp=True)
            page.goto(appliance + "/")
            page.wait_for_selector("body[data-ready]", timeout=20000)
            # Every leaf of the schema has a field (except the token, which has its own form).
            schema = json.loads(urllib.request.urlopen(appliance + "/api/config/schema", timeout=5).read())
            wanted = _leaves(schema, schema, "") - {"schema_version", "http.token"}
            wanted = {w for w in wanted if not w.startswith(("targets", "zones", "floor"))}  # their own editors
            shown = set(page.eval_on_selector_all("#settings [data-path]", "els => els.map(e => e.dataset.path)"))
            assert wanted <= shown, wanted - shown
            # The model is chosen from the installed ones, with their family.
            options = page.eval_on_selector_all("#f-inference-model option", "els => els.map(e => e.textContent)")
            assert any("movenet" in o for o in options) and any("posenet" in o for o in options)
            # A setting changed, saved, and there after a reload (and in the saved file).
            page.fill("#f-device_name", "stage-right")
            page.locator("#f-device_name").evaluate("e => e.form.requestSubmit()")
            sync_api.expect(page.locator("#message")).to_have_text("saved")
            page.reload()
            page.wait_for_selector("body[data-ready]", timeout=20000)
            sync_api.expect(page.locator("#name")).to_have_text("stage-right", timeout=10000)
            sync_api.expect(page.locator("#f-device_name")).to_have_value("stage-right")
            assert json.loads((tmp_path / "config.json").read_text())["device_name"] == "stage-right"
            # An invalid value is shown at its field, and nothing changes.
            page.fill("#f-decoder-max_poses", "50")
            page.locator("#f-decoder-max_poses").evaluate("e => { e.removeAttribute('max'); e.form.requestSubmit(); }")
            sync_api.expect(page.locator("#e-decoder-max_poses")).to_contain_text("less than or equal to 20")
            sync_api.expect(page.locator("#f-decoder-max_poses")).to_have_class("invalid")
            assert _config(appliance)["decoder"]["max_poses"] == 10
            page.locator("#f-decoder-max_poses").scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "webpage-settings-error.png"))
            # Smoothing from the page.
            page.uncheck("#f-smoothing-enabled")
            page.fill("#f-smoothing-beta", "6.5")
            page.locator("#f-smoothing-beta").evaluate("e => e.form.requestSubmit()")
            sync_api.expect(page.locator("#message")).to_have_text("saved")
            smoothing = _config(appliance)["smoothing"]
            assert smoothing["enabled"] is False and smoothing["beta"] == 6.5
        finally:
            browser.close()


def _leaves(schema: dict[str, Any], node: dict[str, Any], path: str) -> set[str]:
    if "$ref" in node:
        node = schema["$defs"][node["$ref"].split("/")[-1]]
    if node.get("type") == "object" and "properties" in node:
        return set().union(*(_leaves(schema, v, f"{path}.{k}" if path else k) for k, v in node["properties"].items()))
    return {path}


def test_targets_presets_and_this_computer(appliance: str) -> None:
    sync_api: Any = _chromium()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=OFFLINE)
        try:
            page = browser.new_page(bypass_csp=True)
            page.goto(appliance + "/")
            page.wait_for_selector("body[data-ready]", timeout=20000)
            sync_api.expect(page.locator("#targets tbody tr")).to_have_count(1)
            # A preset fills in the quick form: one choice for a p5-poses-osc sketch on this computer.
            page.select_option("#t-preset", "p5-poses-osc")
            assert page.input_value("#t-port") == "12000" and page.input_value("#t-coords") == "pixels"
            page.click("#this-computer")
            sync_api.expect(page.locator("#message")).to_have_text("sending to this computer")
            assert {
                "host": "127.0.0.1",
                "port": 12000,
                "format": "individual",
                "coords": "pixels",
                "mirror": False,
                "timetag": "immediate",
            } in _config(appliance)["targets"]
            # Edit the table: a new row, a bad port shown at its cell, then fixed and saved.
            page.click("#add-row")
            row = page.locator("#targets tbody tr").nth(2)
            row.locator("[data-path$='.host']").fill("127.0.0.3")
            row.locator("[data-path$='.port']").fill("0")
            page.click("#save-targets")
            sync_api.expect(page.locator("#e-targets-2-port")).to_contain_text("greater than or equal to 1")
            row.locator("[data-path$='.port']").fill("7001")
            row.locator("[data-path$='.format']").select_option("arr")
            page.click("#save-targets")
            sync_api.expect(page.locator("#message")).to_have_text("targets saved")
            assert [t["port"] for t in _config(appliance)["targets"]] == [9, 12000, 7001]
            page.locator("#targets tbody tr").first.locator("button.remove").click()
            page.click("#save-targets")
            sync_api.expect(page.locator("#message")).to_have_text("targets saved")
            assert [t["port"] for t in _config(appliance)["targets"]] == [12000, 7001]
        finally:
            browser.close()


def test_the_camera_picture_is_off_by_default_and_the_owners(appliance: str) -> None:
    """Off by default for everyone; once the owner turns it on, served to the owner (here: the box
    itself; a visitor needs the token: tests/web/test_private_by_default.py) as a small JPEG, not cached."""
    with pytest.raises(urllib.error.HTTPError) as off:
        urllib.request.urlopen(appliance + "/api/camera.jpg", timeout=5)
    assert off.value.code == 404 and "camera_view" in off.value.read().decode()
    off.value.close()
    _patch(appliance, {"http": {"camera_view": True, "token": TOKEN}})
    with urllib.request.urlopen(appliance + "/api/camera.jpg", timeout=5) as r:  # the box itself
        data = r.read()
        assert r.headers["Content-Type"] == "image/jpeg" and r.headers["Cache-Control"] == "no-store"
        assert data[:2] == b"\xff\xd8" and r.headers["X-Frame-Size"] == "512x355"
    _patch(appliance, {"http": {"camera_view": False}}, TOKEN)
    with pytest.raises(urllib.error.HTTPError) as off:
        urllib.request.urlopen(appliance + "/api/camera.jpg", timeout=5)
    assert off.value.code == 404
    off.value.close()


def _patch(base: str, body: dict[str, Any], token: str = "") -> None:
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
    req = urllib.request.Request(base + "/api/config", data=json.dumps(body).encode(), method="PATCH", headers=headers)
    with urllib.request.urlopen(req, timeout=5):
        pass


def test_secrets_on_the_page_are_never_shown_and_saving_a_form_keeps_them(appliance: str, tmp_path: Path) -> None:
    """The subscribe keys (the box's and the hub's) are empty password fields saying whether one is set;
    saving their form without typing one keeps it (before, the empty field cleared it); typing one sets it."""
    sync_api: Any = _chromium()
    _patch(appliance, {"osc_control": {"subscribe_key": "box-key-123"}, "hub": {"subscribe_key": "venue-key-1"}})
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=OFFLINE)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900}, bypass_csp=True)
            page.goto(appliance + "/")
            page.wait_for_selector("body[data-ready]", timeout=20000)
            for field in ("#f-osc_control-subscribe_key", "#f-hub-subscribe_key"):
                sync_api.expect(page.locator(field)).to_have_attribute("type", "password")
                sync_api.expect(page.locator(field)).to_have_value("")
                sync_api.expect(page.locator(field)).to_have_attribute("placeholder", "set: empty keeps it")
            assert "box-key-123" not in page.content() and "venue-key-1" not in page.content()
            _submit(page, "f-hub-late_ms", "180")
            saved = _saved_when(tmp_path, lambda c: c.get("hub", {}).get("late_ms") == 180)
            assert saved["hub"]["subscribe_key"] == "venue-key-1"
            _rendered_again(page, "f-hub-late_ms")
            _submit(page, "f-osc_control-lease_seconds", "90")
            saved = _saved_when(tmp_path, lambda c: c.get("osc_control", {}).get("lease_seconds") == 90)
            assert saved["osc_control"]["subscribe_key"] == "box-key-123"
            _rendered_again(page, "f-osc_control-lease_seconds")
            page.fill("#f-hub-subscribe_key", "venue-key-2")
            page.locator("#f-hub-subscribe_key").evaluate("e => e.form.requestSubmit()")
            _saved_when(tmp_path, lambda c: c["hub"]["subscribe_key"] == "venue-key-2")
        finally:
            browser.close()


def _submit(page: Any, field: str, value: str) -> None:
    """Type ``value`` into the field with id ``field`` and submit its form, the field marked stale:
    after a save the page draws its settings again (``_rendered_again`` waits for that)."""
    page.fill("#" + field, value)
    page.locator("#" + field).evaluate("e => { e.dataset.stale = '1'; e.form.requestSubmit(); }")


def _rendered_again(page: Any, field: str) -> None:
    """Wait until the page drew its settings again after a save (what is typed before is lost)."""
    page.wait_for_function(
        "id => { const e = document.getElementById(id); return e && !e.dataset.stale; }", arg=field, timeout=15000
    )


def _saved_when(state: Path, ok: Callable[[dict[str, Any]], bool], timeout: float = 15.0) -> dict[str, Any]:
    """The saved configuration once ``ok`` says it is (AssertionError with it after ``timeout`` s)."""
    deadline = time.monotonic() + timeout
    while True:
        saved: dict[str, Any] = json.loads((state / "config.json").read_text())
        if ok(saved) or time.monotonic() > deadline:
            assert ok(saved), saved
            return saved
        time.sleep(0.1)


def test_the_page_works_under_its_content_security_policy(appliance: str) -> None:
    """With the policy in force (no framing, nothing from elsewhere), the page runs without a violation."""
    sync_api: Any = _chromium()
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
            sync_api.expect(page.locator("#state")).to_have_text("running", timeout=20000)
            sync_api.expect(page.locator("#t-format option")).to_have_count(5)  # choices from the server
            sync_api.expect(page.locator("#health li")).to_have_count(10, timeout=10000)
            page.wait_for_timeout(1000)  # a few camera pictures drawn
            assert violations == []
            # Another site cannot frame it: Chromium refuses to render it in an iframe.
            page.set_content(f'<iframe id="f" src="{appliance}/"></iframe>')
            page.wait_for_timeout(1000)
            frame = page.frame_locator("#f")
            assert frame.locator("#state").count() == 0
        finally:
            browser.close()


def test_the_record_button_records_and_shows_time_and_size(appliance: str) -> None:
    """Record from the page: the button turns into Stop with the elapsed time and the file's size;
    the recording is listed afterwards."""
    sync_api: Any = _chromium()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=OFFLINE)
        try:
            page = browser.new_page()
            page.goto(appliance + "/")
            page.wait_for_selector("body[data-ready]", timeout=20000)
            sync_api.expect(page.locator("#record")).to_have_text("● Record")
            page.click("#record")
            sync_api.expect(page.locator("#record")).to_have_text("■ Stop recording", timeout=5000)
            sync_api.expect(page.locator("#rec-state")).to_contain_text(" MB", timeout=5000)
            sync_api.expect(page.locator("#rec-state")).to_contain_text("recording rec-")
            time.sleep(1.5)
            page.click("#record")
            sync_api.expect(page.locator("#record")).to_have_text("● Record", timeout=5000)
            sync_api.expect(page.locator("#rec-state")).to_contain_text("frames")
        finally:
            browser.close()
    with urllib.request.urlopen(appliance + "/api/recordings", timeout=5) as r:
        files = json.load(r)["recordings"]
    assert len(files) == 1 and files[0]["name"].startswith("rec-") and files[0]["bytes"] > 1000


PLOT_PIXELS = """(key) => {
    const c = document.querySelector(`canvas.plot[data-plot="${key}"]`);
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;  // pixels of the line's colour (fps: #5ac8ff)
    for (let i = 0; i < d.length; i += 4) if (d[i + 2] > 120 && d[i + 2] > d[i] + 50) n++;
    return n;
}"""


def test_the_plots_show_the_last_minutes_a_drop_and_an_outage(appliance: str) -> None:
    """The page plots fps, people, latency and temperature from the status it polls: a drop in fps
    (the source slowed from 8 to 2 frames a second) and a time the box was unreachable are seen."""
    sync_api: Any = _chromium()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=OFFLINE)
        try:
            # The box keeps its last minutes: a page opened later shows them too.
            deadline = time.monotonic() + 20
            while len(_get(appliance, "/api/status/history")["samples"]) < 2:
                assert time.monotonic() < deadline
                time.sleep(0.5)
            page = browser.new_page(bypass_csp=True, viewport={"width": 1366, "height": 900})
            opened = time.time()
            page.goto(appliance + "/")
            sync_api.expect(page.locator("canvas.plot")).to_have_count(4)
            page.wait_for_function(f"Number(document.querySelector('[data-plot=fps]').dataset.first) < {opened * 1000}")
            page.wait_for_function("Number(document.querySelector('[data-plot=fps]').dataset.last) > 5", timeout=20000)
            page.wait_for_function("document.querySelector('[data-plot=people]').dataset.last === '4'")
            assert float(page.get_attribute("[data-plot=latency]", "data-last") or "0") > 0
            page.wait_for_function("Number(document.querySelector('[data-plot=fps]').dataset.points) >= 5")
            assert page.evaluate(PLOT_PIXELS, "fps") > 5  # the line is drawn
            _patch(appliance, {"source": _config(appliance)["source"].replace("@8", "@2")})
            page.wait_for_function("Number(document.querySelector('[data-plot=fps]').dataset.last) < 3", timeout=30000)
            gaps = int(page.get_attribute("[data-plot=fps]", "data-gaps") or "0")  # (a rebuild may show one)
            page.route("**/api/status", lambda route: route.abort())  # the box unreachable for a while
            page.wait_for_timeout(2500)
            page.unroute("**/api/status")
            page.wait_for_function(
                f"document.querySelector('[data-plot=fps]').dataset.gaps === '{gaps + 1}'", timeout=10000
            )
            page.locator("#plots-card").screenshot(path=str(ARTIFACTS / "webpage-plots.png"))
        finally:
            browser.close()


FLEET = [
    {
        "name": "box-a", "address": "10.88.3.1", "http_port": 8080, "url": "http://10.88.3.1:8080/", "version": "0.1.0",
        "model": "m", "backend": "edgetpu", "state": "running", "fps": 29.5, "people": 2, "temperature_c": 71.5,
        "throttling_now": ["under_voltage"], "throttling_since_boot": ["under_voltage"], "clock_synchronised": False,
        "error": "", "verified": True,
    },
    {
        "name": "evil", "address": "10.88.3.66", "http_port": 8080, "url": "http://10.88.3.66:8080/", "version": "",
        "model": "", "backend": "", "state": "unknown", "fps": None, "people": None, "temperature_c": None,
        "throttling_now": None, "throttling_since_boot": None, "clock_synchronised": None,
        "error": "HTTP 404", "verified": False,
    },
]  # fmt: skip


def test_the_fleet_page_lists_boxes_acts_on_verified_ones_and_keeps_no_token(appliance: str) -> None:
    """The boxes this box sees (its /api/fleet answer stood in for by the browser: no second box on
    the network here; the relay itself is tested against real boxes in test_identify.py), at a
    glance; only the verified one can be chosen or followed; a setting set on this box and the chosen
    one goes through this box's relay, which sends nothing to a box it does not list; the tokens
    typed are sent once, then gone from the page and never stored."""
    sync_api: Any = _chromium()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=OFFLINE)
        try:
            page = browser.new_page(bypass_csp=True, viewport={"width": 1366, "height": 900})
            page.route("**/api/fleet", lambda route: route.fulfill(json=FLEET))
            sent: list[str] = []
            page.on("request", lambda r: sent.append(r.post_data or "") if r.url.endswith("/api/fleet/apply") else None)
            page.goto(appliance + "/")
            page.wait_for_selector("body[data-ready='1']")
            a, evil = page.locator("tr[data-box^='box-a|']"), page.locator("tr[data-box^='evil|']")
            sync_api.expect(a.locator("[data-col=temp]")).to_have_text("71.5 °C", timeout=10000)
            sync_api.expect(a.locator("[data-col=throttling]")).to_have_text("under voltage")
            sync_api.expect(a.locator("[data-col=clock]")).to_have_text("NOT synchronised")
            assert a.locator("a").get_attribute("href") == "http://10.88.3.1:8080/"
            assert evil.locator("a").count() == 0 and evil.locator("button").count() == 0
            assert evil.locator("input[type=checkbox]").is_disabled()
            me = page.locator("tr[data-box='this box']")
            sync_api.expect(me.locator("[data-col=state]")).to_have_text("running")
            me.locator("input[type=checkbox]").check()
            a.locator("input[type=checkbox]").check()
            a.locator("input[type=password]").fill("token-of-box-a-0123")
            page.fill("#fleet-setting", "decoder.min_pose_score")
            page.fill("#fleet-value", "0.3")
            page.fill("#fleet-token", "one-fleet-token-456")
            page.click("#fleet-set")
            sync_api.expect(page.locator("#fleet-results li[data-box='this box']")).to_contain_text("saved")
            refused = page.locator("#fleet-results li[data-box='box-a']")
            sync_api.expect(refused).to_contain_text("not a verified box of this fleet now: nothing sent")
            assert _config(appliance)["decoder"]["min_pose_score"] == 0.3
            assert "token-of-box-a-0123" in sent[0]  # sent with the order, once ...
            assert a.locator("input[type=password]").input_value() == ""  # ... then gone from the page
            assert page.input_value("#fleet-token") == ""
            kept = page.evaluate("JSON.stringify([localStorage, sessionStorage, document.cookie])")
            assert "token-of-box-a" not in kept and "one-fleet-token" not in kept
            me.locator("button").click()  # identify this box: no LED here, and the page says so
            sync_api.expect(page.locator("#fleet-results li[data-box='this box']")).to_contain_text("no activity LED")
            # One fleet token set on the chosen boxes (here this box): sent, then gone from the form.
            a.locator("input[type=checkbox]").uncheck()
            page.fill("#fleet-setting", "http.token")
            page.fill("#fleet-value", "fleet-token-0123456")
            page.click("#fleet-set")
            sync_api.expect(page.locator("#fleet-results li[data-box='this box']")).to_contain_text("saved")
            assert page.input_value("#fleet-value") == "" and _config(appliance)["http"]["token_set"] is True
            assert "fleet-token-0123456" not in page.evaluate("JSON.stringify([localStorage, sessionStorage])")
            page.locator("#fleet-card").screenshot(path=str(ARTIFACTS / "webpage-fleet.png"))
        finally:
            browser.close()
