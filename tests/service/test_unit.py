"""The systemd unit: `systemd-analyze verify` clean, exposure low, and the device access it needs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "posenet-appliance.service"
MAX_EXPOSURE = 2.5  # measured 1.9


@pytest.fixture
def analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.fail("systemd-analyze is not installed (package systemd)")
    return tool


def _verify(analyze: str, tmp_path: Path, *units: Path) -> subprocess.CompletedProcess[str]:
    """`systemd-analyze verify` of the last of ``units`` in a small fake root holding all of them."""
    root = tmp_path / "root"
    (root / "opt/posenet-appliance/venv/bin").mkdir(parents=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / "usr/lib/systemd").mkdir(parents=True)
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    (root / "opt/posenet-appliance/bin").mkdir()
    (root / "usr/bin").mkdir(parents=True)
    for path in ("opt/posenet-appliance/venv/bin/posenet-appliance", "opt/posenet-appliance/bin/posenet-update-check"):
        exe = root / path
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o755)
    shutil.copy("/usr/bin/python3", root / "usr/bin/python3")
    for unit in units:
        shutil.copy(unit, root / "etc/systemd/system" / unit.name)
    return subprocess.run(
        [analyze, "verify", f"--root={root}", units[-1].name], capture_output=True, text=True, check=False
    )


def test_verify_has_no_warnings(analyze: str, tmp_path: Path) -> None:
    proc = _verify(analyze, tmp_path, UNIT)
    assert proc.returncode == 0 and proc.stderr.strip() == "", proc.stderr


def test_firstboot_unit_verifies(analyze: str, tmp_path: Path) -> None:
    proc = _verify(analyze, tmp_path, UNIT, UNIT.with_name("posenet-firstboot.service"))
    assert proc.returncode == 0 and proc.stderr.strip() == "", proc.stderr


def test_update_units_verify(analyze: str, tmp_path: Path) -> None:
    update = UNIT.with_name("posenet-update.service")
    proc = _verify(analyze, tmp_path, UNIT, update, UNIT.with_name("posenet-update.path"))
    assert proc.returncode == 0 and proc.stderr.strip() == "", proc.stderr
    assert "ExecStart=/opt/posenet-appliance/venv/bin/posenet-appliance update pending" in update.read_text()
    # the boot check runs before every start, privileged, with the system's Python alone
    assert "ExecStartPre=+/usr/bin/python3 -I /opt/posenet-appliance/bin/posenet-update-check" in UNIT.read_text()


def test_security_exposure_is_low(analyze: str) -> None:
    proc = subprocess.run(
        [analyze, "security", "--offline=yes", str(UNIT)], capture_output=True, text=True, check=False
    )
    last = proc.stdout.strip().splitlines()[-1]
    exposure = float(last.split("level for posenet-appliance.service:")[1].split()[0])
    print(f"systemd-analyze security exposure: {exposure}")
    assert exposure <= MAX_EXPOSURE, last


def test_unit_keeps_camera_tpu_and_network_working() -> None:
    text = UNIT.read_text()
    for line in (
        "Type=notify",
        "WatchdogSec=",
        "StateDirectory=posenet-appliance",
        "User=posenet",
        "DeviceAllow=char-video4linux rw",
        "DeviceAllow=char-usb_device rw",
        "DeviceAllow=char-apex rw",
        "DeviceAllow=/dev/dma_heap rw",
        "AF_INET AF_INET6",
        "SupplementaryGroups=video plugdev",
    ):
        assert line in text, line
    assert "PrivateDevices=yes" not in text and "PrivateNetwork=yes" not in text
    assert "MemoryDenyWriteExecute=yes" in text  # no JIT any more: the decoder is compiled C
