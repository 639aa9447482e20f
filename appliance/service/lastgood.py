"""Last known good configuration: a saved change that keeps killing the box is undone by itself.

Files beside ``config.json`` in the state directory:

* ``config.good.json``: the last configuration that ran healthy for ``HEALTHY_SECONDS``;
* ``run.json``: this run's trial, ``{"boot": <boot id>, "config": <sha256 of config.json>,
  "healthy": false|true}``, written when the service starts and whenever the configuration changes,
  removed when it stops cleanly.

At the next start ``recover`` looks at a ``run.json`` left behind. If it is from this same boot (so
not a power cut or a reboot: the process itself died, was killed by the watchdog, or crashed), its
configuration never ran healthy, and ``config.json`` is still that configuration, then
``config.json`` is set aside as ``config.json.unhealthy-<time>`` and the last healthy one (or the
defaults) is put back; the status says ``safe mode`` and why.

Two things are never held against a configuration:

* **The owner's security settings** (``appliance.config.models.SECURITY_SETTINGS``: the access token,
  the camera view, the subscribe key ...) are carried from the set-aside configuration into the one
  put back: a crash right after the owner set a token never undoes the token.
* **A run under attack.** If the trial saw a flood of refused packets and requests
  (``FLOOD_REFUSALS`` in one trial) or the event loop stalled for ``FLOOD_LAG_MS``, ``run.json`` says
  so (``"flood"``), and a death that follows is blamed on the flood, not on the settings: they stay.

Why ``HEALTHY_SECONDS`` = 30: a configuration that kills the process does so while starting (a
model that exhausts memory, a port it cannot listen on) or within one watchdog interval of READY
(15 s: a hung Edge TPU or camera stops the watchdog). Thirty seconds after READY, with the watchdog
satisfied, covers both with margin, and is short enough that an installer's good change counts
as healthy before they walk away.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

from appliance.config.atomic import write_atomic
from appliance.config.models import SECURITY_SETTINGS
from appliance.config.store import ConfigStore

__all__ = ["FLOOD_LAG_MS", "FLOOD_REFUSALS", "HEALTHY_SECONDS", "RunRecord", "boot_id", "recover"]

logger = logging.getLogger(__name__)

HEALTHY_SECONDS = 30.0
#: Refused packets and requests in one trial, or an event-loop stall (ms), that mark the run as under
#: attack: a death that follows is not evidence against the settings.
FLOOD_REFUSALS = 50
FLOOD_LAG_MS = 1000.0
GOOD_NAME = "config.good.json"
RUN_NAME = "run.json"


def boot_id() -> str:
    """This boot's id (changes at every boot, so a power cut is never blamed on a configuration)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def recover(store: ConfigStore) -> str:
    """Undo a saved configuration that never ran healthy and whose run then ended abnormally (see
    the module docstring); returns what happened ("" when nothing did). Call after ``store.load``:
    it loads again when it changed something."""
    run = store.path.with_name(RUN_NAME)
    try:
        trial = json.loads(run.read_text())
    except (OSError, ValueError):
        return ""
    if not isinstance(trial, dict) or trial.get("healthy") or trial.get("boot") != boot_id():
        return ""
    if not trial.get("config") or trial.get("config") != _digest(store.path):
        return ""
    if trial.get("flood"):
        logger.warning("config: the last run died under a flood (%s); not held against the settings", trial["flood"])
        run.unlink(missing_ok=True)
        return ""
    keep = _security(store.path)
    aside = store.path.with_name(f"{store.path.name}.unhealthy-{time.strftime('%Y%m%dT%H%M%S')}")
    store.path.rename(aside)
    good = store.path.with_name(GOOD_NAME)
    if good.exists():
        store.path.write_bytes(good.read_bytes())
        used = "the last settings that ran healthy"
    else:
        used = "default settings"
    store.load()
    if keep and not store.safe_mode:
        _carry(store, keep)
    why = f"the saved settings never ran healthy and the box then stopped abnormally; kept as {aside.name}"
    store.safe_mode = f"{why}; running on {used}"
    logger.error("config: %s", store.safe_mode)
    run.unlink(missing_ok=True)
    return store.safe_mode


def _security(path: Path) -> dict[tuple[str, str], object]:
    """The owner's security settings saved in ``path`` (those present), to carry over."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    out: dict[tuple[str, str], object] = {}
    for section, key in SECURITY_SETTINGS:
        part = data.get(section) if isinstance(data, dict) else None
        if isinstance(part, dict) and key in part:
            out[(section, key)] = part[key]
    return out


def _carry(store: ConfigStore, keep: dict[tuple[str, str], object]) -> None:
    """Put the owner's security settings back into the restored configuration (saved; skipped, and
    said, if they would not validate)."""

    def change(current: dict[str, Any]) -> dict[str, Any]:
        out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in current.items()}
        for (section, key), value in keep.items():
            part = out.get(section)
            if isinstance(part, dict):
                part[key] = value
        return out

    try:
        store.update(change)
    except Exception as exc:  # never stop the start for this: say it
        logger.error("config: could not keep the security settings over the restored ones: %s", exc)


class RunRecord:
    """This run's trial of the saved configuration (``run.json``), and promotion to last known good."""

    def __init__(self, store: ConfigStore) -> None:
        self.store = store
        self.run = store.path.with_name(RUN_NAME)
        self.good = store.path.with_name(GOOD_NAME)
        self.healthy = False
        self._since = time.monotonic()
        self.flood = ""  # why this trial is under attack ("" while it is not)
        self._refused_at_begin: int | None = None

    def begin(self) -> None:
        """A (new) configuration is in force: its trial starts now."""
        self.healthy = False
        self.flood = ""
        self._refused_at_begin = None
        self._since = time.monotonic()
        self._write()

    def _write(self) -> None:
        doc: dict[str, object] = {"boot": boot_id(), "config": _digest(self.store.path), "healthy": self.healthy}
        if self.flood:
            doc["flood"] = self.flood
        try:
            self.run.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.run, json.dumps(doc).encode(), keep_backup=False)
        except OSError as exc:
            logger.warning("cannot record this run's state: %s", exc)

    def tick(self, making_progress: bool, refused: int = 0, lag_ms: float = 0.0) -> None:
        """Call periodically: after ``HEALTHY_SECONDS`` of progress the saved configuration becomes the
        last known good one (any stall restarts the clock). ``refused``: packets and requests the
        control plane refused so far (a running total); ``lag_ms``: the event loop's worst recent lag.
        A flood of either during the trial is written down once (see the module docstring)."""
        now = time.monotonic()
        if self._refused_at_begin is None:
            self._refused_at_begin = refused
        if not self.healthy and not self.flood:
            seen = refused - self._refused_at_begin
            if seen >= FLOOD_REFUSALS or lag_ms >= FLOOD_LAG_MS:
                self.flood = f"{seen} refused packets or requests, event loop lag {lag_ms:.0f} ms"
                logger.warning("under a flood during a configuration's trial: %s", self.flood)
                self._write()
        if not making_progress:
            self._since = now
            return
        if self.healthy or now - self._since < HEALTHY_SECONDS:
            return
        self.healthy = True
        try:
            if self.store.path.exists():
                write_atomic(self.good, self.store.path.read_bytes(), keep_backup=False)
        except OSError as exc:
            logger.warning("cannot keep the last known good settings: %s", exc)
        self._write()
        logger.info("the saved settings ran healthy for %.0f s: kept as the last known good ones", HEALTHY_SECONDS)

    def end(self) -> None:
        """A clean stop: no trial is left behind."""
        self.run.unlink(missing_ok=True)
