"""The Raspberry Pi camera through picamera2: the only module that imports picamera2.

A ``lores`` stream at the model's input size (rounded down to even numbers, which the ISP needs)
feeds the model; the ``main`` stream exists only because libcamera requires it. ``YUV420`` works on
every Pi (the Pi 4 ISP can only produce YUV for lores); ``RGB888`` / ``XRGB8888`` (Pi 5) are B,G,R
in memory. Both become RGB here.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from typing import Any

from appliance.capture.base import Host, SourceCheck, SourceKind, SourceSpec
from appliance.capture.yuv import bgr_to_rgb, yuv420_to_rgb
from appliance.errors import HardwareUnavailable, SourceError
from appliance.types import Frame

__all__ = ["Picamera2Source", "list_cameras", "lores_size"]


def lores_size(input_size: tuple[int, int] | None, fallback: tuple[int, int] = (640, 480)) -> tuple[int, int]:
    """(width, height) of the lores stream for a model input (height, width): even, >= 64."""
    if input_size is None:
        return fallback
    h, w = input_size
    return max(w - w % 2, 64), max(h - h % 2, 64)


class Picamera2Source:
    """``picamera2[:INDEX][@fps][,WxH]``; ``factory`` replaces ``picamera2.Picamera2`` in tests."""

    def __init__(
        self,
        spec: SourceSpec,
        input_size: tuple[int, int] | None = None,
        lores_format: str = "YUV420",
        factory: Callable[..., Any] | None = None,
    ) -> None:
        self.spec = spec
        self.index = int(spec.arg) if spec.arg.isdigit() else 0
        self.size = spec.size or lores_size(input_size)
        self.format = lores_format
        self.name = f"picamera2:{self.index} {self.size[0]}x{self.size[1]} {lores_format}"
        self._factory = factory
        self._cam: Any = None
        self._job: Any = None
        self._frames = 0

    def open(self) -> None:
        """Open, configure and start the camera.

        Raises:
            HardwareUnavailable: picamera2 is not installed or no camera is connected.
        """
        factory = self._factory
        if factory is None:
            try:
                factory = importlib.import_module("picamera2").Picamera2
            except ImportError as exc:
                raise HardwareUnavailable(
                    "picamera2 is not installed (apt install python3-picamera2; the venv needs --system-site-packages)"
                ) from exc
        try:
            cam = factory(self.index)
            w, h = self.size
            controls = {"FrameRate": self.spec.fps} if self.spec.fps else {}
            config = cam.create_video_configuration(
                main={"size": (max(w, 640), max(h, 480)), "format": "YUV420"},
                lores={"size": (w, h), "format": self.format},
                buffer_count=4,
                controls=controls,
            )
            cam.configure(config)
            cam.start()
        except (IndexError, RuntimeError, OSError) as exc:
            raise HardwareUnavailable(
                f"no camera {self.index}: {exc}; check the ribbon cable and 'rpicam-hello'"
            ) from exc
        self._cam, self._job = cam, None

    def read(self, timeout: float) -> Frame | None:
        """Next lores frame as RGB, or None if the camera gave none within ``timeout``."""
        cam = self._cam
        if cam is None:
            raise SourceError("camera is not open")
        if self._job is None:
            self._job = cam.capture_array("lores", wait=False)
        try:
            array = cam.wait(self._job, timeout=timeout)
        except TimeoutError:
            return None  # keep the job: the frame it waits for may still come
        except RuntimeError as exc:
            self._job = None
            raise SourceError(f"camera error: {exc}") from exc
        self._job = None
        t_capture, t_wall = time.monotonic(), time.time()
        w, h = self.size
        rgb = yuv420_to_rgb(array, w, h) if array.ndim == 2 else bgr_to_rgb(array[:h, :w])
        self._frames += 1
        return Frame(rgb, self._frames, t_capture, t_wall)

    def close(self) -> None:
        """Stop and close the camera; idempotent."""
        cam, self._cam, self._job = self._cam, None, None
        if cam is not None:
            try:
                cam.stop()
            finally:
                cam.close()


def list_cameras() -> list[str] | None:
    """The cameras libcamera sees (their model names, by index); None when picamera2 is not installed."""
    try:
        picamera2 = importlib.import_module("picamera2")
    except Exception:  # ImportError, or libcamera failing to load: picamera2 cannot be used either way
        return None
    try:
        info = picamera2.Picamera2.global_camera_info()
    except Exception:
        return []
    return [str(c.get("Model", "camera")) for c in info]


def _check(spec: SourceSpec, host: Host) -> SourceCheck:
    """The doctor: is picamera2 installed, and does libcamera find a camera?"""
    cameras = (host.cameras or list_cameras)()
    if cameras is None:
        return SourceCheck(
            False,
            "picamera2 is not installed: no Pi camera can be used",
            "on Raspberry Pi OS: sudo apt install python3-picamera2 (the service's venv sees system packages)",
        )
    if not cameras:
        return SourceCheck(
            False,
            "libcamera finds no camera",
            "check the ribbon cable (contacts, direction) and camera_auto_detect=1 in /boot/firmware/config.txt",
        )
    return SourceCheck(True, f"libcamera: {', '.join(cameras)}")


def _offer(host: Host) -> list[dict[str, str]]:
    """Every camera libcamera finds."""
    cameras = (host.cameras or list_cameras)() or []
    return [
        {"source": "picamera2" if i == 0 else f"picamera2:{i}", "label": f"Pi camera: {name}"}
        for i, name in enumerate(cameras)
    ]


KIND = SourceKind(
    "picamera2", "picamera2[:INDEX][@fps][,WxH]", Picamera2Source, sized=True, order=10, check=_check, offer=_offer
)
