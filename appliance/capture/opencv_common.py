"""Shared OpenCV VideoCapture handling for the V4L2 and video-file sources."""

from __future__ import annotations

import importlib
from types import ModuleType

from appliance.errors import HardwareUnavailable

__all__ = ["import_cv2"]


def import_cv2() -> ModuleType:
    """Import OpenCV or say how to install it."""
    try:
        return importlib.import_module("cv2")
    except ImportError as exc:
        raise HardwareUnavailable(
            "OpenCV is needed for v4l2 and video sources: pip install opencv-python-headless "
            "(or apt install python3-opencv on the Pi)"
        ) from exc
