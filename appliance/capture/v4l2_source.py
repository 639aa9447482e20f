"""USB webcams through OpenCV's V4L2 backend: ``v4l2:/dev/videoN[@fps][,WxH]``."""

from __future__ import annotations

import re

from appliance import sysinfo
from appliance.capture.base import Host, SourceCheck, SourceKind, SourceSpec
from appliance.capture.opencv_common import OpenCvSource, import_cv2
from appliance.errors import ConfigError, HardwareUnavailable, SourceError
from appliance.types import Frame

__all__ = ["KIND", "V4l2Source"]

_DEVICE = re.compile(r"/dev/video\d{1,3}|/dev/v4l/by-(?:id|path)/[A-Za-z0-9._:+-]{1,200}|\d{1,3}")


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


def _confine(spec: SourceSpec) -> None:
    """A saved configuration names camera devices only (never another file under /dev or elsewhere)."""
    if not _DEVICE.fullmatch(spec.arg):
        raise ConfigError("v4l2 takes a camera device: /dev/videoN, /dev/v4l/by-id/... or /dev/v4l/by-path/...")


def _check(spec: SourceSpec, host: Host) -> SourceCheck:
    """The doctor: is the device there (and which video devices are)?"""
    devices = sysinfo.v4l2_devices(host.root)
    names = ", ".join(f"{d} ({n})" for d, n in devices) or "none"
    wanted = spec.arg if spec.arg.startswith("/dev/") else f"/dev/video{spec.arg}"
    if not (host.root / wanted.lstrip("/")).exists():
        return SourceCheck(
            False, f"{wanted} is absent; video devices: {names}", "plug the USB camera in, or choose another"
        )
    return SourceCheck(True, f"{wanted} present; video devices: {names}")


def _offer(host: Host) -> list[dict[str, str]]:
    """Every video device sysfs lists."""
    return [
        {"source": f"v4l2:{dev}", "label": f"USB camera {dev}: {name}"} for dev, name in sysinfo.v4l2_devices(host.root)
    ]


KIND = SourceKind(
    "v4l2",
    "v4l2:/dev/videoN[@fps][,WxH]",
    V4l2Source,
    needs_arg=True,
    order=11,
    confine=_confine,
    check=_check,
    offer=_offer,
)
