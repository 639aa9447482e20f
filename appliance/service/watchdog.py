"""Liveness by progress: when to send WATCHDOG=1.

systemd restarts the service when WATCHDOG=1 stops. We send it only while:

* the process thread's heartbeat is fresh (it beats on every loop iteration, idle ones included,
  so a native call hung in the TPU or camera driver stops it), and
* frames keep coming, *if they ever came*: a camera that delivered and then stalled gets the
  service restarted, but a camera that is absent from the start is a reported status ("no
  camera"), not a restart loop; likewise a pipeline that could not be built (degraded).
"""

from __future__ import annotations

__all__ = ["should_pet"]


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
