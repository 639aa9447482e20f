"""The camera view: the newest frame as a small JPEG, encoded only when someone asks.

Nothing runs per frame for it: the pipeline swaps one reference (``Control.latest_frame``). A
request encodes that frame (scaled so its width is at most ``MAX_WIDTH``) once; other viewers asking
for the same frame get the same bytes. The picture lives in memory only and is never written
anywhere. Whether it is served at all, and to whom, is the configuration's: ``http.camera_view``
and the access token (checked by the route).
"""

from __future__ import annotations

import io
import threading

from PIL import Image

from appliance.core.facade import Control

__all__ = ["MAX_WIDTH", "CameraView"]

#: Widest picture served (source pixels are scaled down to it, never up).
MAX_WIDTH = 640
QUALITY = 70


class CameraView:
    """Encodes the newest frame as JPEG on demand; one cached picture, keyed by frame index."""

    def __init__(self, control: Control) -> None:
        self.control = control
        self._lock = threading.Lock()
        self._cached: tuple[int, float, bytes, tuple[int, int]] | None = None  # index, t_capture, jpeg, size
        self.encoded = 0  # pictures encoded (one per distinct frame asked for)
        self.served = 0

    def jpeg(self) -> tuple[bytes, int, tuple[int, int]] | None:
        """(JPEG bytes, frame index, source (width, height)) of the newest frame; None before the first."""
        latest = self.control.latest_frame()
        if latest is None:
            return None
        frame, _ = latest
        with self._lock:
            cached = self._cached
            if cached is None or (cached[0], cached[1]) != (frame.index, frame.t_capture):
                image = Image.fromarray(frame.image)
                w, h = image.size
                if w > MAX_WIDTH:
                    image = image.resize((MAX_WIDTH, max(1, round(h * MAX_WIDTH / w))), Image.Resampling.BILINEAR)
                out = io.BytesIO()
                image.save(out, "JPEG", quality=QUALITY)
                cached = self._cached = (frame.index, frame.t_capture, out.getvalue(), (w, h))
                self.encoded += 1
            self.served += 1
            return cached[2], cached[0], cached[3]
