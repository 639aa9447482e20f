"""Shared by the slow integration tests: Debian roots (cached as tarballs), the install script run in
them, and a boot under a real systemd (``systemd-nspawn --boot``) with a checker unit.

Recipes: ``../shared/docs/test-peers.md`` §3.3 (nspawn) and §3.4 (arm64 under qemu-user).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
PACKAGES = "systemd,systemd-sysv,dbus,python3,python3-venv,python3-pip,ca-certificates,iproute2,udev"
MODELS = [ln for ln in (ROOT / "image-build/models.txt").read_text().splitlines() if ln and ln[0] != "#"]
CHECK_UNIT = """[Unit]
After=posenet-appliance.service
[Service]
Type=oneshot
ExecStart=/bin/bash /root/check.sh
[Install]
WantedBy=multi-user.target
"""
NSPAWN = ["systemd-nspawn", "-q", "--register=no", "--keep-unit"]


def run(cmd: list[str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, text=True, capture_output=True, check=True, timeout=timeout)


def need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} needed: apt install debootstrap systemd-container qemu-user-static ...")


def debian_root(dest: Path, cache: Path, arch: str | None = None) -> Path:
    """A minimal Debian 12 root in ``dest``: from the cache tarball, else debootstrapped (and cached).

    ``arch="arm64"`` bootstraps in two stages, the second one under qemu-user (binfmt must be on).
    """
    dest.mkdir(parents=True)
    if cache.exists():
        with tarfile.open(cache) as tar:
            tar.extractall(dest, filter="fully_trusted")
        return dest
    need("debootstrap")
    base = ["debootstrap", "--variant=minbase", f"--include={PACKAGES}"]
    if arch is None:
        run([*base, "bookworm", str(dest)], timeout=900)
    else:
        run([*base, "--foreign", f"--arch={arch}", "bookworm", str(dest)], timeout=900)
        run(["chroot", str(dest), "/debootstrap/debootstrap", "--second-stage"], timeout=1500)
    with tarfile.open(cache, "w") as tar:
        tar.add(dest, arcname=".")
    return dest


def stage_project(rootfs: Path, models_dir: Path, *, config: Path) -> None:
    """Put the committed project, the pinned models and initial settings into ``rootfs``/root."""
    src = rootfs / "root/src"
    for f in _tracked():
        (src / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, src / f)
    (rootfs / "root/models").mkdir(exist_ok=True)
    for m in MODELS:
        shutil.copy(models_dir / m, rootfs / "root/models" / m)
    shutil.copy(config, rootfs / "root/config.json")
    shutil.copy("/etc/resolv.conf", rootfs / "etc/resolv.conf")
    # The container reaches the package registries the way this machine does: same trusted CAs.
    shutil.copy("/etc/ssl/certs/ca-certificates.crt", rootfs / "etc/ssl/certs/ca-certificates.crt")


def _tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, text=True, capture_output=True, check=True)
    return out.stdout.split()


# Emulating a Raspberry Pi 4's CPU under qemu-user. Two shims, both for artefacts of emulation that a
# real Pi does not have (found the hard way, see the README):
# * qemu's default "max" CPU offers extensions no Pi has, and LiteRT's XNNPACK kernels for them gave
#   wrong results under qemu 7.2 (heatmap sum 414873 instead of 951364); with QEMU_CPU=cortex-a72
#   (Pi 4) or cortex-a76 (Pi 5) the output tensors are bit-identical to x86_64's.
# * the container shows the host's x86 /proc/cpuinfo, which the cpuinfo library inside LiteRT cannot
#   parse on arm64: a segfault in allocate_tensors (and qemu then hangs). A Pi 4's cpuinfo fixes it.
PI_CPU = "cortex-a72"
PI_CPUINFO = "/usr/local/share/test-pi4-cpuinfo"
PI_SERVICE_SHIM = f"Environment=QEMU_CPU={PI_CPU}\nBindReadOnlyPaths={PI_CPUINFO}:/proc/cpuinfo\n"


def pi4_cpuinfo(rootfs: Path) -> None:
    core = (
        "BogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\n"
        "CPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n"
    )
    cores = "".join(f"processor\t: {n}\n{core}" for n in range(os.cpu_count() or 1))
    path = rootfs / PI_CPUINFO.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(cores + "Hardware\t: BCM2835\nRevision\t: c03111\nModel\t\t: Raspberry Pi 4 Model B Rev 1.1\n")


def in_container(
    rootfs: Path, *cmd: str, timeout: float = 1800, pi_cpu: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run a command in ``rootfs`` (not booted) with nspawn; ``pi_cpu``: as on a Pi 4 (arm64 roots)."""
    options = ["--setenv=PIP_CERT=/etc/ssl/certs/ca-certificates.crt"]
    if pi_cpu:
        pi4_cpuinfo(rootfs)
        options.append(f"--setenv=QEMU_CPU={PI_CPU}")
        cmd = ("/bin/bash", "-c", f'mount --bind {PI_CPUINFO} /proc/cpuinfo && exec "$@"', "--", *cmd)
    return subprocess.run(
        [*NSPAWN, *options, "-D", str(rootfs), "--pipe", *cmd],
        text=True,
        capture_output=True,
        timeout=timeout,
        check=False,
    )


