"""The service under a real systemd: debootstrap a Debian root, install it with the install script,
boot it with systemd-nspawn (private network: loopback only) and let a checker unit exercise it.

Slow (a few minutes; the root file system is cached as a tarball): opt-in with
``sudo bash .ci/slow -k nspawn``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.fakes.debs import make_deb
from tests.integration.rootfs import HERE, boot, debian_root, install, need, stage_project

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
CACHE = Path(os.environ.get("POSENET_ROOTFS_CACHE", "/var/tmp/posenet-bookworm-rootfs.tar"))
DROP_IN = "[Service]\nWatchdogSec=5s\nRestartSec=1s\n"


def test_service_under_real_systemd(models_dir: Path, tmp_path: Path) -> None:
    need("systemd-nspawn")
    rootfs = debian_root(tmp_path / "rootfs", CACHE)
    stage_project(rootfs, models_dir, config=HERE / "nspawn-config.json")
    deb = make_deb(rootfs / "root")  # stands in for a libedgetpu build matched to the runtime
    result = install(rootfs, "--edgetpu-deb", f"/root/{deb.name}")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "requirements-py311.txt (hash-checked)" in result.stdout  # the locked set, as on a Pi
    assert "pose decoder: c" in result.stdout  # the C decoder was built by the install
    assert f"Edge TPU runtime from {deb.name}" in result.stdout
    info = (rootfs / "opt/posenet-appliance/INSTALL-INFO").read_text()
    assert "Edge TPU runtime: libedgetpu1-std 16.0test1" in info, info
    saved = rootfs / "var/lib/posenet-appliance/config.json"
    saved.write_text(saved.read_text().replace('"nspawn"', '"changed-on-the-box"'))
    again = install(rootfs)  # re-running upgrades in place and keeps the saved settings
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert json.loads(saved.read_text())["device_name"] == "changed-on-the-box"
    out = tmp_path / "out"
    console = boot(rootfs, HERE / "nspawn-check.sh", out, drop_in=DROP_IN)
    journal = (out / "journal.txt").read_text() if (out / "journal.txt").exists() else ""
    assert (out / "results.json").exists(), console[-3000:] + journal[-3000:]
    results = json.loads((out / "results.json").read_text())
    print(json.dumps(results, indent=1))
    assert results["first_state"] == "active/running", results  # Type=notify: active only after READY=1
    assert "cpu" in results["first_status"]  # STATUS= lines reach systemctl status
    assert results["firstboot"] == "success/0", results  # host name and boot settings step ran first
    assert results["kept"] == "nspawn-box"  # the saved configuration survived a restart
    assert results["restarts_after"] > results["restarts_before"], journal[-3000:]  # watchdog restarted it
    assert "Watchdog timeout" in journal or "watchdog timeout" in journal.lower()
    assert results["stop_seconds"] < 5.0 and results["result"] == "success", results
    assert "stopped:" in journal
    # one clock: posenet-clock ran at boot and again when clock.serve was saved, writing chrony's drop-in
    assert results["clock_boot"] == "success/active", results
    assert results["clock_conf"] == 7 and results["clock_run"] == "success/0", results
