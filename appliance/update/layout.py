"""The installed versions on disk, the atomic switch between them, and the boot check.

Standard library only, and importing nothing else from ``appliance``: this file is also copied to
``<prefix>/bin/posenet-update-check`` and run by the service's ``ExecStartPre=+`` with the system's
``python3 -I``, so it works even when no version's venv does.

Layout (``prefix`` is ``/opt/posenet-appliance``)::

    versions/<version>/venv/         one complete virtual environment per installed version
    versions/<version>/complete.json written last, once its install succeeded (else: garbage)
    versions/<version>/config/       the configuration this version last ran with (kept at a switch)
    venv -> versions/<version>/venv  what the service runs; replaced by rename(2), never edited
    update/trial.json                a switched-to version on trial (until it confirms it is healthy)
    update/lock                      one updater or boot check at a time (flock)

A power cut at any moment leaves ``venv`` pointing at a complete version: a new version is complete
before the symlink is switched, and the switch is one rename. A trial that never confirmed is rolled
back by ``boot_check`` at the service's next start (a crash, the updater's own deadline, or a reboot).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "CONFIG_FILES",
    "HEALTH_NAME",
    "TRIAL_MODE",
    "Layout",
    "adopt_legacy",
    "boot_check",
    "boot_id",
    "fsync_dir",
    "install_prefix",
    "main",
    "rollback",
    "switch_to",
    "write_json",
]

#: The service's health confirmation, in its state directory: ``{"trial": <id>, "version": ...}``.
HEALTH_NAME = "update-health.json"
#: Files of the state directory that belong to a version (kept at a switch, put back at a rollback).
CONFIG_FILES = ("config.json", "config.good.json")
#: trial.json is readable by the service's user (it confirms the trial named there); no secrets in it.
TRIAL_MODE = 0o644
#: Seconds the boot check waits for an updater holding the lock (it then only reports).
LOCK_SECONDS = 30.0


def install_prefix() -> Path:
    """Where the appliance is installed (``$POSENET_PREFIX``, default ``/opt/posenet-appliance``)."""
    return Path(os.environ.get("POSENET_PREFIX", "/opt/posenet-appliance"))


def boot_id() -> str:
    """This boot's id (a different one after a reboot or power cut)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json(path: Path, doc: object, *, owner_of: Path | None = None, mode: int = 0o600) -> None:
    """Replace ``path`` with ``doc`` as JSON atomically and durably (``write_file``); ``owner_of``:
    give the file that path's owner (root writing a service's file)."""
    write_file(path, json.dumps(doc, indent=1).encode(), owner_of=owner_of, mode=mode)