def install(rootfs: Path, *extra: str, pi_cpu: bool = False) -> subprocess.CompletedProcess[str]:
    """The user's own install command, with the Raspberry-Pi-only repositories skipped."""
    return in_container(
        rootfs,
        "bash",
        "/root/src/image-build/install-on-pi.sh",
        "--skip-pi-repos",
        "--models-from",
        "/root/models",
        "--config",
        "/root/config.json",
        *extra,
        pi_cpu=pi_cpu,
    )


def boot(rootfs: Path, check_script: Path, out: Path, *, drop_in: str = "", timeout: float = 400) -> str:
    """Boot ``rootfs`` with a checker unit running ``check_script``; returns the container's console.

    The script writes its findings to /out (``out`` on the host) and powers the container off.
    """
    shutil.copy(check_script, rootfs / "root/check.sh")
    (rootfs / "etc/systemd/system/check.service").write_text(CHECK_UNIT)
    if drop_in:
        drop = rootfs / "etc/systemd/system/posenet-appliance.service.d"
        drop.mkdir(parents=True, exist_ok=True)
        (drop / "test.conf").write_text(drop_in)
    run(["systemctl", f"--root={rootfs}", "enable", "check.service"])
    out.mkdir(exist_ok=True)
    cmd = ["systemd-nspawn", "-D", str(rootfs), "--boot", "--register=no", "--keep-unit", "--private-network"]
    cmd += [f"--bind={out}:/out"]
    result = subprocess.run(
        ["timeout", str(int(timeout)), *cmd, "--console=pipe"],
        text=True,
        capture_output=True,
        timeout=timeout + 50,
        check=False,
    )
    return result.stdout + result.stderr


@contextlib.contextmanager
def binfmt_aarch64() -> Iterator[None]:
    """qemu-user for arm64 binaries, machine-wide while the block runs; restores what it found."""
    need("update-binfmts", "qemu-aarch64-static")
    misc = Path("/proc/sys/fs/binfmt_misc")
    mounted_here = False
    if not (misc / "status").exists():
        run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(misc)])
        mounted_here = True
    entry = misc / "qemu-aarch64"
    enabled_here = False
    if not entry.exists() or not entry.read_text().startswith("enabled"):
        run(["update-binfmts", "--enable", "qemu-aarch64"])
        enabled_here = True
    try:
        yield
    finally:
        if enabled_here:
            subprocess.run(["update-binfmts", "--disable", "qemu-aarch64"], check=False, capture_output=True)
        if mounted_here:
            subprocess.run(["umount", str(misc)], check=False, capture_output=True)
