"""The camera view: the newest frame as a small JPEG, encoded only when someone asks.

Nothing runs per frame for it: the pipeline swaps one reference (``Reading.latest_frame``). A
request for a frame not encoded yet starts one encoding off the event loop (on one of the worker
threads FastAPI runs blocking routes on; scaled so its width is at most ``MAX_WIDTH``); every
request meanwhile, for that frame or a newer one, waits for that same
encoding, and later requests for the same frame get the cached bytes. So there is at most one
encoding at a time and one per frame, however many ask, and no thread per request. The picture
lives in memory only and is never written anywhere. Whether it is served at all, and to whom, is
the route's (``http.camera_view``, the owner, a rate limit per client).
"""

from __future__ import annotations

import asyncio
import io
import logging
from dataclasses import dataclass

import anyio.to_thread
from PIL import Image

from appliance.core.facade import Reading
from appliance.types import Frame

logger = logging.getLogger(__name__)

__all__ = ["MAX_WIDTH", "CameraView", "Picture", "encode"]

#: Widest picture served (source pixels are scaled down to it, never up).
MAX_WIDTH = 640
QUALITY = 70


@dataclass(frozen=True, slots=True)
class Picture:
    """One encoded frame: JPEG bytes, the frame's index and capture time, and the source's (width,
    height) in pixels (the JPEG itself is at most ``MAX_WIDTH`` wide)."""

    jpeg: bytes
    index: int
    t_capture: float
    size: tuple[int, int]


def encode(frame: Frame) -> Picture:
    """``frame`` as a JPEG at most ``MAX_WIDTH`` pixels wide (blocking: a few milliseconds); the
    frame's ``render`` picture when it gives one (a replay's video), else its image."""
    shown = None
    if frame.render is not None:
        try:
            shown = frame.render()
        except Exception:  # a damaged video must not break the view: the plain frame is shown
            logger.warning("the replay's video cannot be shown", exc_info=True)
    image = Image.fromarray(shown if shown is not None else frame.image)
    w, h = frame.size  # the poses' picture size (source pixels), whatever size is shown
    if image.size[0] > MAX_WIDTH:
        image = image.resize((MAX_WIDTH, max(1, round(h * MAX_WIDTH / w))), Image.Resampling.BILINEAR)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=QUALITY)
    return Picture(out.getvalue(), frame.index, frame.t_capture, (w, h))


class CameraView:
    """The newest frame as JPEG, one cached picture; use on the event loop only."""

    def __init__(self, control: Reading) -> None:
        self.control = control
        self._cached: Picture | None = None
        self._encoding: asyncio.Future[Picture] | None = None
        self.encoded = 0  # pictures encoded (at most one per distinct frame asked for)
        self.served = 0

    async def jpeg(self) -> Picture | None:
        """The newest frame's picture (or the one being encoded); None before the first frame."""
        latest = self.control.latest_frame()
        if latest is None:
            return None
        frame = latest[0]
        picture = self._cached
        if picture is None or (picture.index, picture.t_capture) != (frame.index, frame.t_capture):
            if self._encoding is None:
                self._encoding = asyncio.ensure_future(self._encode(frame))
            # Shielded: a client that goes away does not cancel the others' picture.
            picture = await asyncio.shield(self._encoding)
        self.served += 1
        return picture

    async def _encode(self, frame: Frame) -> Picture:
        try:
            picture = await anyio.to_thread.run_sync(encode, frame)
        finally:
            self._encoding = None
        self._cached = picture
        self.encoded += 1
        return picture
