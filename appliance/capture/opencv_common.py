"""What the OpenCV-based sources (V4L2 webcams, video files) share."""

from __future__ import annotations

import importlib
import time
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from appliance.capture.base import SourceSpec
from appliance.errors import HardwareUnavailable
from appliance.types import Frame

__all__ = ["OpenCvSource", "import_cv2"]


def import_cv2() -> ModuleType:
    """Import OpenCV or say how to install it."""
    try:
        return importlib.import_module("cv2")
    except ImportError as exc:
        raise HardwareUnavailable(
            "OpenCV is needed for v4l2 and video sources: pip install opencv-python-headless "
            "(or apt install python3-opencv on the Pi)"
        ) from exc


class OpenCvSource:
    """Holds a ``cv2.VideoCapture``; subclasses open it and read from it."""

    def __init__(self, spec: SourceSpec, name: str) -> None:
        self.spec = spec
        self.name = name
        self._cap: Any = None
        self._index = 0

    def _frame(self, bgr: NDArray[np.uint8]) -> Frame:
        """OpenCV's B,G,R image as the next RGB Frame, stamped now."""
        self._index += 1
        return Frame(np.ascontiguousarray(bgr[:, :, ::-1]), self._index, time.monotonic(), time.time())

    def close(self) -> None:
        """Release the capture; idempotent."""
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()
