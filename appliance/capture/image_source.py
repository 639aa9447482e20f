"""Still images from a glob in a folder, repeated at a set rate (default 15 fps), looping by default."""

from __future__ import annotations

import glob
import time
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from appliance.capture.base import EndOfSource, Pacer, SourceSpec, confined_files
from appliance.capture.images import load_image
from appliance.errors import SourceError
from appliance.types import Frame

__all__ = ["ImageSource"]


#: Most images one source decodes and holds in memory.
MAX_IMAGES = 256


class ImageSource:
    """``images:GLOB[@fps][,once]``: each image (regular files inside ``folder`` only) decoded once,
    then served from memory."""

    def __init__(self, spec: SourceSpec, folder: Path | None = None) -> None:
        self.spec = spec
        self.folder = folder
        self.name = f"images {spec.arg}"
        self._images: list[NDArray[np.uint8]] = []
        self._pos = 0
        self._index = 0
        self._pacer = Pacer(spec.fps or 15.0)

    def open(self) -> None:
        """Decode every matching image; SourceError if none matches or one is unreadable.

        Messages name the pattern, never the files found (they would list a folder's contents).
        """
        pattern = str(self.folder / self.spec.arg) if self.folder is not None else self.spec.arg
        paths = confined_files(glob.glob(pattern), self.folder)[:MAX_IMAGES]  # noqa: PTH207 - a pattern
        if not paths:
            raise SourceError(f"no image matches {self.spec.arg!r}")
        images = []
        for i, p in enumerate(paths):
            try:
                images.append(load_image(str(p)))
            except SourceError:
                raise SourceError(f"image {i + 1} of {len(paths)} matching {self.spec.arg!r} is unreadable") from None
        self._images = images
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