def write_file(path: Path, data: bytes, *, owner_of: Path | None = None, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` atomically and durably (temp file, fsync, rename, fsync the
    directory), never through a link: root writes into the state directory, where the service's user
    may have planted links. The folder is opened without following a link (its last part), the temp
    file is made anew (a planted one is removed, never followed) and chowned by its descriptor.

    Raises:
        OSError: the folder is a link (ELOOP) or the write failed; nothing was written.
    """
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    tmp = f".{path.name}.tmp-{os.getpid()}"
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=folder)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode, dir_fd=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                os.fchmod(f.fileno(), mode)  # whatever the umask
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
                _chown_like(f.fileno(), owner_of)
            os.replace(tmp, path.name, src_dir_fd=folder, dst_dir_fd=folder)
            os.fsync(folder)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=folder)
            raise
    finally:
        os.close(folder)


def read_plain(path: Path) -> bytes | None:
    """``path``'s bytes if it is a regular file and not a link (None otherwise)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        return f.read() if stat.S_ISREG(os.fstat(f.fileno()).st_mode) else None


def _chown_like(target: int | Path, owner_of: Path | None) -> None:
    """Give ``target`` (a descriptor, or a path: a link itself, never what it points to) the owner
    of ``owner_of`` (root only)."""
    if owner_of is None or os.geteuid() != 0:
        return
    st = owner_of.stat()
    if isinstance(target, int):
        os.fchown(target, st.st_uid, st.st_gid)
    else:
        os.chown(target, st.st_uid, st.st_gid, follow_symlinks=False)


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from ``path``, or None (absent, unreadable, not an object, or not a plain file:
    root reads the service's files with this, never through a link or from a FIFO)."""
    try:
        data = read_plain(path)
        doc = json.loads(data) if data is not None else None
    except (OSError, ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


class Layout:
    """The paths under an install prefix and a state directory."""

    def __init__(self, prefix: Path, state_dir: Path) -> None:
        self.prefix = prefix
        self.state_dir = state_dir
        self.versions = prefix / "versions"
        self.venv = prefix / "venv"
        self.work = prefix / "update"
        self.trial = self.work / "trial.json"
        self.health = state_dir / HEALTH_NAME
        self.status = state_dir / "update" / "status.json"

    def version_dir(self, version: str) -> Path:
        return self.versions / version

    def complete(self, version: str) -> bool:
        return (self.version_dir(version) / "complete.json").is_file()

    def current(self) -> str:
        """The version ``venv`` points at ("legacy" for a venv directory from before updates, "" if none)."""
        if self.venv.is_symlink():
            target = self.venv.readlink()
            return target.parent.name if target.name == "venv" else ""
        return "legacy" if self.venv.is_dir() else ""

    def installed(self) -> list[str]:
        """Complete versions, oldest first (by completion time)."""
        if not self.versions.is_dir():
            return []
        found = [p.name for p in self.versions.iterdir() if (p / "complete.json").is_file()]
        return sorted(found, key=lambda v: (self.version_dir(v) / "complete.json").stat().st_mtime)

    @contextlib.contextmanager
    def lock(self, seconds: float | None = None) -> Iterator[bool]:
        """Hold the update lock; yields False when ``seconds`` passed without getting it."""
        self.work.mkdir(parents=True, exist_ok=True)
        self.work.chmod(0o755)  # the service's user reads trial.json in it
        fd = os.open(self.work / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            got = _flock(fd, seconds)
            try:
                yield got
            finally:
                if got:
                    fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def _flock(fd: int, seconds: float | None) -> bool:
    if seconds is None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return True
    deadline = time.monotonic() + seconds
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)


def switch_to(layout: Layout, version: str) -> None:
    """Point ``venv`` at ``version`` atomically: a new symlink under a temporary name renamed over
    ``venv``. A venv directory from before updates is first moved to ``versions/legacy`` (a rename:
    its scripts keep working through the symlink, which names the same path)."""
    if not layout.complete(version) and version != "legacy":
        raise RuntimeError(f"version {version} is not completely installed")
    layout.versions.mkdir(parents=True, exist_ok=True)
    adopt_legacy(layout)
    tmp = layout.prefix / ".venv.switch"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(f"versions/{version}/venv")
    _failpoint("update.switch")
    tmp.replace(layout.venv)
    fsync_dir(layout.prefix)


def adopt_legacy(layout: Layout) -> None:
    """A ``venv`` directory from before updates becomes ``versions/legacy/venv`` behind a link."""
    if not layout.venv.is_dir() or layout.venv.is_symlink():
        return
    legacy = layout.version_dir("legacy")
    legacy.mkdir(parents=True, exist_ok=True)
    write_json(legacy / "complete.json", {"version": "legacy", "installed": "before updates"})
    # The rename and the symlink are two steps; between them ``repair`` finds ``versions/legacy/venv``.
    layout.venv.rename(legacy / "venv")
    tmp = layout.prefix / ".venv.switch"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to("versions/legacy/venv")
    tmp.replace(layout.venv)
    fsync_dir(layout.prefix)


def _failpoint(point: str) -> None:
    """``POSENET_FAILPOINTS=update.switch=crash``: abort here (the tests' kill at each step)."""
    spec = os.environ.get("POSENET_FAILPOINTS", "")
    if f"{point}=crash" in spec.split(","):
        os.abort()


def repair(layout: Layout) -> str:
    """Make ``venv`` point at a complete version if it does not (a cut between two renames, or a
    version removed by hand); returns what was done ("" when nothing was needed)."""
    tmp = layout.prefix / ".venv.switch"
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    current = layout.current()
    if current and (current == "legacy" or layout.complete(current)) and (layout.venv / "bin").is_dir():
        return ""
    trial = read_json(layout.trial) or {}
    choices = [str(trial.get("previous", "")), *reversed(layout.installed())]
    for version in choices:
        if version and layout.complete(version) and (layout.version_dir(version) / "venv/bin").is_dir():
            switch_to(layout, version)
            return f"venv pointed at no complete version ({current or 'missing'}): now {version}"
    return "no complete version is installed"


def save_config(layout: Layout, version: str) -> None:
    """Keep the configuration files the outgoing ``version`` runs with beside it."""
    dest = layout.version_dir(version) / "config"
    dest.mkdir(parents=True, exist_ok=True)
    for name in CONFIG_FILES:
        data = read_plain(layout.state_dir / name)  # a link there (to /etc/shadow?) is not kept
        if data is not None:
            write_file(dest / name, data)
    fsync_dir(dest)


def restore_config(layout: Layout, version: str) -> None:
    """Put back the configuration ``version`` ran with (a newer version may have migrated it)."""
    src = layout.version_dir(version) / "config"
    for name in CONFIG_FILES:
        saved = src / name
        if not saved.is_file():
            continue
        write_file(layout.state_dir / name, saved.read_bytes(), owner_of=layout.state_dir)
    fsync_dir(layout.state_dir)


def confirmed(layout: Layout, trial: dict[str, Any]) -> bool:
    """Whether the version on trial wrote its health confirmation for this very trial."""
    health = read_json(layout.health) or {}
    return bool(trial.get("id")) and health.get("trial") == trial.get("id")


def report(layout: Layout, doc: dict[str, Any]) -> None:
    """The update's outcome for the API and the page (``<state>/update/status.json``)."""
    try:
        layout.status.parent.mkdir(parents=True, exist_ok=True)
        _chown_like(layout.status.parent, layout.state_dir)
        write_json(
            layout.status, {**doc, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, owner_of=layout.state_dir
        )
    except OSError as exc:
        print(f"posenet-update: cannot write the update status: {exc}", file=sys.stderr)


def rollback(layout: Layout, trial: dict[str, Any], why: str) -> str:
    """Switch back to the trial's previous version, put its configuration back, end the trial."""
    previous, version = str(trial.get("previous", "")), str(trial.get("version", ""))
    t0 = time.monotonic()
    restore_config(layout, previous)  # first: a cut after it rolls back again, which is idempotent
    _failpoint("update.rollback")
    switch_to(layout, previous)
    layout.trial.unlink(missing_ok=True)
    fsync_dir(layout.work)
    message = f"update to {version} rolled back to {previous}: {why}"
    timings = dict(trial.get("timings") or {})
    timings["rollback_s"] = round(time.monotonic() - t0, 3)
    report(
        layout, {"state": "rolled-back", "version": previous, "tried": version, "message": message, "timings": timings}
    )
    print(f"posenet-update: {message}", file=sys.stderr)
    return message


def finish(layout: Layout, trial: dict[str, Any]) -> str:
    """The version on trial confirmed it is healthy: keep it (and one previous version)."""
    version = str(trial.get("version", ""))
    layout.trial.unlink(missing_ok=True)
    fsync_dir(layout.work)
    keep = {version, str(trial.get("previous", ""))}
    for other in layout.installed():
        if other not in keep:
            shutil.rmtree(layout.version_dir(other), ignore_errors=True)
    return f"version {version} is healthy: kept"


def _drop_partial(layout: Layout) -> None:
    """Version folders whose install never completed (a cut during an install) go."""
    if not layout.versions.is_dir():
        return
    current = layout.current()
    for p in layout.versions.iterdir():
        if p.name != current and not (p / "complete.json").is_file():
            shutil.rmtree(p, ignore_errors=True)


def _interrupted(layout: Layout) -> str:
    """An update whose status was left mid-way (its updater was killed before the switch) is
    reported as interrupted ("" when none was)."""
    status = read_json(layout.status) or {}
    if status.get("state") not in ("installing", "trial"):
        return ""
    message = f"the update was interrupted before its switch: {layout.current()} runs on, nothing changed"
    report(layout, {"state": "interrupted", "version": layout.current(), "message": message})
    return message


def boot_check(layout: Layout, this_boot: str | None = None) -> str:
    """Before every start of the service: repair ``venv``, and decide about a version on trial.

    The first start of a trial (same boot) goes ahead; any later start of an unconfirmed trial (the
    new version stopped, was stopped for missing its deadline, or the box rebooted) rolls it back.
    Returns what was done ("" when nothing was needed)."""
    this_boot = boot_id() if this_boot is None else this_boot
    with layout.lock(LOCK_SECONDS) as got:
        if not got:
            return "an update is being installed: left alone"
        done = [repair(layout)]
        shutil.rmtree(layout.work / "staging", ignore_errors=True)  # an unpack cut short
        trial = read_json(layout.trial)
        if trial is None:
            layout.trial.unlink(missing_ok=True)
            _drop_partial(layout)
            done.append(_interrupted(layout))
        elif confirmed(layout, trial):
            done.append(finish(layout, trial))
        elif layout.current() != trial.get("version"):
            layout.trial.unlink(missing_ok=True)  # cut before the switch: the old version runs on
            _drop_partial(layout)
            done.append(_interrupted(layout))
        elif int(trial.get("starts", 0)) == 0 and trial.get("boot") == this_boot:
            write_json(layout.trial, {**trial, "starts": 1}, mode=TRIAL_MODE)
            done.append(f"version {trial.get('version')} starts on trial")
        else:
            why = (
                "it stopped before confirming it was healthy"
                if trial.get("boot") == this_boot
                else ("the box restarted during its trial")
            )
            done.append(rollback(layout, trial, why))
    return "; ".join(d for d in done if d)


def main(argv: list[str] | None = None) -> int:
    """``posenet-update-check [PREFIX [STATE_DIR]]``: the boot check (never fails the start)."""
    args = sys.argv[1:] if argv is None else argv
    # The service's UMask (0077) applies to its ExecStartPre too: folders made here (versions/, the
    # legacy venv's new home, update/) must stay readable by the service's user.
    os.umask(0o022)
    prefix = Path(args[0] if args else "/opt/posenet-appliance")
    state = Path(args[1] if len(args) > 1 else "/var/lib/posenet-appliance")
    try:
        done = boot_check(Layout(prefix, state))
    except Exception as exc:  # the start must go on: the venv as it is beats no start at all
        print(f"posenet-update-check: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 0
    if done:
        print(f"posenet-update-check: {done}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
