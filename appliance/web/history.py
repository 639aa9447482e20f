"""The last minutes of the box, for the page's plots (``GET /api/status/history``): fps, people,
latency and SoC temperature sampled every ``SAMPLE_SECONDS`` into a ring of ``SAMPLES`` (10 minutes),
so a page opened after a drop still shows it. One small task on the event loop (a status snapshot
every 5 s, about 0.1 ms); fixed size whatever happens; public, like ``/api/status``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque

from appliance.core.facade import Reading
from appliance.core.status import Status

__all__ = ["SAMPLES", "SAMPLE_SECONDS", "Sample", "StatusHistory"]

#: Seconds between samples, and how many are kept (10 minutes).
SAMPLE_SECONDS = 5.0
SAMPLES = 120

#: One sample: (wall-clock time in Unix seconds, fps, people, latency p50 in ms, SoC °C); None where
#: unknown (no pipeline, no sensor).
Sample = tuple[float, float | None, int | None, float | None, float | None]


def sample_of(status: Status, now: float) -> Sample:
    """The plotted values of one status snapshot, taken at ``now`` (Unix seconds)."""
    p = status.pipeline
    temperature = None if status.temperature_c is None else round(status.temperature_c, 1)
    if p is None:
        return (round(now, 1), None, None, None, temperature)
    return (round(now, 1), round(p.fps, 2), p.people, round(p.latency_p50_ms, 2), temperature)


class StatusHistory:
    """The ring of samples; ``run`` samples ``reading`` until cancelled (the HTTP component's task)."""

    def __init__(self, size: int = SAMPLES) -> None:
        self.samples: deque[Sample] = deque(maxlen=size)
        self._task: asyncio.Task[None] | None = None

    def add(self, status: Status, now: float | None = None) -> None:
        self.samples.append(sample_of(status, time.time() if now is None else now))

    def start(self, reading: Reading, every: float = SAMPLE_SECONDS) -> None:
        """Sample every ``every`` seconds from now on (on the running event loop); once."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(reading, every))

    async def _run(self, reading: Reading, every: float) -> None:
        while True:
            self.add(reading.status())
            await asyncio.sleep(every)

    async def close(self) -> None:
        """Stop sampling (the samples stay). Idempotent."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
