"""FrameSource: the one interface every camera, file and generator implements."""

from __future__ import annotations

import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from appliance.errors import SourceError
from appliance.types import Frame

__all__ = ["MAX_FILE_BYTES", "EndOfSource", "FrameSource", "Pacer", "SourceSpec", "confined_files"]

#: Largest media file a source reads (an image is decoded whole into memory).
MAX_FILE_BYTES = 256 * 1024 * 1024


class EndOfSource(SourceError):
    """A non-looping file source has delivered everything."""


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """A parsed ``--source``: type, its argument, and options (fps, loop, size as (w, h), and for
    still images ``hold``: seconds each image is shown, None for the source's default)."""

    type: str
    arg: str = ""
    fps: float | None = None
    loop: bool = True
    size: tuple[int, int] | None = None
    text: str = ""
    hold: float | None = None


def confined_files(paths: Iterable[str], folder: Path | None) -> list[Path]:
    """The paths that are regular files inside ``folder`` (links resolved; None: anywhere) and not
    over the size limit, sorted; everything else (devices, /proc, escapes through links) is left out."""
    root = folder.resolve() if folder is not None else None
    out = []
    for p in paths:
        real = Path(p).resolve()
        if root is not None and not real.is_relative_to(root):
            continue
        try:
            st = real.stat()
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_size <= MAX_FILE_BYTES:
            out.append(real)
    return sorted(out)


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
