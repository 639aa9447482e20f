"""The page's Update card in a real browser (Debian's Chromium, Playwright) against a real
``posenet-appliance run`` whose install prefix is a test box: a tampered file is refused with its
reason on the page; a good one is verified and left for the installer, and the status says so."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appliance.update.command import PENDING
from tests.support.net import wait_http
from tests.update.helpers import CHROMIUM, MODEL, OFFLINE, Box, appliance_run_args, flip, free_tcp_port, member_offset


@pytest.fixture
def served(box: Box, models_dir: Path, images_dir: Path) -> Iterator[str]:
    port = free_tcp_port()
    source = f"images:{images_dir}/face.jpg@4"
    args = appliance_run_args(source, models_dir / MODEL, box.layout.state_dir, http_port=port)
    env = {**os.environ, "POSENET_MODELS_DIR": str(models_dir), "POSENET_PREFIX": str(box.layout.prefix)}
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True, env=env)
    base = f"http://127.0.0.1:{port}"
    wait_http(port)
    yield base
    proc.terminate()
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err


def test_the_page_uploads_an_update_and_shows_what_became_of_it(served: str, box: Box) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is not installed (.ci/setup installs it)")
    sync_api: Any = pytest.importorskip("playwright.sync_api")
    good = box.update("0.2.0")
    tampered = box.tmp / "tampered.update"
    tampered.write_bytes(good.read_bytes())
    flip(tampered, member_offset(tampered, "wheels/posenet_appliance-0.2.0-py3-none-any.whl") + 10)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=OFFLINE)
        try:
            page = browser.new_page()
            page.goto(served + "/")
            state = page.locator("#update-state")
            page.set_input_files("#update-file", str(tampered))
            page.click("#update-send")
            sync_api.expect(state).to_contain_text("refused: wheels/posenet_appliance", timeout=20000)
            sync_api.expect(state).to_contain_text("does not match its signed hash")
            assert not (box.layout.state_dir / PENDING).exists()
            page.set_input_files("#update-file", str(good))
            page.click("#update-send")
            sync_api.expect(state).to_contain_text("0.2.0 verified: installing it beside", timeout=20000)
            sync_api.expect(page.locator("#status")).to_contain_text("pending", timeout=10000)
        finally:
            browser.close()
    assert (box.layout.state_dir / PENDING).read_bytes() == good.read_bytes()
