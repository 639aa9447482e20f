"""Replay timing that does not drift: frame i is due at ``t0 + (at_i - at_0) / speed``.

Every due time is computed from the replay's start on the monotonic clock, never by adding up
sleeps or the gaps between frames, so a late frame makes only itself late (generic OSC recorders
that sum deltas drift by the sum of their oversleeps). A loop starts the next pass one frame period
after the last frame, still on the same schedule.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["Schedule"]

#: Below this many seconds before a due time the wait stops sleeping on the event and finishes with
#: short sleeps (an Event.wait can overshoot by a scheduler tick).
_FINE = 0.002


class Schedule:
    """Due times of recorded frames (``at``: seconds since the recording's first frame).

    ``speed`` > 0 (2 plays twice as fast); ``start`` is the monotonic time of ``first_at``.
    """

    def __init__(
        self,
        speed: float = 1.0,
        first_at: float = 0.0,
        start: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not speed > 0:
            raise ValueError("speed must be > 0")
        self.speed = speed
        self.first_at = first_at
        self.clock = clock
        self.start = clock() if start is None else start
        self.offset = 0.0  # recording seconds added by completed loop passes

    def due(self, at: float) -> float:
        """The monotonic time at which the frame recorded at ``at`` is due."""
        return self.start + (self.offset + at - self.first_at) / self.speed

    def next_pass(self, last_at: float, period: float) -> None:
        """Loop: the next pass's first frame is due one ``period`` after ``last_at``."""
        self.offset += last_at - self.first_at + period

    def wait(self, at: float, stop: threading.Event | None = None) -> float:
        """Sleep until the frame recorded at ``at`` is due; return how late it is now (seconds, >= 0
        unless stopped early). Returns at once when ``stop`` is set."""
        due = self.due(at)
        while True:
            left = due - self.clock()
            if left <= 0:
                return -left
            if stop is not None and stop.is_set():
                return -left
            if left > _FINE:
                if stop is not None:
                    stop.wait(left - _FINE)
                else:
                    time.sleep(left - _FINE)
            else:
                time.sleep(left / 2 if left > 0.0002 else left)
