"""Install a verified update beside the running version, switch to it, and keep it only if it
becomes healthy within its deadline; otherwise switch back by itself and say why.

Steps (each a failpoint: ``POSENET_FAILPOINTS=update.<step>=crash`` kills the process there):

1. ``unpack``: verify the file (``bundle.verify``) into ``<prefix>/update/staging`` and check that
   it fits this box (machine, Python, newer version unless forced, free disk). Nothing else changes.
2. ``install``: a new venv at ``versions/<version>/venv``, filled offline (``pip --no-index
   --find-links``) from the file's wheels with the hash-locked requirements; then ``complete.json``.
3. ``trial``: the outgoing version's configuration is kept beside it; ``update/trial.json`` names
   the new version, the previous one, a random id and the deadline.
4. ``switch``: ``venv`` points at the new version (one rename; ``layout.switch_to``).
5. ``restart``: the service restarts (systemd); its ``ExecStartPre`` boot check lets the first start
   of a trial go ahead and rolls back at any later start before it confirmed.
6. health: the new version writes ``update-health.json`` with the trial's id once its pipeline runs
   and its servers are up for ``appliance.update.health.CONFIRM_SECONDS``. Without it by the
   deadline (``HEALTH_SECONDS`` after the restart), the updater rolls back and restarts the old one.
"""

from __future__ import annotations

import logging
import os
import platform
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from appliance import __version__, failpoints
from appliance.update.bundle import Manifest, UpdateRefused, load_public_key, parse_version, this_python, verify
from appliance.update.layout import (
    TRIAL_MODE,
    Layout,
    adopt_legacy,
    boot_id,
    confirmed,
    finish,
    read_json,
    report,
    rollback,
    save_config,
    switch_to,
    write_json,
)

__all__ = ["HEALTH_SECONDS", "RESERVE_BYTES", "Installer", "Outcome", "check_fits"]

logger = logging.getLogger(__name__)

#: Seconds from the restart until the new version must have confirmed it is healthy. A Pi 4 loads
#: the model and probes the Edge TPU in about 20 s, the service is READY within its TimeoutStartSec
#: (120 s) or restarted, and confirming takes ``CONFIRM_SECONDS`` more: 180 s covers a slow start.
HEALTH_SECONDS = 180.0
#: Free bytes an install must leave on the prefix's file system, beyond its own size (log files, the
#: configuration store, pip's temporary files).
RESERVE_BYTES = 64 * 1024 * 1024
#: An installed venv takes about this many times its wheels' size (unpacked, plus .pyc files).
UNPACK_FACTOR = 3


@dataclass
class Outcome:
    """What an update did: ``state`` "ok" (kept), "rolled-back", or "installed" (no restart asked)."""

    state: str
    version: str
    message: str
    timings: dict[str, float] = field(default_factory=dict)


def check_fits(manifest: Manifest, *, running: str, force: bool, machine: str = "", python: str = "") -> None:
    """Refuse an update that is not for this box (one-line ``UpdateRefused``)."""
    machine, python = machine or platform.machine(), python or this_python()
    if manifest.machine != machine:
        raise UpdateRefused(f"this update is for {manifest.machine}; this box is {machine}")
    if manifest.python != python:
        raise UpdateRefused(f"this update is for Python {manifest.python}; this box runs Python {python}")
    if not force and parse_version(manifest.version) <= _version_or_zero(running):
        raise UpdateRefused(f"version {manifest.version} is not newer than the running {running} (--force installs it)")


def _version_or_zero(text: str) -> tuple[int, ...]:
    try:
        return parse_version(text)
    except UpdateRefused:
        return (0,)


def _free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


