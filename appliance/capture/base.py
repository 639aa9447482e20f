"""FrameSource: the one interface every camera, file and generator implements."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from appliance.errors import SourceError
from appliance.types import Frame

__all__ = ["EndOfSource", "FrameSource", "Pacer", "SourceSpec"]


class EndOfSource(SourceError):
    """A non-looping file source has delivered everything."""


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """A parsed ``--source``: type, its argument, and options (fps, loop, size as (w, h))."""

    type: str
    arg: str = ""
    fps: float | None = None
    loop: bool = True
    size: tuple[int, int] | None = None
    text: str = ""


class FrameSource(Protocol):
    """Produces RGB frames. ``read`` blocks at most ``timeout`` seconds and returns None on timeout.

    ``read`` raises ``SourceError`` when the device is gone or the file ended (for a non-looping
    source, ``EndOfSource``); the capture thread then closes, waits and reopens. Sources own colour
    conversion: frames are always RGB.
    """

    name: str

    def open(self) -> None:
        """Acquire the device or file; raises SourceError with what to do."""
        ...

    def read(self, timeout: float) -> Frame | None:
        """Next frame, or None when none arrived within ``timeout`` seconds."""
        ...

    def close(self) -> None:
        """Release everything; idempotent."""
        ...


class Pacer:
    """Releases frames at a fixed rate against the monotonic clock (for files and generators)."""

    def __init__(self, fps: float | None) -> None:
        self.period = 1.0 / fps if fps else 0.0
        self._next = time.monotonic()

    def wait(self, timeout: float) -> bool:
        """Sleep until the next frame is due; False if that is further than ``timeout`` away."""
        if not self.period:
            return True
        now = time.monotonic()
        delay = self._next - now
        if delay > timeout:
            time.sleep(max(timeout, 0))
            return False
        if delay > 0:
            time.sleep(delay)
        # Do not try to catch up after a stall: schedule from now.
        self._next = max(self._next + self.period, time.monotonic())
        return True
