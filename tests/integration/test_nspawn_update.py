"""Signed updates under a real systemd (``systemd-nspawn --boot``, the same cached Debian root as
test_nspawn.py): a good version uploaded through the API is installed by posenet-update.service and
kept; a version that fails at start comes back on the old one by itself; a tampered file is refused;
a kill during the switch leaves a working box. Updates are built by image-build/make-update.sh.

Slow (a few minutes): ``sudo bash .ci/slow -k nspawn``. Prints the timings the README quotes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from appliance.update.bundle import keygen
from tests.integration.rootfs import HERE, ROOT, boot, debian_root, install, need, stage_project

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]
CACHE = Path(os.environ.get("POSENET_ROOTFS_CACHE", "/var/tmp/posenet-bookworm-rootfs.tar"))
DROP_IN = "[Service]\nWatchdogSec=5s\nRestartSec=1s\n"
BROKEN = '    raise SystemExit("this build is broken on purpose (tests/integration/test_nspawn_update.py)")\n'


def make_update(key: Path, out: Path, version: str, src: Path | None = None) -> None:
    env = dict(os.environ, PYTHON=sys.executable)
    if src is not None:
        env["SRC"] = str(src)
    proc = subprocess.run(
        ["bash", str(ROOT / "image-build/make-update.sh"), str(key), str(out), "--version", version],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    print(proc.stdout.strip().splitlines()[-1])


def broken_source(dest: Path) -> Path:
    """The checkout with ``posenet-appliance run`` failing at once (a version that cannot start)."""
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        (dest / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / f, dest / f)
    cli = dest / "appliance/cli.py"
    text = cli.read_text()
    head = "def cmd_run(args: argparse.Namespace) -> int:\n"
    assert head in text
    cli.write_text(text.replace(head, head + BROKEN))
    return dest


def tamper(good: Path, out: Path) -> None:
    data = bytearray(good.read_bytes())
    with tarfile.open(good) as tar:
        member = next(m for m in tar.getmembers() if m.name.startswith("wheels/posenet_appliance"))
    data[member.offset_data + 1000] ^= 0x01
    out.write_bytes(bytes(data))


def test_updates_under_real_systemd(models_dir: Path, tmp_path: Path) -> None:
    need("systemd-nspawn")
    private, public = keygen(tmp_path / "keys")
    updates = tmp_path / "updates"
    updates.mkdir()
    make_update(private, updates / "good.update", "0.2.0")
    make_update(private, updates / "good4.update", "0.4.0")
    make_update(private, updates / "fail.update", "0.3.0", src=broken_source(tmp_path / "broken"))
    tamper(updates / "good.update", updates / "tampered.update")
    rootfs = debian_root(tmp_path / "rootfs", CACHE)
    stage_project(rootfs, models_dir, config=HERE / "nspawn-config.json")
    for f in [public, *updates.iterdir()]:
        shutil.copy(f, rootfs / "root" / f.name)
    result = install(rootfs, "--update-key", "/root/update-key.pub")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (rootfs / "opt/posenet-appliance/venv").readlink() == Path("versions/0.1.0/venv")
    out = tmp_path / "out"
    console = boot(rootfs, HERE / "nspawn-update-check.sh", out, drop_in=DROP_IN, timeout=1200)
    journal = (out / "journal.txt").read_text() if (out / "journal.txt").exists() else ""
    assert (out / "results.txt").exists(), console[-3000:] + journal[-3000:]
    r = dict(line.split("=", 1) for line in (out / "results.txt").read_text().splitlines() if "=" in line)
    print("\n".join(f"{k}: {v}" for k, v in r.items()))
    assert r["v0"] == "0.1.0" and r["link0"] == "versions/0.1.0/venv", r
    # a tampered file: refused by both ways in, nothing changed
    assert r["tampered_rc"] == "2" and "does not match its signed hash" in r["tampered_msg"], r
    assert r["tampered_http"].startswith("422") and "does not match its signed hash" in r["tampered_http"], r
    assert r["link_after_tampered"] == "versions/0.1.0/venv"
    # a good version through the API (path unit -> posenet-update.service): kept
    assert r["good_http"] == "202" and r["good_state"] == "ok", (r, journal[-4000:])
    assert r["v1"] == "0.2.0" and r["link1"] == "versions/0.2.0/venv", r
    # a version that fails at start: back on the old one by itself
    assert r["fail_rc"] == "1" and "rolled back to 0.2.0: it stopped before confirming" in r["fail_msg"], r
    assert r["v2"] == "0.2.0" and r["link2"] == "versions/0.2.0/venv", (r, journal[-4000:])
    # a kill during the switch: the link still names a complete version, and the box starts it
    assert r["kill_rc"] == "134" and r["link_after_kill"] == "versions/0.2.0/venv" and r["kill_complete"] == "yes", r
    assert r["v3"] == "0.2.0", r
