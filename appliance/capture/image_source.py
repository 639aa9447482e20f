"""Still images from a glob, repeated at a set rate (default 15 fps), looping by default."""

from __future__ import annotations

import glob
import time

import numpy as np
from numpy.typing import NDArray

from appliance.capture.base import EndOfSource, Pacer, SourceSpec
from appliance.capture.images import load_image
from appliance.errors import SourceError
from appliance.types import Frame

__all__ = ["ImageSource"]


class ImageSource:
    """``images:GLOB[@fps][,once]``: each image decoded once, then served from memory."""

    def __init__(self, spec: SourceSpec) -> None:
        self.spec = spec
        self.name = f"images {spec.arg}"
        self._images: list[NDArray[np.uint8]] = []
        self._pos = 0
        self._index = 0
        self._pacer = Pacer(spec.fps or 15.0)

    def open(self) -> None:
        """Decode every matching image; SourceError if none matches or one is unreadable."""
        paths = sorted(glob.glob(self.spec.arg))  # noqa: PTH207 - a user-given pattern, may be absolute
        if not paths:
            raise SourceError(f"no image matches {self.spec.arg!r}")
        self._images = [load_image(p) for p in paths]
        self._pos = 0
        self._pacer = Pacer(self.spec.fps or 15.0)

    def read(self, timeout: float) -> Frame | None:
        """The next image when due."""
        if not self._images:
            raise SourceError("image source is not open")
        if self._pos >= len(self._images):
            if not self.spec.loop:
                raise EndOfSource(f"end of {self.spec.arg}")
            self._pos = 0
        if not self._pacer.wait(timeout):
            return None
        image = self._images[self._pos]
        self._pos += 1
        self._index += 1
        return Frame(image, self._index, time.monotonic(), time.time())

    def close(self) -> None:
        """Drop the decoded images."""
        self._images = []
