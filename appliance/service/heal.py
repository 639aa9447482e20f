"""The heal policy: when a pipeline that died is rebuilt, when a build that failed is tried again, and
when to give up and let systemd restart the whole process.

* A pipeline thread that died (an exception nobody expected) is reported at once (``degraded``, the
  fault) and rebuilt after ``HEAL_BACKOFF[0]`` seconds, model kept, source reopened. The wait doubles
  only while rebuilt pipelines die again within ``STABLE_SECONDS`` (a crash loop), up to
  ``HEAL_BACKOFF[1]``; after ``HEAL_LIMIT`` such deaths in a row the policy gives up (the watchdog
  stops, systemd restarts the process). A pipeline that ran longer than that before dying is rebuilt
  after the first wait again.
* A build that failed for any reason (a model missing, a source that cannot be made, a bug) is tried
  again after ``RETRY_BACKOFF[0]`` seconds, doubling up to ``RETRY_BACKOFF[1]``, for as long as it
  fails: a file copied in or a camera plugged in later is picked up by itself.

``HealPolicy.tick`` is called by the supervision loop (on the event loop, every half second); it
never blocks: rebuilding is the applier's (``Application.rebuild``).
"""

from __future__ import annotations

import logging
import time

from appliance.core.app import Application

__all__ = ["HEAL_BACKOFF", "HEAL_LIMIT", "RETRY_BACKOFF", "STABLE_SECONDS", "HealPolicy"]

logger = logging.getLogger(__name__)

HEAL_BACKOFF = (1.0, 30.0)
HEAL_LIMIT = 5
STABLE_SECONDS = 60.0
RETRY_BACKOFF = (1.0, 60.0)


class HealPolicy:
    """Decides when the application rebuilds; ``gave_up`` once a crash loop is certain."""

    def __init__(self, app: Application) -> None:
        self.app = app
        self.gave_up = False
        self._streak = 0  # rebuilt pipelines that died again within STABLE_SECONDS, in a row
        self._rebuilt_at = -STABLE_SECONDS
        self._due = 0.0
        self._noticed: object = None  # the dead runner already reported
        self._retry = RETRY_BACKOFF[0]
        self._failed_build = ""

    def tick(self, now: float | None = None) -> None:
        """Look at the pipeline once; ask for a rebuild when one is due."""
        now = time.monotonic() if now is None else now
        app = self.app
        if self.gave_up or app.rebuilding:
            return
        runner = app.runner
        if runner is not None and runner.died:
            self._dead(runner, now)
        elif runner is None and app.build_error:
            self._unbuilt(app.build_error, now)
        elif runner is not None:
            self._failed_build, self._retry = "", RETRY_BACKOFF[0]

    def _dead(self, runner: object, now: float) -> None:
        app = self.app
        if self._noticed is not runner:  # just noticed
            self._noticed = runner
            app.fault = getattr(runner, "failure", "") or "a pipeline thread ended"
            self._streak = self._streak + 1 if now - self._rebuilt_at < STABLE_SECONDS else 0
            delay = min(HEAL_BACKOFF[0] * 2**self._streak, HEAL_BACKOFF[1])
            self._due = now + delay
            if self._streak >= HEAL_LIMIT:
                self.gave_up = True
                app.degraded = f"pipeline failed ({app.fault}); gave up after {self._streak} quick deaths"
                logger.error("%s: the watchdog will have the service restarted", app.degraded)
                return
            app.degraded = f"pipeline failed ({app.fault}); restarting in {delay:.0f} s"
            logger.error("%s (restart %d)", app.degraded, app.restarts + 1)
            return
        if now >= self._due:
            self._rebuilt_at = now
            app.rebuild(heal=True)

    def _unbuilt(self, why: str, now: float) -> None:
        if why != self._failed_build:  # a new failure: try again after the first wait
            self._failed_build, self._retry, self._due = why, RETRY_BACKOFF[0], now + RETRY_BACKOFF[0]
            return
        if now >= self._due:
            self._retry = min(self._retry * 2, RETRY_BACKOFF[1])
            self._due = now + self._retry
            self.app.rebuild()
