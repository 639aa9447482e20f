"""image-build/: the scripts are shellcheck-clean, the pi-gen stage has pi-gen's shape and does its
job with a stand-in for pi-gen's ``on_chroot``, build-image.sh prepares a pi-gen tree, make-image.sh
packs a small root into a correct disk image, and the dependency locks match pyproject.toml.

The slow, real runs are in tests/integration (install under qemu-aarch64, boot, image of that root).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from appliance.config.models import AppConfig
from appliance.update.bundle import keygen
from tests.fakes.debs import make_deb
from tests.integration.rootfs import MODELS  # image-build/models.txt, read once

ROOT = Path(__file__).resolve().parents[2]
IB = ROOT / "image-build"
STAGE = IB / "pigen/stage2-posenet"


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (.ci/setup installs it)")
    return path


def shell_scripts() -> list[Path]:
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, text=True, capture_output=True, check=True).stdout.split()
    found = [ROOT / f for f in files if f.endswith(".sh") or f.startswith(".ci/")]
    return [p for p in found if p.exists()]


def test_every_shell_script_is_shellcheck_clean() -> None:
    scripts = shell_scripts()
    assert len(scripts) >= 8, scripts
    result = subprocess.run([tool("shellcheck"), "-s", "bash", *map(str, scripts)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:]


def test_pigen_stage_has_pigens_shape() -> None:
    # pi-gen runs prerun.sh and NN-run.sh only if executable; the stage sorts after stage2 (Lite)
    # and before stage3 even when STAGE_LIST is not used.
    modes = subprocess.run(
        ["git", "ls-files", "-s", "image-build/pigen"], cwd=ROOT, text=True, capture_output=True, check=True
    ).stdout
    mode_of = {line.split()[-1]: line.split()[0] for line in modes.splitlines()}
    assert mode_of["image-build/pigen/stage2-posenet/prerun.sh"] == "100755"
    assert mode_of["image-build/pigen/stage2-posenet/00-posenet/00-run.sh"] == "100755"
    assert sorted(["stage3", STAGE.name, "stage2", "stage1"]) == ["stage1", "stage2", STAGE.name, "stage3"]
    assert 'IMG_SUFFIX="-posenet"' in (STAGE / "EXPORT_IMAGE").read_text()
    config = (IB / "pigen/config").read_text()
    assert "IMG_NAME=posenet-appliance" in config and "TARGET_HOSTNAME=raspberrypi" in config


def test_image_has_no_baked_password_and_the_appliance_never_waits_for_a_console() -> None:
    # pi-gen's export-image/01-user-rename enables Raspberry Pi OS's first-boot user dialog
    # (userconfig.service, a oneshot on tty8 that waits for a keyboard). multi-user.target is ordered
    # after it, so on a headless box the boot never "finishes": our units must not be ordered after
    # that target, the dialog, or the login sessions, or the box would never start. Disabling the
    # dialog with DISABLE_FIRST_BOOT_USER_RENAME=1 would need a FIRST_USER_PASS in every image.
    settings = {
        line.split("=", 1)[0]: line.split("=", 1)[1]
        for line in (IB / "pigen/config").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert "FIRST_USER_PASS" not in settings and settings.get("DISABLE_FIRST_BOOT_USER_RENAME", "0") == "0"
    assert settings["ENABLE_SSH"] == "0"
    waits_for_console = ("multi-user.target", "userconfig", "systemd-user-sessions", "getty", "graphical.target")
    for unit in (
        "posenet-appliance.service",
        "posenet-firstboot.service",
        "posenet-clock.service",
        "posenet-clock.path",
    ):
        for line in (ROOT / "systemd" / unit).read_text().splitlines():
            if line.startswith(("After=", "Requires=", "BindsTo=", "Requisite=")):
                assert not any(name in line for name in waits_for_console), (unit, line)


def test_device_models_are_pinned() -> None:
    from appliance.models.catalog import DEFAULT_MODEL, PINNED

    assert len(MODELS) == 4 and set(MODELS) <= {m.name for m in PINNED}  # each has a URL and a sha256
    assert DEFAULT_MODEL in MODELS


def test_settings_example_is_valid() -> None:
    config = AppConfig.model_validate(json.loads((IB / "posenet.json.example").read_text()))
    assert config.targets[1].host == "broadcast" and config.targets[1].format == "wekinator"


def test_dependency_locks_match_pyproject() -> None:
    result = subprocess.run([sys.executable, str(IB / "lock.py"), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for name in ("requirements-py311.txt", "requirements-py313.txt"):
        text = (IB / name).read_text()
        pins = {}
        for block in text.split("\n")[3:]:
            if "==" in block:
                current = block.split("==")[0]
                pins[current] = 0
            elif "--hash=sha256:" in block:
                pins[current] += 1
        assert pins and all(n >= 1 for n in pins.values()), name
        for compiled in ("numpy", "ai-edge-litert", "opencv-python-headless", "pydantic-core"):
            assert pins[compiled] == 2, (name, compiled)  # one wheel for aarch64, one for x86_64


def test_install_script_rejects_bad_options() -> None:
    result = subprocess.run(["bash", str(IB / "install-on-pi.sh"), "--frobnicate"], capture_output=True, text=True)
    assert result.returncode == 2 and "unknown option --frobnicate" in result.stderr
    helped = subprocess.run(["bash", str(IB / "install-on-pi.sh"), "--help"], capture_output=True, text=True)
    assert helped.returncode == 0 and "--skip-pi-repos" in helped.stdout and "--image" in helped.stdout
    assert "--edgetpu-deb" in helped.stdout


@pytest.mark.parametrize("kind", ["missing", "not a deb", "other package"])
def test_install_script_checks_the_edgetpu_deb_before_changing_anything(tmp_path: Path, kind: str) -> None:
    deb = {
        "missing": lambda: tmp_path / "libedgetpu1-std_16.0_arm64.deb",
        "not a deb": lambda: ROOT / "README.md",
        "other package": lambda: make_deb(tmp_path, "libusb-1.0-0"),
    }[kind]()
    # --prefix in tmp: had the check come too late, the script would have started installing there.
    prefix = tmp_path / "prefix"
    result = subprocess.run(
        ["bash", str(IB / "install-on-pi.sh"), "--edgetpu-deb", str(deb), "--prefix", str(prefix)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and result.stdout == "", result.stdout
    assert len(result.stderr.splitlines()) == 1
    expected = {"missing": "no such file", "not a deb": "not a Debian package", "other package": "'libusb-1.0-0'"}
    assert expected[kind] in result.stderr
    assert not prefix.exists()


@pytest.mark.parametrize("kind", ["missing", "not a key"])
def test_install_script_checks_the_update_key_before_changing_anything(tmp_path: Path, kind: str) -> None:
    key = tmp_path / "update-key.pub" if kind == "missing" else ROOT / "README.md"
    prefix = tmp_path / "prefix"
    result = subprocess.run(
        ["bash", str(IB / "install-on-pi.sh"), "--update-key", str(key), "--prefix", str(prefix)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and result.stdout == "" and len(result.stderr.splitlines()) == 1, result.stderr
    assert ("no such file" if kind == "missing" else "is not an update public key") in result.stderr
    assert not prefix.exists()


def test_make_update_refuses_a_missing_key_at_once(tmp_path: Path) -> None:
    result = subprocess.run(
        ["bash", str(IB / "make-update.sh"), str(tmp_path / "nokey"), str(tmp_path / "out.update")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "no such private key" in result.stderr
    assert not (tmp_path / "out.update").exists()


@pytest.fixture
def pigen(tmp_path: Path) -> Path:
    """A stand-in pi-gen checkout: its stage folders and a git history, no build scripts run."""
    pg = tmp_path / "pi-gen"
    for s in ("stage0", "stage1", "stage2", "stage3", "stage4", "stage5"):
        (pg / s).mkdir(parents=True)
        (pg / s / "prerun.sh").write_text("#!/bin/bash -e\n")
    git = ["git", "-C", str(pg), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "pi-gen"], check=True)
    return pg


def prepare(pigen: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(IB / "build-image.sh"), "--pigen-dir", str(pigen), "--prepare-only", *extra],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_build_image_prepares_pigen(pigen: Path, models_dir: Path, tmp_path: Path) -> None:
    settings = tmp_path / "settings.json"
    settings.write_text('{"device_name": "baked-in"}')
    result = prepare(pigen, "--models-from", str(models_dir), "--config", str(settings))
    assert result.returncode == 0, result.stderr
    files = pigen / "stage2-posenet/00-posenet/files"
    with tarfile.open(files / "posenet-appliance-src.tar.gz") as tar:
        names = set(tar.getnames())
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, text=True, capture_output=True, check=True).stdout.split()
    assert names == set(tracked)  # the project as committed: no venv, no caches, no models
    assert sorted(p.name for p in (files / "models").iterdir()) == sorted(MODELS)
    assert json.loads((files / "posenet.json").read_text()) == {"device_name": "baked-in"}
    assert "pi-gen " in (files / "BUILD-INFO").read_text()
    config = (pigen / "config-posenet").read_text()
    assert 'STAGE_LIST="stage0 stage1 stage2 stage2-posenet"' in config
    assert (pigen / "stage2/SKIP_IMAGES").exists() and (pigen / "stage3/SKIP").exists()
    assert os.access(pigen / "stage2-posenet/00-posenet/00-run.sh", os.X_OK)


def test_build_image_refuses_bad_input(pigen: Path, tmp_path: Path) -> None:
    missing = prepare(pigen, "--models-from", str(tmp_path))
    assert missing.returncode == 2 and "missing model" in missing.stderr
    wrong_arch = prepare(pigen, "--edgetpu-deb", str(make_deb(tmp_path, arch="amd64")))
    assert wrong_arch.returncode == 2 and "not an *_arm64.deb" in wrong_arch.stderr
    assert not (pigen / "stage2-posenet").exists()  # checked before anything was changed
    spaced = prepare(tmp_path / "with space", "--config", "/nonexistent.json")
    assert spaced.returncode == 2 and "spaces" in spaced.stderr


def test_stage_installs_with_the_install_script(pigen: Path, models_dir: Path, tmp_path: Path) -> None:
    """The sub-stage as pi-gen runs it: in its folder, ROOTFS_DIR set, on_chroot reading a script."""
    settings = tmp_path / "settings.json"
    settings.write_text("{}")
    deb = make_deb(tmp_path, "libedgetpu1-max", arch="arm64")
    _, key = keygen(tmp_path / "keys")
    prepared = prepare(
        pigen,
        "--models-from",
        str(models_dir),
        "--config",
        str(settings),
        "--edgetpu-deb",
        str(deb),
        "--update-key",
        str(key),
    )
    assert prepared.returncode == 0, prepared.stderr
    rootfs = tmp_path / "rootfs"
    (rootfs / "boot/firmware").mkdir(parents=True)
    record = tmp_path / "on_chroot.txt"
    # pi-gen's on_chroot runs its standard input in the chroot; ours records it and what it could see.
    fake = (
        'on_chroot() { cat > "$RECORD"; '
        'ls "$ROOTFS_DIR/tmp/posenet-build/src/image-build/install-on-pi.sh" '
        '"$ROOTFS_DIR/tmp/posenet-build/models" "$ROOTFS_DIR/tmp/posenet-build/src/build/BUILD-INFO" '
        f'"$ROOTFS_DIR/tmp/posenet-build/{deb.name}" >> "$RECORD"; }}; '
        "export -f on_chroot; ./00-run.sh"
    )
    result = subprocess.run(
        ["bash", "-c", fake],
        cwd=pigen / "stage2-posenet/00-posenet",
        env=dict(os.environ, ROOTFS_DIR=str(rootfs), RECORD=str(record)),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    seen = record.read_text()
    expected = (
        "--image --models-from /tmp/posenet-build/models"
        f" --edgetpu-deb /tmp/posenet-build/{deb.name} --update-key /tmp/posenet-build/update-key.pub"
        " --config /tmp/posenet-build/posenet.json"
    )
    assert f"bash /tmp/posenet-build/src/image-build/install-on-pi.sh {expected}" in seen
    assert "No such file" not in seen
    assert (rootfs / "boot/firmware/posenet.json.example").exists()
    assert not (rootfs / "tmp/posenet-build").exists()  # nothing of the build left in the image


def test_stage_without_prepared_files_says_so(tmp_path: Path) -> None:
    result = subprocess.run(
        ["bash", str(STAGE / "00-posenet/00-run.sh")],
        cwd=tmp_path,
        env=dict(os.environ, ROOTFS_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and "build the image with image-build/build-image.sh" in result.stderr


@pytest.fixture
def small_root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    for d in ("sbin", "etc", "boot/firmware/overlays", "opt/posenet-appliance", "var/lib/posenet-appliance"):
        (r / d).mkdir(parents=True)
    (r / "sbin/init").write_text("#!/bin/sh\n")
    (r / "sbin/init").chmod(0o755)
    (r / "etc/fstab").write_text("# UNCONFIGURED FSTAB\n")
    (r / "boot/firmware/cmdline.txt").write_text("console=tty1 root=PARTUUID=0badf00d-02 rootwait quiet\n")
    (r / "boot/firmware/config.txt").write_text("arm_64bit=1\n")
    (r / "boot/firmware/overlays/x.dtbo").write_bytes(b"\xd0\x0d")
    secret = r / "var/lib/posenet-appliance/config.json"
    secret.write_text("{}")
    secret.chmod(0o600)
    os.chown(secret, 999, 998)
    return r


def test_make_image_packs_a_root_without_loop_devices(small_root: Path, tmp_path: Path) -> None:
    for t in ("sfdisk", "mkfs.vfat", "mcopy", "mkfs.ext4", "debugfs", "blkid", "unshare"):
        tool(t)
    img = tmp_path / "pi.img"
    options = ["--boot-size", "64", "--disk-id", "C0FFEE42", "--boot-file", str(IB / "posenet.json.example")]
    result = subprocess.run(
        ["bash", str(IB / "make-image.sh"), str(small_root), str(img), *options],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # no warnings
    table = json.loads(subprocess.run(["sfdisk", "--json", str(img)], capture_output=True, text=True).stdout)
    table = table["partitiontable"]
    assert table["id"] == "0xc0ffee42"
    p1, p2 = table["partitions"]
    assert (p1["start"], p1["size"], p1["type"]) == (8192, 64 * 2048, "c")
    assert p2["type"] == "83" and p2["start"] % 8192 == 0 and p2["start"] >= p1["start"] + p1["size"]
    env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
    boot = f"{img}@@{p1['start'] * 512}"
    names = subprocess.run(["mdir", "-b", "-i", boot, "::"], capture_output=True, text=True, env=env).stdout
    assert {"::/cmdline.txt", "::/config.txt", "::/overlays/", "::/posenet.json.example"} <= set(names.split())
    cmdline = subprocess.run(["mtype", "-i", boot, "::cmdline.txt"], capture_output=True, text=True, env=env).stdout
    assert cmdline.strip() == "console=tty1 root=PARTUUID=c0ffee42-02 rootwait quiet"
    root = f"{img}?offset={p2['start'] * 512}"

    def debugfs(request: str) -> str:
        return subprocess.run(["debugfs", "-R", request, root], capture_output=True, text=True).stdout

    fstab = debugfs("cat /etc/fstab")
    assert "PARTUUID=c0ffee42-01  /boot/firmware  vfat" in fstab and "PARTUUID=c0ffee42-02  /  " in fstab
    assert "cmdline.txt" not in debugfs("ls /boot/firmware")  # the FAT partition holds those
    stat = debugfs("stat /var/lib/posenet-appliance/config.json")
    assert "Mode:  0600" in stat and "User:   999" in stat and "Group:   998" in stat
    # the source tree was not touched
    assert (small_root / "etc/fstab").read_text() == "# UNCONFIGURED FSTAB\n"
    assert "0badf00d" in (small_root / "boot/firmware/cmdline.txt").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/nonexistent", "x.img"], "no such directory"),
        (["{tmp}", "x.img"], "does not look like a root file system"),
        (["{root}", "x.img", "--disk-id", "xyz"], "--disk-id must be 8 hex digits"),
        (["{root}", "x.img", "--boot-size", "8"], "--boot-size must be"),
        (["{root}"], "usage:"),
    ],
)
def test_make_image_refuses_bad_input(small_root: Path, tmp_path: Path, args: list[str], message: str) -> None:
    argv = [a.format(tmp=tmp_path / "empty", root=small_root) for a in args]
    (tmp_path / "empty").mkdir()
    result = subprocess.run(["bash", str(IB / "make-image.sh"), *argv], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.img").exists()
