"""The running service's side of a trial (``UpdateHealth``), and the ``update`` command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from appliance.cli import main as cli
from appliance.update import health as health_mod
from appliance.update.health import UpdateHealth
from appliance.update.install import Installer
from appliance.update.layout import Layout, read_json, write_json
from tests.update.helpers import MODEL, Box, appliance_run_args, free_tcp_port


def on_trial(box: Box) -> dict[str, object]:
    Installer(box.layout, box.public).apply(box.update("0.2.0"))
    trial = read_json(box.layout.trial)
    assert trial is not None
    return trial


def test_confirms_after_uninterrupted_health_only(box: Box) -> None:
    trial = on_trial(box)
    h = UpdateHealth(box.layout.state_dir, box.layout.prefix, confirm_seconds=10)
    t = h.started
    h.tick(True, t)
    h.tick(True, t + 9)
    h.tick(False, t + 9.5)  # a stall restarts the clock
    h.tick(True, t + 10)
    h.tick(True, t + 19)
    assert not box.layout.health.exists()
    h.tick(True, t + 20)
    assert json.loads(box.layout.health.read_text()) == {"trial": trial["id"], "version": "0.2.0"}
    assert h.done


def test_a_version_not_on_trial_confirms_nothing(box: Box) -> None:
    h = UpdateHealth(box.layout.state_dir, box.layout.prefix, confirm_seconds=0)
    h.tick(True, h.started + 100)
    h.tick(True, h.started + 200)
    assert h.done and not box.layout.health.exists()


def test_past_its_deadline_the_version_stops_itself(box: Box, monkeypatch: pytest.MonkeyPatch) -> None:
    on_trial(box)  # deadline 180 s (the default)
    sent: list[int] = []
    monkeypatch.setattr(health_mod.os, "kill", lambda _pid, sig: sent.append(sig))
    h = UpdateHealth(box.layout.state_dir, box.layout.prefix)
    h.tick(False, h.started + 184)
    assert sent == []
    h.tick(False, h.started + 186)  # 180 s + 5 s grace
    assert sent == [signal.SIGTERM] and not box.layout.health.exists()


def test_the_command_line(box: Box, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["update", "keygen", str(tmp_path / "k")]) == 0
    assert cli(["update", "keygen", str(tmp_path / "k")]) == 2  # never overwrites a key pair
    assert "already holds a key pair" in capsys.readouterr().err
    where = ["--prefix", str(box.layout.prefix), "--state-dir", str(box.layout.state_dir)]
    assert cli(["update", str(tmp_path / "nothing.update"), *where]) == 2
    assert "no such update file" in capsys.readouterr().err
    not_here = ["--prefix", str(tmp_path / "no-such-prefix"), "--state-dir", str(box.layout.state_dir)]
    assert cli(["update", str(box.update("0.2.0")), *not_here]) == 2
    assert "is not writable: run it as root" in capsys.readouterr().err
    other = box.update("0.2.0", machine="armv7l")
    assert cli(["update", str(other), *where, "--no-restart"]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0  # one line
    assert cli(["update", str(box.update("0.2.0")), *where, "--no-restart"]) == 0
    assert "0.2.0 installed and switched to" in capsys.readouterr().out
    assert cli(["update", "status", *where]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "trial"


def test_the_real_service_confirms_its_trial_once_it_runs(tmp_path: Path, models_dir: Path, images_dir: Path) -> None:
    """``posenet-appliance run`` itself (the supervision loop, not a stand-in) writes the confirmation
    for the trial naming the version its venv link points at, once its pipeline ran for 10 s."""
    layout = Layout(tmp_path / "opt", tmp_path / "state")
    (layout.version_dir("9.9.9") / "venv/bin").mkdir(parents=True)
    write_json(layout.version_dir("9.9.9") / "complete.json", {})
    layout.venv.symlink_to("versions/9.9.9/venv")
    layout.work.mkdir()
    write_json(layout.trial, {"id": "t-1", "version": "9.9.9", "previous": "9.9.8", "deadline_s": 180})
    layout.state_dir.mkdir()
    args = appliance_run_args(
        f"images:{images_dir}/face.jpg@4", models_dir / MODEL, layout.state_dir, http_port=free_tcp_port()
    )
    env = {**os.environ, "POSENET_MODELS_DIR": str(models_dir), "POSENET_PREFIX": str(layout.prefix)}
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while not layout.health.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
        assert json.loads(layout.health.read_text()) == {"trial": "t-1", "version": "9.9.9"}
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert "version 9.9.9 is healthy (confirmed)" in err
