"""The service under a real systemd: debootstrap a Debian root, install it with the install script,
boot it with systemd-nspawn (private network: loopback only) and let a checker unit exercise it.

Slow (a few minutes; the root file system is cached as a tarball): opt-in with
``POSENET_SLOW=1 .venv/bin/python -m pytest -m slow tests/integration``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("POSENET_ROOTFS_CACHE", "/var/tmp/posenet-bookworm-rootfs.tar"))
PACKAGES = "systemd,systemd-sysv,dbus,python3,python3-venv,python3-pip,ca-certificates,iproute2,udev"
MODELS = [
    "posenet_mobilenet_v1_075_481_641_16_quant_decoder.tflite",
    "posenet_mobilenet_v1_075_481_641_16_quant_decoder_edgetpu.tflite",
    "posenet_mobilenet_v1_075_353_481_16_quant_decoder.tflite",
    "posenet_mobilenet_v1_075_353_481_16_quant_decoder_edgetpu.tflite",
]
CHECK_UNIT = """[Unit]
After=posenet-appliance.service
[Service]
Type=oneshot
ExecStart=/bin/bash /root/nspawn-check.sh
[Install]
WantedBy=multi-user.target
"""
DROP_IN = "[Service]\nWatchdogSec=5s\nRestartSec=1s\n"


def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, text=True, capture_output=True, check=True, **kw)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    for tool in ("debootstrap", "systemd-nspawn"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is needed: apt install debootstrap systemd-container")
    r = tmp_path_factory.mktemp("nspawn") / "rootfs"
    if CACHE.exists():
        r.mkdir()
        with tarfile.open(CACHE) as tar:
            tar.extractall(r, filter="fully_trusted")
    else:
        run(["debootstrap", "--variant=minbase", f"--include={PACKAGES}", "bookworm", str(r)], timeout=900)
        with tarfile.open(CACHE, "w") as tar:
            tar.add(r, arcname=".")
    return r


def test_service_under_real_systemd(rootfs: Path, models_dir: Path, tmp_path: Path) -> None:
    src = rootfs / "root/src"
    files = run(["git", "ls-files"], cwd=ROOT).stdout.split()
    for f in files:
        (src / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, src / f)
    (rootfs / "root/models").mkdir(exist_ok=True)
    for m in MODELS:
        shutil.copy(models_dir / m, rootfs / "root/models" / m)
    shutil.copy("/etc/resolv.conf", rootfs / "etc/resolv.conf")
    # The container reaches the package registries the way this machine does: same trusted CAs.
    shutil.copy("/etc/ssl/certs/ca-certificates.crt", rootfs / "etc/ssl/certs/ca-certificates.crt")
    install = subprocess.run(
        [
            "systemd-nspawn",
            "-q",
            "--register=no",
            "--keep-unit",
            "--setenv=PIP_CERT=/etc/ssl/certs/ca-certificates.crt",
            "-D",
            str(rootfs),
            "--pipe",
            "bash",
            "/root/src/image-build/install-on-pi.sh",
            "--skip-pi-repos",
            "--models-from",
            "/root/models",
            "--config",
            "/root/src/tests/integration/nspawn-config.json",
        ],
        text=True,
        capture_output=True,
        timeout=1200,
        check=False,
    )
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    shutil.copy(HERE / "nspawn-check.sh", rootfs / "root/nspawn-check.sh")
    (rootfs / "etc/systemd/system/check.service").write_text(CHECK_UNIT)
    drop = rootfs / "etc/systemd/system/posenet-appliance.service.d"
    drop.mkdir(parents=True, exist_ok=True)
    (drop / "test.conf").write_text(DROP_IN)
    run(["systemctl", f"--root={rootfs}", "enable", "check.service"])
    out = tmp_path / "out"
    out.mkdir()
    boot = subprocess.run(
        [
            "timeout",
            "400",
            "systemd-nspawn",
            "-D",
            str(rootfs),
            "--boot",
            "--register=no",
            "--keep-unit",
            "--private-network",
            f"--bind={out}:/out",
            "--console=pipe",
        ],
        text=True,
        capture_output=True,
        timeout=450,
        check=False,
    )
    journal = (out / "journal.txt").read_text() if (out / "journal.txt").exists() else ""
    assert (out / "results.json").exists(), boot.stdout[-3000:] + journal[-3000:]
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
