"""The optional video of a recording: the camera frames beside the poses, so a recorded evening can
be run again through another model or other settings (``--source video:NAME.mp4``), its recorded
poses the ground truth.

Frames are shrunk to at most ``MAX_WIDTH`` pixels wide (keeping the aspect) on the "send" thread and
encoded by the recorder's writer thread with OpenCV's MPEG-4 Part 2 encoder (``mp4v``: compact, and
in every opencv-python wheel), at a nominal 15 fps: the real capture times are in the recording,
whose frame lines say which video frame (``"v"``) shows them. A frame of another size than the first
is resized to it (a slideshow). On a Pi, picamera2's hardware H.264 encoder would cost no CPU: not
done (needs the camera; the OpenCV path works there too, at some CPU).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from appliance.errors import HardwareUnavailable

__all__ = ["MAX_WIDTH", "VideoWriter", "shrink"]

MAX_WIDTH = 640
FPS = 15.0


def _cv2() -> ModuleType:
    try:
        return importlib.import_module("cv2")
    except ImportError as exc:
        raise HardwareUnavailable("recording video needs OpenCV: pip install opencv-python-headless") from exc


def shrink(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """``image`` ((H, W, 3) uint8 RGB) at most ``MAX_WIDTH`` wide, as a new BGR array for the
    encoder (never a view of the source's buffer, which a camera may reuse)."""
    cv2 = _cv2()
    h, w = image.shape[:2]
    if w > MAX_WIDTH:
        image = cv2.resize(image, (MAX_WIDTH, max(2, round(h * MAX_WIDTH / w)) // 2 * 2), interpolation=cv2.INTER_AREA)
    out: NDArray[np.uint8] = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    return out


class VideoWriter:
    """Frames to an MPEG-4 file; opened on the first frame (its size is the video's)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.frames = 0
        self._writer: Any = None
        self._size: tuple[int, int] = (0, 0)

    def write(self, bgr: NDArray[np.uint8]) -> int:
        """Append one frame; returns its number in the video (0-based).

        Raises:
            OSError: the encoder could not be opened.
        """
        cv2 = _cv2()
        if self._writer is None:
            h, w = bgr.shape[:2]
            self._size = (w - w % 2, h - h % 2)
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, self._size)
            if not self._writer.isOpened():
                raise OSError(f"cannot open a video encoder for {self.path.name}")
        if (bgr.shape[1], bgr.shape[0]) != self._size:
            bgr = cv2.resize(bgr, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(bgr)
        self.frames += 1
        return self.frames - 1

    def close(self) -> None:
        """Finish the file (idempotent)."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    @property
    def bytes(self) -> int:
        """The file's size so far."""
        try:
            return self.path.stat().st_size
        except OSError:
            return 0