class Installer:
    """Updates one install ``layout``; ``restart`` restarts the service (None: the caller will),
    ``key``: the box's public key file."""

    def __init__(
        self,
        layout: Layout,
        key: Path,
        *,
        restart: Callable[[], None] | None = None,
        health_seconds: float = HEALTH_SECONDS,
        reserve: int = RESERVE_BYTES,
        python: str = sys.executable,
    ) -> None:
        self.layout = layout
        self.key = key
        self.restart = restart
        self.health_seconds = health_seconds
        self.reserve = reserve
        self.python = python
        self.timings: dict[str, float] = {}

    def running(self) -> str:
        """The version ``venv`` runs (a pre-update venv runs this very code: its version)."""
        current = self.layout.current()
        return __version__ if current in ("", "legacy") else current

    def apply(self, path: Path, *, force: bool = False) -> Outcome:
        """The whole update (see the module docstring); raises ``UpdateRefused`` before any change."""
        staging = self.layout.work / "staging"
        with self.layout.lock(0.0) as got:
            if not got:
                raise UpdateRefused("another update is in progress")
            try:
                manifest = self._unpack(path, staging, force)
                self._report("installing", manifest.version, f"installing {manifest.version} beside {self.running()}")
                self._install(manifest, staging)
            except BaseException as exc:
                if isinstance(exc, UpdateRefused):
                    self._report("refused", self.running(), str(exc))
                raise
            finally:
                shutil.rmtree(staging, ignore_errors=True)
            trial = self._switch(manifest)
        if self.restart is None:
            msg = f"{manifest.version} installed and switched to: its next start is its trial"
            self._report("trial", manifest.version, msg)
            return Outcome("installed", manifest.version, msg, self.timings)
        return self._trial(trial)

    def _unpack(self, path: Path, staging: Path, force: bool) -> Manifest:
        t0 = time.monotonic()
        key = load_public_key(self.key)
        if not self.layout.current():
            raise UpdateRefused(
                f"no installed version in {self.layout.prefix} (install with image-build/install-on-pi.sh)"
            )
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        size = path.stat().st_size
        if _free(staging) < size + self.reserve:
            raise UpdateRefused(f"too little free disk to unpack the update ({_free(staging) >> 20} MiB free)")
        if failpoints.ACTIVE:
            failpoints.hit("update.unpack")
        manifest = verify(path, key, staging)
        check_fits(manifest, running=self.running(), force=force)
        need = UNPACK_FACTOR * sum(s for _, s in manifest.files.values()) + self.reserve
        if (free := _free(self.layout.prefix)) < need:
            raise UpdateRefused(f"too little free disk: the update needs {need >> 20} MiB, {free >> 20} MiB are free")
        if manifest.version in (self.running(), "legacy"):
            raise UpdateRefused(f"version {manifest.version} is the one running")
        self.timings["verify_s"] = round(time.monotonic() - t0, 3)
        return manifest

    def _install(self, manifest: Manifest, staging: Path) -> None:
        t0 = time.monotonic()
        target = self.layout.version_dir(manifest.version)
        shutil.rmtree(target, ignore_errors=True)  # a leftover of an interrupted install, never current
        venv = target / "venv"
        self._run([self.python, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)])
        if failpoints.ACTIVE:
            failpoints.hit("update.install")
        pip = [
            self.python,
            "-m",
            "pip",
            "--disable-pip-version-check",
            "--no-cache-dir",
            "--python",
            str(venv / "bin/python"),
        ]
        pip += ["install", "--quiet", "--no-index", "--find-links", str(staging / "wheels")]
        self._run([*pip, "--require-hashes", "-r", str(staging / manifest.requirements)])
        self._run([*pip, "--no-deps", str(staging / manifest.wheel)])
        write_json(target / "complete.json", {"version": manifest.version, "python": manifest.python})
        self.timings["install_s"] = round(time.monotonic() - t0, 3)

    def _run(self, cmd: list[str]) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
        env["PIP_CONFIG_FILE"] = os.devnull  # offline and exactly what the file holds: no mirrors
        result = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, timeout=1800)
        if result.returncode != 0:
            tail = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or ["(no output)"]
            raise UpdateRefused(f"installing failed, nothing switched: {tail[0][:300]}")

    def _switch(self, manifest: Manifest) -> dict[str, object]:
        t0 = time.monotonic()
        adopt_legacy(self.layout)  # a pre-update venv directory becomes versions/legacy
        previous = self.layout.current()
        save_config(self.layout, previous)
        trial: dict[str, object] = {
            "id": secrets.token_hex(8),
            "version": manifest.version,
            "previous": previous,
            "boot": boot_id(),
            "starts": 0,
            "deadline_s": self.health_seconds,
            "timings": self.timings,
        }
        write_json(self.layout.trial, trial, mode=TRIAL_MODE)
        if failpoints.ACTIVE:
            failpoints.hit("update.trial")
        switch_to(self.layout, manifest.version)
        self.timings["switch_s"] = round(time.monotonic() - t0, 3)
        trial["timings"] = self.timings
        write_json(self.layout.trial, trial, mode=TRIAL_MODE)
        logger.warning("update: switched to %s (previous %s)", manifest.version, previous)
        return trial

    def _trial(self, trial: dict[str, object]) -> Outcome:
        version = str(trial["version"])
        self._report(
            "trial", version, f"{version} is starting on trial ({self.health_seconds:.0f} s to become healthy)"
        )
        if failpoints.ACTIVE:
            failpoints.hit("update.restart")
        t0 = time.monotonic()
        assert self.restart is not None
        self.restart()
        deadline = t0 + self.health_seconds
        while time.monotonic() < deadline:
            time.sleep(0.25)
            with self.layout.lock() as _:
                current = read_json(self.layout.trial)
                if current is None or current.get("id") != trial["id"]:
                    return self._ended_elsewhere(version)  # the boot check rolled it back
                if confirmed(self.layout, current):
                    self.timings["health_s"] = round(time.monotonic() - t0, 3)
                    finish(self.layout, current)
                    msg = f"updated to {version}: healthy after {self.timings['health_s']:.1f} s"
                    self._report("ok", version, msg)
                    return Outcome("ok", version, msg, self.timings)
        with self.layout.lock() as _:
            current = read_json(self.layout.trial)
            if current is None or current.get("id") != trial["id"]:
                return self._ended_elsewhere(version)
            why = f"it did not confirm it was healthy (pipeline running, servers up) within {self.health_seconds:.0f} s"
            message = rollback(self.layout, {**current, "timings": self.timings}, why)
        self.restart()
        done = read_json(self.layout.status) or {}
        return Outcome("rolled-back", str(current.get("previous")), message, dict(done.get("timings") or {}))

    def _ended_elsewhere(self, version: str) -> Outcome:
        done = read_json(self.layout.status) or {}
        return Outcome(
            str(done.get("state", "rolled-back")),
            str(done.get("version", "")),
            str(done.get("message", f"the trial of {version} ended")),
            dict(done.get("timings") or {}),
        )

    def _report(self, state: str, version: str, message: str) -> None:
        report(self.layout, {"state": state, "version": version, "message": message, "timings": self.timings})
