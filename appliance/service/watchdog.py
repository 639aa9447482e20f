"""Liveness by progress, and the supervision loop that reports it to systemd.

systemd restarts the service when WATCHDOG=1 stops. We send it only while:

* the process thread's heartbeat is fresh (it beats on every loop iteration, idle ones included,
  so a native call hung in the TPU or camera driver stops it), and
* frames keep coming, *if they ever came*: a camera that delivered and then stalled gets the
  service restarted, but a camera that is absent from the start is a reported status ("no
  camera"), not a restart loop; likewise a pipeline that could not be built (degraded).

``supervise`` runs on the event loop until the stop event (a signal) or the duration: it pets the
watchdog at half its interval, sends STATUS= lines, and draws the terminal status line.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable

from appliance.core.app import Application
from appliance.service.heal import HealPolicy
from appliance.service.lastgood import RunRecord
from appliance.service.registry import ServerRegistry
from appliance.service.sdnotify import Notifier, watchdog_interval
from appliance.update.health import UpdateHealth

__all__ = ["STATUS_SECONDS", "making_progress", "should_pet", "supervise"]

#: Seconds between STATUS= updates to systemd.
STATUS_SECONDS = 5.0
#: Seconds between the loop's wake-ups (status line, watchdog, stop checks).
TICK_SECONDS = 0.5
#: The interval health is judged over when systemd gives no watchdog (a run from a terminal).
DEFAULT_INTERVAL = 15.0


def should_pet(
    *,
    now: float,
    interval: float,
    pipeline_running: bool,
    heartbeat: float,
    frames_in: int,
    last_frame: float,
) -> bool:
    """Whether to send WATCHDOG=1 now; times in ``time.monotonic()`` seconds, ``interval`` = WatchdogSec."""
    if not pipeline_running:
        return True  # degraded or safe mode: the event loop itself is alive, that is what counts
    if now - heartbeat > interval / 2:
        return False  # the process thread is stuck in a call
    if frames_in == 0:
        return True  # no camera yet: a status, not a restart loop
    return now - last_frame <= interval / 2


def making_progress(app: Application, now: float, interval: float, gave_up: bool = False) -> bool:
    """``should_pet`` for the application's current pipeline. A pipeline that died is being rebuilt
    (pet) until the heal policy gives up (``gave_up``: do not, systemd restarts the process)."""
    runner = app.runner
    if gave_up:
        return False
    if runner is None or runner.died:
        return should_pet(
            now=now, interval=interval, pipeline_running=False, heartbeat=now, frames_in=0, last_frame=now
        )
    stats = runner.stats()
    return should_pet(
        now=now,
        interval=interval,
        pipeline_running=runner.running,
        heartbeat=runner.heartbeat,
        frames_in=stats.frames_in,
        last_frame=now - stats.seconds_since_frame,
    )


async def supervise(
    app: Application,
    notifier: Notifier,
    stop: asyncio.Event,
    *,
    duration: float = 0.0,
    status_line: bool = False,
    server_stopped: Callable[[], bool] | None = None,
    record: RunRecord | None = None,
    registry: ServerRegistry | None = None,
    update: UpdateHealth | None = None,
) -> None:
    """READY=1, then WATCHDOG=1 / STATUS= / the terminal line until ``stop``, ``duration`` seconds,
    or the HTTP server ending by itself (``server_stopped``); the heal policy rebuilds a pipeline that
    died or failed to build, and ``record`` hears whether the box makes progress (the
    last-known-good clock) and what ``registry``'s servers refused, as does ``update`` (a new
    version's trial: pipeline running and servers up)."""
    deadline = time.monotonic() + duration if duration else None
    interval = watchdog_interval()
    notifier.ready(app.status_line())
    next_pet = next_status = time.monotonic()
    policy = HealPolicy(app)
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), TICK_SECONDS)
            if status_line:
                sys.stderr.write("\r" + app.status_line()[:150].ljust(150))
                sys.stderr.flush()
            if deadline is not None and time.monotonic() >= deadline:
                break
            if server_stopped is not None and server_stopped():
                break  # uvicorn saw the signal first
            policy.tick()
            now = time.monotonic()
            progress = making_progress(app, now, interval or DEFAULT_INTERVAL, policy.gave_up)
            if record is not None:
                refused = registry.refused() if registry is not None else 0
                record.tick(progress, refused=refused, lag_ms=app.loop_lag())
            if update is not None:
                runner = app.runner
                update.tick(progress and runner is not None and runner.running and not runner.died)
            if interval is not None and now >= next_pet:
                next_pet = now + interval / 2
                if progress:
                    notifier.watchdog()
            if notifier.enabled and now >= next_status:
                next_status = now + STATUS_SECONDS
                notifier.status(app.status_line())
    finally:
        if status_line:
            sys.stderr.write("\n")
