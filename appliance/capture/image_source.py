"""Still images from a glob in a folder: a slideshow (each image held a while, as a still scene) or,
with ``hold=0``, the frames of one continuous scene; looping by default, 15 fps by default; a
window of each picture (``x0=,x1=,y0=,y1=``, 0..1 of the picture, (x, y)) cut before inference."""

from __future__ import annotations

import glob
import time
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from appliance.capture.base import (
    WINDOW_PARAMS,
    EndOfSource,
    Host,
    Pacer,
    SourceKind,
    SourceSpec,
    confined_files,
    cut,
    window,
)
from appliance.capture.images import load_image
from appliance.errors import SourceError
from appliance.types import Frame

__all__ = ["DEFAULT_FPS", "DEFAULT_HOLD", "IMAGE_SUFFIXES", "KIND", "ImageSource"]

#: File name endings the page offers as images.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")

#: Most images one source decodes and holds in memory.
MAX_IMAGES = 256
#: Frames per second an image source delivers unless its spec says.
DEFAULT_FPS = 15.0
#: Seconds each image is shown when the pattern matches several and the spec does not say (``hold=``).
DEFAULT_HOLD = 2.0


class ImageSource:
    """``images:GLOB[@fps][,once][,hold=SECONDS][,x0=..,x1=..,y0=..,y1=..]``: each image (regular
    files inside ``folder`` only) decoded once, cut to the spec's window (``base.window``: 0..1 of
    the picture, x right, y down; default all of it: one of several cameras whose views overlap),
    then served from memory at ``fps``; the frame is the window's source pixels.

    Each image is held for ``hold`` seconds (``round(hold * fps)`` frames, at least one; by default
    ``DEFAULT_HOLD`` when several images match), like a camera looking at a still scene, and changing
    image is a cut (``Frame.scene`` changes), so the tracker confirms the people of each photo and
    lets them leave with it. ``hold=0`` (the default for a single image) shows the images one per
    frame as one continuous scene (frames exported from a video), cutting only where it starts
    over. One image is one scene.
    """

    def __init__(self, spec: SourceSpec, folder: Path | None = None) -> None:
        self.spec = spec
        self.folder = folder
        self.window = window(spec)
        cut_text = "" if self.window == (0.0, 1.0, 0.0, 1.0) else " x{:g}..{:g} y{:g}..{:g}".format(*self.window)
        self.name = f"images {spec.arg}{cut_text}"
        self._images: list[NDArray[np.uint8]] = []
        self._pos = 0  # the image being shown
        self._shown = 0  # frames it was shown so far
        self._index = 0
        self._scene = 0
        self._slideshow = False
        self._per_image = 1  # frames each image is shown
        self._pacer = Pacer(spec.fps or DEFAULT_FPS)

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
                images.append(cut(load_image(str(p)), self.window))
            except SourceError:
                raise SourceError(f"image {i + 1} of {len(paths)} matching {self.spec.arg!r} is unreadable") from None
        self._images = images
        self._pos = self._shown = 0
        self._scene += 1  # (re)opening starts a new scene
        fps = self.spec.fps or DEFAULT_FPS
        hold = self.spec.hold if self.spec.hold is not None else (DEFAULT_HOLD if len(images) > 1 else 0.0)
        self._slideshow = hold > 0
        self._per_image = max(1, round(hold * fps)) if self._slideshow else 1
        self._pacer = Pacer(fps)

    def read(self, timeout: float) -> Frame | None:
        """The next frame when due: the current image again, or the next one once it was held long
        enough (EndOfSource after the last one, without ``loop``)."""
        if not self._images:
            raise SourceError("image source is not open")
        if self._shown >= self._per_image:
            nxt = self._pos + 1
            if nxt >= len(self._images):
                if not self.spec.loop:
                    raise EndOfSource(f"end of {self.spec.arg}")
                nxt = 0
            if len(self._images) > 1 and (self._slideshow or nxt == 0):
                self._scene += 1
            self._pos, self._shown = nxt, 0
        if not self._pacer.wait(timeout):
            return None
        self._shown += 1
        self._index += 1
        return Frame(self._images[self._pos], self._index, time.monotonic(), time.time(), self._scene)

    def close(self) -> None:
        """Drop the decoded images."""
        self._images = []


def _offer(host: Host) -> list[dict[str, str]]:
    """All the media folder's images as one slideshow (when there are several), and each image."""
    images = [p for p in host.media_files() if p.suffix.lower() in IMAGE_SUFFIXES]
    out = [{"source": f"images:{p.name}@15", "label": f"image {p.name}"} for p in images]
    if len(images) > 1:
        out.insert(0, {"source": "images:*@15", "label": f"all {len(images)} images in the media folder"})
    return out


KIND = SourceKind(
    "images",
    "images:GLOB[@fps][,once][,hold=SECONDS][,x0=0,x1=0.6,y0=0,y1=1]",
    ImageSource,
    needs_arg=True,
    files=True,
    holds=True,
    params=WINDOW_PARAMS,
    confine=window,
    order=20,
    offer=_offer,
)
