"""First boot: unique host name, and settings from the boot partition (files in a temporary root)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.config.store import ConfigStore
from appliance.service.firstboot import FirstBootPaths, apply_boot_settings, set_unique_hostname


@pytest.fixture
def paths(tmp_path: Path) -> FirstBootPaths:
    (tmp_path / "boot").mkdir()
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/hostname").write_text("raspberrypi\n")
    (tmp_path / "etc/hosts").write_text("127.0.0.1\tlocalhost\n127.0.1.1\traspberrypi\n")
    return FirstBootPaths(tmp_path / "boot", tmp_path / "state", tmp_path / "etc/hostname", tmp_path / "etc/hosts")


def test_default_hostname_becomes_unique_once(paths: FirstBootPaths) -> None:
    new = set_unique_hostname(paths, live=False)
    assert new is not None and new.startswith("posenet-") and len(new) == len("posenet-") + 4
    assert paths.hostname.read_text() == new + "\n"
    assert paths.hosts.read_text().splitlines() == ["127.0.0.1\tlocalhost", f"127.0.1.1\t{new}"]
    assert set_unique_hostname(paths, live=False) is None  # idempotent: a posenet-XXXX name stays


def test_a_chosen_hostname_is_left_alone(paths: FirstBootPaths) -> None:
    paths.hostname.write_text("stage-left\n")
    assert set_unique_hostname(paths, live=False) is None
    assert paths.hostname.read_text() == "stage-left\n"


def test_valid_boot_settings_are_applied_once(paths: FirstBootPaths) -> None:
    (paths.boot / "posenet.json").write_text(
        json.dumps({"device_name": "gallery", "source": "synthetic", "targets": [{"host": "127.0.0.1", "port": 7000}]})
    )
    assert apply_boot_settings(paths) == "applied posenet.json from the boot partition"
    saved = ConfigStore.in_dir(paths.state_dir).load()
    assert saved.device_name == "gallery" and saved.targets[0].port == 7000
    assert (paths.boot / "posenet.json.applied").exists() and not (paths.boot / "posenet.json").exists()
    assert apply_boot_settings(paths) == "no posenet.json on the boot partition"


def test_invalid_boot_settings_change_nothing_and_say_why(paths: FirstBootPaths) -> None:
    ConfigStore.in_dir(paths.state_dir).save({"device_name": "kept"})
    (paths.boot / "posenet.json").write_text(json.dumps({"targets": [{"host": "x", "port": 0}]}))
    result = apply_boot_settings(paths)
    assert "invalid" in result and "targets.0.port" in result
    assert ConfigStore.in_dir(paths.state_dir).load().device_name == "kept"
    assert "targets.0.port" in (paths.boot / "posenet.json.error.txt").read_text()
    assert (paths.boot / "posenet.json.invalid").exists()


def test_the_command(paths: FirstBootPaths) -> None:
    (paths.boot / "posenet.json").write_text("{not json")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "appliance",
            "firstboot",
            "--no-live",
            "--boot",
            str(paths.boot),
            "--state-dir",
            str(paths.state_dir),
            "--hostname-file",
            str(paths.hostname),
            "--hosts-file",
            str(paths.hosts),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("host name: posenet-") and "posenet.json is invalid" in proc.stdout
