"""The fleet page's actions (issue 24, item 3): identify blinks the activity LED of a fake sysfs and
puts its trigger back, the owner's only; the relay sends one order to several real boxes inside a
private network namespace (tests/web/relay_cases.py), only to verified ones, each with its token,
which is neither kept nor logged; the fleet entries' machine facts are type-checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from appliance.core.app import Application
from appliance.led import Identify, current_trigger
from appliance.web.fleet import read_status
from appliance.web.relay import RELAY_DEADLINE
from appliance.web.server import create_app
from tests.support.owner import OWNER, TOKEN, VISITOR, change

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TRIGGERS = "none rc-feedback kbd-scrolllock timer heartbeat [mmc0] actpwr\n"


def fake_led(root: Path) -> Path:
    led = root / "sys/class/leds/ACT"
    led.mkdir(parents=True)
    (led / "trigger").write_text(TRIGGERS)
    (led / "brightness").write_text("0\n")
    (led / "max_brightness").write_text("255\n")
    return led


def test_identify_blinks_the_led_then_puts_its_trigger_back(
    running: Application, client_for: Callable[..., TestClient], tmp_path: Path
) -> None:
    led = fake_led(tmp_path)
    api = create_app(running)
    api.app.state.web.identify = Identify(root=tmp_path, seconds=1.0)
    owner = client_for(api, OWNER)
    r = owner.post("/api/identify")
    assert r.status_code == 200 and r.json() == {"seconds": 1.0}
    seen = set()
    deadline = time.monotonic() + 0.8
    while time.monotonic() < deadline:
        assert current_trigger(led) == "none"  # the kernel's trigger off while it blinks
        seen.add((led / "brightness").read_text().strip())
        time.sleep(0.05)
    assert seen == {"0", "255"}  # on and off
    task = api.app.state.web.identify._task
    for _ in range(20):  # asked again and again: one blinker, its end moved
        assert owner.post("/api/identify").status_code == 200
    assert api.app.state.web.identify._task is task
    deadline = time.monotonic() + 5
    while (led / "trigger").read_text() != "mmc0":
        assert time.monotonic() < deadline, (led / "trigger").read_text()
        time.sleep(0.05)


def test_identify_is_the_owners_and_says_when_there_is_no_led(
    running: Application, client_for: Callable[..., TestClient], tmp_path: Path
) -> None:
    led = fake_led(tmp_path / "pi")
    api = create_app(running)
    api.app.state.web.identify = Identify(root=tmp_path / "pi", seconds=1.0)
    visitor = client_for(api, VISITOR)
    assert visitor.post("/api/identify").status_code == 403  # unclaimed: only from the box itself
    change(running, http={"token": TOKEN})
    assert visitor.post("/api/identify").status_code == 401
    assert (led / "trigger").read_text() == TRIGGERS  # nothing changed
    api.app.state.web.identify = Identify(root=tmp_path / "elsewhere")
    r = client_for(api, OWNER).post("/api/identify")
    assert r.status_code == 409
    msg = r.json()["detail"][0]["msg"]
    assert "no activity LED" in msg and "\n" not in msg


def test_the_fleet_reads_machine_facts_type_checked() -> None:
    good = {"version": "1", "state": "running", "backend": "cpu", "uptime_s": 1.0, "temperature_c": 61.26}
    good |= {"throttling": {"now": ["under_voltage"], "since_boot": ["throttled", "x" * 10_000, 5]}}
    status = read_status({**good, "clock": {"synchronised": True, "offset_s": 0.001}})
    assert status.temperature_c == 61.3 and status.clock_synchronised is True
    assert status.throttling_now == ("under_voltage",) and status.throttling_since_boot == ("throttled",)
    bad = read_status({**good, "temperature_c": "hot", "throttling": [1], "clock": {"synchronised": "yes"}})
    assert bad.temperature_c is None and bad.throttling_now is None and bad.clock_synchronised is None
    assert read_status({**good, "temperature_c": 1e300}).temperature_c is None


@pytest.mark.timeout(120)
def test_the_relay_acts_only_on_verified_boxes_with_their_tokens(
    models_dir: Path, images_dir: Path, tmp_path: Path
) -> None:
    argv = ["unshare", "--net", sys.executable, str(HERE / "relay_cases.py")]
    argv += [str(tmp_path), str(models_dir), str(images_dir)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=110, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    verified = {e["name"]: e["verified"] for e in got["fleet"]}
    assert verified == {"box-a": True, "box-b": True, "fake": False, "slow": True, "endless": True}, got["fleet"]
    a, b, fake, moved = got["config"]["results"]
    assert got["config"]["status"] == 200
    assert a["ok"] and a["status"] == 200, a
    assert not b["ok"] and b["status"] == 401, b  # the wrong token: refused by box-b itself
    assert fake["status"] == 0 and "not a verified box" in fake["message"], fake
    assert moved["status"] == 0 and "not a verified box" in moved["message"], moved  # a listed name, elsewhere
    assert got["fake_changes"] == 0  # nothing was sent to the unverified address
    assert got["min_pose_score"] == {"box-a": 0.35, "box-b": 0.2}
    # Identify, relayed with each token: these boxes have no LED (not a Pi), and say so.
    assert [r["status"] for r in got["identify"]["results"]] == [409, 409], got["identify"]
    assert all("no activity LED" in r["message"] for r in got["identify"]["results"])
    # Hostile boxes (verified, then answering a change a byte at a time, or without end): bounded.
    slow, endless = got["hostile"]["results"]
    assert slow["status"] == 0 and "no answer within 3 s" in slow["message"], slow
    assert endless["status"] == 0 and "body over 64 KiB" in endless["message"], endless
    assert got["hostile"]["seconds"] < RELAY_DEADLINE + 1.0, got["hostile"]
    assert got["visitor"]["status"] == 403  # a visitor cannot use this box as a relay
    assert got["bad_token"]["status"] == 422 and "X-Evil" not in got["bad_token"]["text"]
    tokens = ["token-of-box-a-0123", "wrong-token-0000", "for-the-fake-0000", "token-of-box-b-4567"]
    for text in (proc.stderr, got["config"]["text"], got["box_logs"]):  # never logged, never echoed
        assert not any(t in text for t in tokens)
