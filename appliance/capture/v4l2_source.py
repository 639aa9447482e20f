"""USB webcams through OpenCV's V4L2 backend: ``v4l2:/dev/videoN[@fps][,WxH]``."""

from __future__ import annotations

from appliance.capture.base import SourceSpec
from appliance.capture.opencv_common import OpenCvSource, import_cv2
from appliance.errors import HardwareUnavailable, SourceError
from appliance.types import Frame

__all__ = ["V4l2Source"]


class V4l2Source(OpenCvSource):
    """A V4L2 device (prefer the stable /dev/v4l/by-id/... path); one-frame buffer for low latency."""

    def __init__(self, spec: SourceSpec) -> None:
        super().__init__(spec, f"v4l2 {spec.arg}")

    def open(self) -> None:
        """Open the device; HardwareUnavailable if it is absent or busy."""
        cv2 = import_cv2()
        dev: str | int = int(self.spec.arg) if self.spec.arg.isdigit() else self.spec.arg
        cap = cv2.VideoCapture(dev, cv2.CAP_V4L2)
        if not cap.isOpened():
            cap.release()
            raise HardwareUnavailable(f"cannot open camera {self.spec.arg}: absent or used by another program")
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        if self.spec.size:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.spec.size[0])
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.spec.size[1])
        if self.spec.fps:
            cap.set(cv2.CAP_PROP_FPS, self.spec.fps)
        self._cap = cap

    def read(self, timeout: float) -> Frame | None:
        """Next frame (OpenCV blocks until one arrives; the driver times out on a dead camera)."""
        if self._cap is None:
            raise SourceError("camera is not open")
        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            raise SourceError(f"camera {self.spec.arg} stopped delivering frames")
        return self._frame(bgr)
