"""Event-loop lag: how late the loop runs what is due, the worst of the last minute.

A task wakes every ``INTERVAL`` seconds and measures how late it woke: that lateness is what every
other callback on the loop (an HTTP answer, the watchdog's WATCHDOG=1, a control-port reply) waited
too. The worst lag of the last ``WINDOW`` seconds (per-second maxima, bounded) is ``worst_ms`` (the
service sets it as ``Application.loop_lag``: ``/api/status`` shows it as ``loop_lag_ms``). A lag over
``THRESHOLD_MS`` is logged once; after ``RECOVER_SECONDS`` without one it is logged as recovered and
the warning is armed again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable

__all__ = ["LoopLag"]

logger = logging.getLogger(__name__)

#: Seconds between wake-ups, seconds of history, the lag (ms) worth a warning, and the quiet
#: seconds after which it is armed again.
INTERVAL, WINDOW, THRESHOLD_MS, RECOVER_SECONDS = 0.05, 60.0, 250.0, 30.0


class LoopLag:
    """The monitor: ``start()`` on the loop, ``stop()`` (idempotent), ``worst_ms()`` from any thread."""

    def __init__(
        self,
        interval: float = INTERVAL,
        window: float = WINDOW,
        threshold_ms: float = THRESHOLD_MS,
        recover: float = RECOVER_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval, self.window, self.threshold_ms, self.recover = interval, window, threshold_ms, recover
        self._clock = clock
        self._seconds: deque[tuple[int, float]] = deque(maxlen=int(window) + 2)  # (second, worst ms)
        self._worst = 0.0
        self._over_at: float | None = None  # when the last lag over the threshold ended (None: armed)
        self._task: asyncio.Task[None] | None = None

    def worst_ms(self) -> float:
        """The worst lag (milliseconds) of the last ``window`` seconds; safe from any thread."""
        return self._worst

    def start(self) -> None:
        """Start measuring (on the running loop)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="loop-lag")

    async def stop(self) -> None:
        """Stop measuring; idempotent."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            due = self._clock() + self.interval
            await asyncio.sleep(self.interval)
            now = self._clock()
            self.record(max(0.0, now - due) * 1000.0, now)

    def record(self, lag_ms: float, now: float) -> None:
        """One measurement: ``lag_ms`` late at ``now`` (``clock`` seconds)."""
        second, bucket = int(now), lag_ms
        if self._seconds and self._seconds[-1][0] == second:
            bucket = max(bucket, self._seconds.pop()[1])
        self._seconds.append((second, bucket))
        while self._seconds and self._seconds[0][0] <= now - self.window:
            self._seconds.popleft()
        self._worst = max(ms for _, ms in self._seconds)
        if lag_ms > self.threshold_ms:
            if self._over_at is None:
                logger.warning(
                    "event loop blocked for %.0f ms (over %.0f ms): the API, the control port and the watchdog "
                    "waited that long",
                    lag_ms,
                    self.threshold_ms,
                )
            self._over_at = now
        elif self._over_at is not None and now - self._over_at >= self.recover:
            logger.info("event loop responsive again (worst lag of the last minute %.0f ms)", self._worst)
            self._over_at = None
