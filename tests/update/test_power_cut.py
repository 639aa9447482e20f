"""A kill at any step of an update (the updater process aborted there, as a power cut would stop it)
leaves a box whose ``venv`` is a complete, runnable version; the boot check at the next start then
keeps or restores a working version and cleans up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.update.layout import boot_check, read_json
from tests.update.helpers import CONFIG, ROOT, Box

CHILD = """
import sys
from pathlib import Path
from appliance.update.install import Installer
from appliance.update.layout import Layout
layout = Layout(Path(sys.argv[1]), Path(sys.argv[2]))
Installer(layout, Path(sys.argv[3]), restart=lambda: None, health_seconds=0.5).apply(Path(sys.argv[4]))
"""
STEPS = ["update.unpack", "update.install", "update.trial", "update.switch", "update.restart", "update.rollback"]


def venv_is_complete(box: Box) -> str:
    layout = box.layout
    version = layout.current()
    assert version == "legacy" or layout.complete(version), f"venv points at an incomplete {version}"
    return box.runs()


@pytest.mark.parametrize("step", STEPS)
def test_a_kill_at_each_step_leaves_a_working_version(box: Box, step: str) -> None:
    file = box.update("0.2.0")
    layout = box.layout
    env = dict(os.environ, PYTHONPATH=str(ROOT), POSENET_FAILPOINTS=f"{step}=crash")
    args = [str(layout.prefix), str(layout.state_dir), str(box.public), str(file)]
    child = subprocess.run([sys.executable, "-c", CHILD, *args], env=env, capture_output=True, text=True, timeout=120)
    assert child.returncode == -6, child.stderr[-2000:]  # SIGABRT: killed at that step
    print(f"{step}: after the kill the box runs {venv_is_complete(box)!r}", end="; ")
    # The next start (after a power cut: another boot) keeps or restores a working version.
    done = boot_check(layout, this_boot="the-next-boot")
    print(f"boot check: {done}")
    assert venv_is_complete(box) == "standin 0.1.0 dep-1.0"  # the trial never confirmed: the old one
    assert not layout.trial.exists()
    assert (layout.state_dir / "config.json").read_text() == CONFIG
    versions = list(layout.versions.iterdir()) if layout.versions.is_dir() else []
    assert all(layout.complete(p.name) for p in versions), "a partial install was left"
    assert not (layout.work / "staging").exists()
    message = (read_json(layout.status) or {}).get("message", "")
    if step in ("update.restart", "update.rollback"):
        assert "rolled back to legacy: the box restarted during its trial" in message
    elif step != "update.unpack":
        assert "interrupted before its switch" in message


def test_the_first_start_of_a_trial_goes_ahead_and_a_second_rolls_back(box: Box) -> None:
    from appliance.update.install import Installer

    Installer(box.layout, box.public).apply(box.update("0.2.0"))
    assert "starts on trial" in boot_check(box.layout)  # same boot: the new version's first start
    assert box.layout.trial.stat().st_mode & 0o777 == 0o644  # still readable by the service's user
    assert box.runs() == "standin 0.2.0 dep-1.0"
    assert "stopped before confirming" in boot_check(box.layout)  # it stopped: the old one is back
    assert box.runs() == "standin 0.1.0 dep-1.0"


def test_a_venv_link_that_points_nowhere_is_repaired(box: Box, tmp_path: Path) -> None:
    from appliance.update.install import Installer

    Installer(box.layout, box.public).apply(box.update("0.2.0"))
    box.layout.trial.unlink()
    box.layout.venv.unlink()  # a cut between the legacy rename and its link, or a removal by hand
    assert "now" in boot_check(box.layout)
    assert venv_is_complete(box).startswith("standin 0.")


def test_the_installed_boot_check_runs_with_the_system_python_alone(box: Box) -> None:
    """``bin/posenet-update-check`` is layout.py run by ``python3 -I``: no venv, no appliance package."""
    from appliance.update.install import Installer

    Installer(box.layout, box.public).apply(box.update("0.2.0"))
    script = ROOT / "appliance/update/layout.py"
    cmd = ["/usr/bin/python3", "-I", str(script), str(box.layout.prefix), str(box.layout.state_dir)]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0 and "starts on trial" in first.stderr, first.stderr
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert "rolled back to legacy" in second.stderr, second.stderr
    assert box.runs() == "standin 0.1.0 dep-1.0"


def test_the_boot_check_under_the_services_umask_keeps_everything_readable(box: Box) -> None:
    """ExecStartPre inherits the unit's UMask=0077: what it creates must still be readable by the
    service's user (found under nspawn: an unreadable update/ folder stopped the service)."""
    script = ROOT / "appliance/update/layout.py"
    cmd = ["/usr/bin/python3", "-I", str(script), str(box.layout.prefix), str(box.layout.state_dir)]

    def umask_077() -> None:
        os.umask(0o077)

    subprocess.run(cmd, check=True, preexec_fn=umask_077, timeout=60)
    assert box.layout.work.stat().st_mode & 0o777 == 0o755
    box.layout.venv.rename(box.layout.prefix / "old-venv")  # the check must repair a link into versions/
    (box.layout.prefix / "versions/legacy").mkdir(parents=True)
    (box.layout.prefix / "old-venv").rename(box.layout.prefix / "versions/legacy/venv")
    (box.layout.prefix / "versions/legacy/complete.json").write_text("{}")
    subprocess.run(cmd, check=True, preexec_fn=umask_077, timeout=60)
    assert box.runs() == "standin 0.1.0 dep-1.0"
    from appliance.update.install import Installer

    Installer(box.layout, box.public).apply(box.update("0.2.0"))
    subprocess.run(cmd, check=True, preexec_fn=umask_077, timeout=60)  # the trial's first start
    for path in (box.layout.work, box.layout.versions, box.layout.version_dir("0.2.0")):
        assert path.stat().st_mode & 0o005 == 0o005, path
    assert box.layout.trial.stat().st_mode & 0o777 == 0o644
