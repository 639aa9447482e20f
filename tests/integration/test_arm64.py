"""The Raspberry Pi install, as far as this x86 machine can go: an arm64 Debian 12 root (Raspberry Pi
OS Bookworm's base) under qemu-user, the install script with Raspberry Pi's own repositories skipped,
a boot under a real systemd ending with the service up in CPU fallback and sending poses, and a
flashable disk image packed from that root without loop devices.

Slow (about 25 minutes the first time, 15 with the cached root; emulation is ~10x slower): opt-in,
``sudo bash .ci/slow -k arm64`` (which installs qemu-user-static, binfmt-support, debootstrap and
systemd-container). qemu-aarch64's binfmt handler is machine-wide: it is switched on for the
duration and back off if it was off. The root is emulated as a Raspberry Pi 4 (see rootfs.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.rootfs import (
    HERE,
    PI_SERVICE_SHIM,
    ROOT,
    binfmt_aarch64,
    boot,
    debian_root,
    in_container,
    install,
    need,
    stage_project,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(5400)]
CACHE = Path(os.environ.get("POSENET_ARM64_ROOTFS_CACHE", "/var/tmp/posenet-bookworm-arm64-rootfs.tar"))
MODEL = "posenet_mobilenet_v1_075_481_641_16_quant_decoder.tflite"


class Installed:
    def __init__(self, rootfs: Path, result: subprocess.CompletedProcess[str], seconds: float) -> None:
        self.rootfs, self.result, self.seconds = rootfs, result, seconds


@pytest.fixture(scope="module")
def arm64(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Iterator[Installed]:
    need("systemd-nspawn")
    with binfmt_aarch64():
        rootfs = debian_root(tmp_path_factory.mktemp("arm64") / "rootfs", CACHE, arch="arm64")
        (rootfs / "etc/hostname").write_text("raspberrypi\n")  # as a fresh Raspberry Pi OS
        stage_project(rootfs, models_dir, config=HERE / "arm64-config.json")
        t0 = time.monotonic()
        result = install(rootfs, pi_cpu=True)
        yield Installed(rootfs, result, time.monotonic() - t0)
        shutil.rmtree(rootfs, ignore_errors=True)  # ~1.3 GB


def test_install_script_under_qemu(arm64: Installed) -> None:
    out = arm64.result.stdout + arm64.result.stderr
    print(f"install-on-pi.sh --skip-pi-repos under qemu-aarch64: {arm64.seconds:.0f} s")
    assert arm64.result.returncode == 0, out[-4000:]
    assert "skipping python3-picamera2 and Coral's libedgetpu1-std (--skip-pi-repos)" in out
    assert "requirements-py311.txt (hash-checked)" in out  # Bookworm's Python, the locked wheels
    info = (arm64.rootfs / "opt/posenet-appliance/INSTALL-INFO").read_text()
    print(info)
    assert "on aarch64, Python 3.11, requirements-py311.txt" in info
    assert "opencv-python-headless==" in info and "ai-edge-litert==" in info and "pose decoder: c" in info
    for unit in ("posenet-appliance.service", "posenet-firstboot.service"):
        assert (arm64.rootfs / "etc/systemd/system/multi-user.target.wants" / unit).is_symlink()


def test_same_poses_on_arm64(arm64: Installed, models_dir: Path, images_dir: Path) -> None:
    """The aarch64 wheels (LiteRT) and the decoder compiled there find the same people as this machine."""
    assert arm64.result.returncode == 0
    shutil.copy(images_dir / "test_couple.jpg", arm64.rootfs / "root/test_couple.jpg")
    args = ["detect", "--json", "--backend", "cpu", "--model"]
    on_arm = in_container(
        arm64.rootfs,
        "/opt/posenet-appliance/venv/bin/posenet-appliance",
        *args,
        f"/opt/posenet-appliance/models/{MODEL}",
        "/root/test_couple.jpg",
        timeout=900,
        pi_cpu=True,
    )
    assert on_arm.returncode == 0, on_arm.stderr[-3000:]
    cli = [sys.executable, "-c", "import sys; from appliance.cli import main; sys.exit(main())"]
    here = subprocess.run(
        [*cli, *args, str(models_dir / MODEL), str(images_dir / "test_couple.jpg")],
        text=True,
        capture_output=True,
        check=True,
        cwd=ROOT,
    )
    arm, x86 = json.loads(on_arm.stdout), json.loads(here.stdout)
    print("arm64 backend:", arm["backend"], "| poses:", len(arm["poses"]), "vs", len(x86["poses"]))
    assert "cpu" in arm["backend"]
    assert len(arm["poses"]) == len(x86["poses"]) >= 2
    worst = 0.0
    for pa, px in zip(arm["poses"], x86["poses"], strict=True):
        assert abs(pa["score"] - px["score"]) < 0.01
        for ka, kx in zip(pa["keypoints"], px["keypoints"], strict=True):
            worst = max(worst, abs(ka["x"] - kx["x"]), abs(ka["y"] - kx["y"]))
    print(f"largest keypoint difference arm64 vs x86_64: {worst:.3f} source px")
    assert worst < 6.0  # source pixels of a 1920-wide photo: 2 pixels of the 641-wide model input


def test_boots_into_cpu_fallback_and_sends_poses(arm64: Installed, tmp_path: Path) -> None:
    assert arm64.result.returncode == 0
    out = tmp_path / "out"
    t0 = time.monotonic()
    console = boot(arm64.rootfs, HERE / "arm64-check.sh", out, timeout=1200, drop_in="[Service]\n" + PI_SERVICE_SHIM)
    journal = (out / "journal.txt").read_text() if (out / "journal.txt").exists() else ""
    assert (out / "results.json").exists(), console[-3000:] + journal[-3000:]
    r = json.loads((out / "results.json").read_text())
    print(f"boot, checks and power-off under qemu: {time.monotonic() - t0:.0f} s")
    print(json.dumps(r, indent=1))
    assert r["machine"] == "aarch64"
    assert r["firstboot"] == "success/0", journal[-3000:]
    assert r["hostname"].startswith("posenet-"), r  # no longer "raspberrypi"
    assert r["state"] == "active/running" and r["restarts"] == 0, journal[-3000:]
    assert "cpu" in r["status"]["backend"] and "cpu" in r["status_text"]  # no Coral here: the CPU twin
    assert r["status"]["pipeline"]["frames_processed"] > 0
    assert r["bundles_in_30s"] >= 3, r  # poses reached a receiver on the target port
    assert r["result"] == "success" and r["stop_seconds"] < 10, r


def test_disk_image_without_loop_devices(arm64: Installed, tmp_path: Path) -> None:
    """make-image.sh packs the installed root (and a boot partition) into a Raspberry Pi disk layout."""
    assert arm64.result.returncode == 0
    need("sfdisk", "mkfs.vfat", "mcopy", "mkfs.ext4", "debugfs", "blkid")
    fstab_before = (arm64.rootfs / "etc/fstab").read_bytes()
    img = tmp_path / "posenet.img"
    t0 = time.monotonic()
    options = ["--disk-id", "5eed0001", "--boot-file", str(ROOT / "image-build/posenet.json.example")]
    made = subprocess.run(
        ["bash", str(ROOT / "image-build/make-image.sh"), str(arm64.rootfs), str(img), *options],
        text=True,
        capture_output=True,
        check=False,
        timeout=900,
    )
    assert made.returncode == 0, made.stderr[-3000:]
    print(made.stdout.strip(), f"({time.monotonic() - t0:.1f} s, {img.stat().st_size / 2**20:.0f} MiB)")
    layout = json.loads(subprocess.run(["sfdisk", "--json", str(img)], text=True, capture_output=True).stdout)
    table = layout["partitiontable"]
    assert table["label"] == "dos" and table["id"] == "0x5eed0001"
    (p1, p2) = table["partitions"]
    assert (p1["type"], p2["type"]) == ("c", "83") and p1["start"] == 8192 and p2["start"] % 8192 == 0

    def probe(start: int) -> str:
        return subprocess.run(["blkid", "-p", "-O", str(start * 512), str(img)], text=True, capture_output=True).stdout

    assert 'LABEL="bootfs"' in probe(p1["start"]) and 'TYPE="vfat"' in probe(p1["start"])
    assert 'LABEL="rootfs"' in probe(p2["start"]) and 'TYPE="ext4"' in probe(p2["start"])
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
    boot_part = f"{img}@@{p1['start'] * 512}"
    listing = subprocess.run(["mdir", "-b", "-i", boot_part, "::"], text=True, capture_output=True, env=env).stdout
    assert "posenet.json.example" in listing and "cmdline.txt" in listing
    cmdline = subprocess.run(["mtype", "-i", boot_part, "::cmdline.txt"], text=True, capture_output=True, env=env)
    assert "root=PARTUUID=5eed0001-02" in cmdline.stdout

    root_part = f"{img}?offset={p2['start'] * 512}"

    def debugfs(request: str) -> str:
        return subprocess.run(["debugfs", "-R", request, root_part], text=True, capture_output=True).stdout

    fstab = debugfs("cat /etc/fstab")
    assert "PARTUUID=5eed0001-01  /boot/firmware" in fstab and "PARTUUID=5eed0001-02  /" in fstab
    assert "posenet-appliance.service" in debugfs("ls /etc/systemd/system/multi-user.target.wants")
    assert MODEL in debugfs("ls /opt/posenet-appliance/models")
    assert "Type: regular" in debugfs("stat /opt/posenet-appliance/venv/bin/posenet-appliance")
    config = debugfs("stat /var/lib/posenet-appliance/config.json")
    assert "Mode:  0600" in config  # the saved settings keep their owner-only mode in the image
    assert (arm64.rootfs / "etc/fstab").read_bytes() == fstab_before  # the tree itself is untouched
    img.unlink()
