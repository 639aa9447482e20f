"""The running service's side of an update's trial: confirm it is healthy, or give up in time.

The service calls ``tick`` from its supervision loop (``appliance.service.watchdog.supervise``, which
runs only once the servers are up and READY was sent). While a trial of the version this service
runs from is open (``<prefix>/update/trial.json``), ``tick(healthy)`` with ``healthy`` = the
pipeline is running and making progress:

* after ``CONFIRM_SECONDS`` of uninterrupted health it writes ``<state>/update-health.json`` with
  the trial's id (the updater and the boot check read it and keep the version);
* if the trial's deadline passes first, it stops the service (SIGTERM): systemd starts it again and
  the boot check rolls back (the safety net when the updater itself was killed).
"""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

from appliance.update.layout import Layout, install_prefix, read_json, write_json

__all__ = ["CONFIRM_SECONDS", "UpdateHealth"]

logger = logging.getLogger(__name__)

#: Seconds of a running pipeline and servers up before a new version counts as healthy: three
#: watchdog half-intervals, so a camera or Edge TPU that hangs right after start is caught first.
CONFIRM_SECONDS = 10.0
#: Seconds after the trial's deadline before the service stops itself (the updater acts first).
GRACE_SECONDS = 5.0


class UpdateHealth:
    """Confirms the version on trial (see the module docstring); one per service run."""

    def __init__(self, state_dir: Path, prefix: Path | None = None, confirm_seconds: float = CONFIRM_SECONDS) -> None:
        self.layout = Layout(prefix or install_prefix(), state_dir)
        self.confirm_seconds = confirm_seconds
        self.started = time.monotonic()
        self.since: float | None = None
        try:
            self.trial = self._open_trial()
        except OSError as exc:  # the update's bookkeeping never stops the service
            logger.error("update: cannot read this version's trial: %s", exc)
            self.trial = None
        self.done = self.trial is None

    def _open_trial(self) -> dict[str, object] | None:
        trial = read_json(self.layout.trial)
        if trial is None and os.path.lexists(self.layout.trial):
            logger.error("update: cannot read %s: this version cannot confirm its trial", self.layout.trial)
        if trial is None or trial.get("version") != self.layout.current():
            return None
        health = read_json(self.layout.health) or {}
        return None if health.get("trial") == trial.get("id") else trial

    def tick(self, healthy: bool, now: float | None = None) -> None:
        """Call periodically with whether the pipeline runs and makes progress."""
        if self.done or self.trial is None:
            return
        now = time.monotonic() if now is None else now
        if not healthy:
            self.since = None
        elif self.since is None:
            self.since = now
        elif now - self.since >= self.confirm_seconds:
            self._confirm()
            return
        deadline = float(str(self.trial.get("deadline_s", 180.0))) + GRACE_SECONDS
        if now - self.started > deadline:
            self.done = True
            logger.error(
                "update: version %s did not become healthy within %.0f s: stopping so the previous one comes back",
                self.trial.get("version"),
                deadline,
            )
            os.kill(os.getpid(), signal.SIGTERM)

    def _confirm(self) -> None:
        self.done = True
        assert self.trial is not None
        try:
            write_json(self.layout.health, {"trial": self.trial.get("id"), "version": self.trial.get("version")})
        except OSError as exc:
            logger.error("update: cannot confirm this version is healthy: %s", exc)
            return
        logger.warning("update: version %s is healthy (confirmed)", self.trial.get("version"))
