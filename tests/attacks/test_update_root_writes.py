"""The updater runs as root (posenet-update.service) and writes into the state directory, which the
service's unprivileged user owns; anyone who runs code as that user (the one thing the service's
sandbox is there to contain) can plant links there, and can start the updater at will (any file at
``update/pending.update`` starts it). Root must never write, chown or copy through such a link.

Runs as root where it can (``chown`` is root's); the writes through links are shown either way."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from appliance.update.bundle import keygen
from appliance.update.layout import Layout, confirmed, report, restore_config, save_config

SERVICE_UID = 4242  # the service's user (any uid but root's)


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    prefix, state = tmp_path / "opt", tmp_path / "state"
    (prefix / "versions/0.1.0/config").mkdir(parents=True)
    (prefix / "versions/0.1.0/config/config.json").write_text('{"device_name": "saved"}')
    state.mkdir()
    (state / "config.json").write_text('{"device_name": "now"}')
    if os.geteuid() == 0:
        os.chown(state, SERVICE_UID, SERVICE_UID)
    return Layout(prefix, state)


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A root-owned file the attacker wants (think /etc/shadow)."""
    path = tmp_path / "etc/shadow"
    path.parent.mkdir()
    path.write_text("root:secret-hash\n")
    path.chmod(0o640)
    return path


def _untouched(victim: Path) -> None:
    assert victim.read_text() == "root:secret-hash\n"
    st = victim.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (os.geteuid(), os.getegid(), 0o640)
    assert victim.parent.stat().st_uid == os.geteuid()


def test_a_linked_update_folder_is_not_chowned_or_written(layout: Layout, victim: Path) -> None:
    """``<state>/update`` replaced by a link to /etc. Before: report() chowned /etc to the service's
    user (as root) and wrote status.json into it. After: neither (the status is not written)."""
    (layout.state_dir / "update").symlink_to(victim.parent)
    report(layout, {"state": "refused", "message": "not an update file"})
    _untouched(victim)
    assert not (victim.parent / "status.json").exists()


def test_a_planted_temporary_file_is_not_written_through(layout: Layout, victim: Path) -> None:
    """The status's temporary name is predictable (``.status.json.tmp-<pid>``). Before: root opened
    it with O_TRUNC through the planted link (the victim became the status JSON, mode 0600, owned by
    the service's user). After: the link is removed, never followed; the status is written."""
    (layout.state_dir / "update").mkdir()
    (layout.state_dir / f"update/.status.json.tmp-{os.getpid()}").symlink_to(victim)
    report(layout, {"state": "refused", "message": "not an update file"})
    _untouched(victim)
    assert '"refused"' in layout.status.read_text()


def test_restoring_the_configuration_does_not_write_through_a_link(layout: Layout, victim: Path) -> None:
    """A rollback's restore_config copies to ``.config.json.restore-tmp``. Before: through a planted
    link, root overwrote the victim with the saved configuration and chowned it to the service's
    user. After: untouched, and the configuration is restored."""
    (layout.state_dir / ".config.json.restore-tmp").symlink_to(victim)
    restore_config(layout, "0.1.0")
    _untouched(victim)
    assert (layout.state_dir / "config.json").read_text() == '{"device_name": "saved"}'


def test_saving_the_configuration_does_not_copy_a_linked_file(layout: Layout, victim: Path) -> None:
    """``<state>/config.json`` replaced by a link to /etc/shadow before an update. Before: root copied
    the victim into versions/<v>/config (mode 0644: readable by all), from where a rollback gives it
    back to the service's user. After: a linked configuration file is not kept."""
    (layout.state_dir / "config.json").unlink()
    (layout.state_dir / "config.json").symlink_to(victim)
    save_config(layout, "0.1.0")
    saved = layout.version_dir("0.1.0") / "config/config.json"
    assert "secret-hash" not in saved.read_text()


def _pending(layout: Layout, plant: Any) -> subprocess.CompletedProcess[str]:
    """``posenet-appliance update pending`` (what posenet-update.service runs as root) after ``plant``
    put something at ``update/pending.update``; 20 s at most."""
    (layout.prefix / "venv").mkdir()  # an installed (pre-update) version
    keygen(layout.prefix / "keys")
    (layout.prefix / "update-key.pub").write_bytes((layout.prefix / "keys/update-key.pub").read_bytes())
    (layout.state_dir / "update").mkdir()
    plant(layout.state_dir / "update/pending.update")
    argv = [sys.executable, "-m", "appliance", "update", "pending", "--no-restart"]
    argv += ["--prefix", str(layout.prefix), "--state-dir", str(layout.state_dir)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.run(argv, capture_output=True, text=True, timeout=20, env=env)


def test_a_pending_fifo_does_not_hang_the_updater(layout: Layout) -> None:
    """The service's user makes ``update/pending.update`` a FIFO (which also starts the updater).
    Before: root opened it to verify it and waited for a writer (the unit allows 30 min; killed here
    after 20 s). After: refused at once, in one line, and the FIFO is gone."""
    result = _pending(layout, os.mkfifo)
    assert result.returncode != 0 and "not a plain file" in result.stderr, result.stderr
    assert not (layout.prefix / "update/applying.update").exists()


def test_a_pending_link_is_not_read_by_root(layout: Layout, victim: Path) -> None:
    """... or a link to a file only root may read: refused without opening it."""
    result = _pending(layout, lambda p: p.symlink_to(victim))
    assert result.returncode != 0 and "not a plain file" in result.stderr, result.stderr
    _untouched(victim)


def test_a_fifo_for_the_health_confirmation_does_not_hang_root(layout: Layout) -> None:
    """``update-health.json`` (which the new version writes to confirm its trial) made a FIFO: root's
    updater and boot check read it. Before: the read waited for a writer for ever. After: not a
    confirmation, at once (the trial then rolls back at its deadline)."""
    os.mkfifo(layout.health)
    done = threading.Event()
    answer: list[bool] = []

    def read() -> None:
        answer.append(confirmed(layout, {"id": "t"}))
        done.set()

    worker = threading.Thread(target=read, daemon=True)
    worker.start()
    if not done.wait(5.0):
        with open(layout.health, "wb"):  # let the reader go (and the test end)
            pass
        worker.join(5.0)
        pytest.fail("confirmed() blocked on a FIFO for 5 s")
    assert answer == [False]
