"""Updates install beside the running version, switch atomically, and stay only if healthy."""

from __future__ import annotations

import json
import os
from pathlib import Path

from appliance.update.install import Installer
from appliance.update.layout import read_json
from tests.update.helpers import CONFIG, Box, FakeSystemd


def test_a_good_update_is_installed_beside_switched_to_and_kept(box: Box) -> None:
    assert box.runs() == "standin 0.1.0 dep-1.0"  # the pre-update venv directory
    systemd = FakeSystemd(box)
    try:
        outcome = box.installer(restart=systemd.restart, health_seconds=30).apply(box.update("0.2.0"))
    finally:
        systemd.stop()
    print("timings (good update):", json.dumps(outcome.timings))
    assert outcome.state == "ok", outcome.message
    assert box.runs() == "standin 0.2.0 dep-1.0"
    layout = box.layout
    assert os.readlink(layout.venv) == "versions/0.2.0/venv"
    assert layout.complete("legacy")  # the old venv kept (renamed, still runnable) as the previous version
    assert not layout.trial.exists()
    assert (layout.state_dir / "config.json").read_text() == CONFIG  # configuration and models kept
    assert (layout.prefix / "models/posenet.tflite").read_bytes() == b"model"
    status = read_json(layout.status) or {}
    assert status["state"] == "ok" and status["version"] == "0.2.0"
    assert {"verify_s", "install_s", "switch_s", "health_s"} <= set(status["timings"])
    # a second update keeps the new one and its previous only
    systemd = FakeSystemd(box)
    try:
        again = box.installer(restart=systemd.restart, health_seconds=30).apply(box.update("0.3.0"))
    finally:
        systemd.stop()
    assert again.state == "ok", again.message
    assert sorted(p.name for p in layout.versions.iterdir()) == ["0.2.0", "0.3.0"]


def test_a_version_that_fails_at_start_comes_back_on_the_old_one_by_itself(box: Box) -> None:
    systemd = FakeSystemd(box)
    try:
        outcome = box.installer(restart=systemd.restart, health_seconds=30).apply(box.update("0.2.0", behaviour="fail"))
    finally:
        systemd.stop()
    print("timings (failing update):", json.dumps(outcome.timings))
    assert outcome.state == "rolled-back"
    assert "rolled back to legacy: it stopped before confirming it was healthy" in outcome.message
    assert box.runs() == "standin 0.1.0 dep-1.0"
    # the new version had migrated the configuration; it is rolled back with the version
    assert (box.layout.state_dir / "config.json").read_text() == CONFIG
    assert not box.layout.trial.exists()
    assert "rollback_s" in outcome.timings


def test_a_version_that_never_becomes_healthy_is_rolled_back_at_its_deadline(box: Box) -> None:
    systemd = FakeSystemd(box)
    try:
        outcome = box.installer(restart=systemd.restart, health_seconds=3).apply(box.update("0.2.0", behaviour="hang"))
    finally:
        systemd.stop()
    print("timings (hanging update):", json.dumps(outcome.timings))
    assert outcome.state == "rolled-back"
    assert "did not confirm it was healthy (pipeline running, servers up) within 3 s" in outcome.message
    assert box.runs() == "standin 0.1.0 dep-1.0"
    status = read_json(box.layout.status) or {}
    assert status["state"] == "rolled-back" and status["tried"] == "0.2.0"


def test_without_restart_the_switch_is_made_and_the_next_start_is_the_trial(box: Box) -> None:
    outcome = Installer(box.layout, box.public).apply(box.update("0.2.0"))
    assert outcome.state == "installed"
    assert box.runs() == "standin 0.2.0 dep-1.0"
    trial = read_json(box.layout.trial)
    assert trial is not None and trial["previous"] == "legacy" and trial["starts"] == 0
    # the service runs as another user than the installer: it must read the trial to confirm it
    assert box.layout.trial.stat().st_mode & 0o777 == 0o644


def test_a_forced_older_version_installs(box: Box, tmp_path: Path) -> None:
    Installer(box.layout, box.public).apply(box.update("0.3.0"))
    box.layout.trial.unlink()
    outcome = Installer(box.layout, box.public).apply(box.update("0.2.0"), force=True)
    assert outcome.state == "installed"
    assert box.runs() == "standin 0.2.0 dep-1.0"
