"""Generated frames, so the whole appliance runs with no camera: a stick figure walking."""

from __future__ import annotations

import math
import time

import numpy as np
from PIL import Image, ImageDraw

from appliance.capture.base import Host, Pacer, SourceKind, SourceSpec
from appliance.errors import ConfigError
from appliance.types import Frame

__all__ = ["KIND", "SyntheticSource"]


class SyntheticSource:
    """A stick figure moving across a gradient at ``fps`` (default 30), ``size`` (default 640x480).

    ``synthetic:stall=N`` stops delivering after N frames, like a camera whose driver hung (a test
    aid for the watchdog).
    """

    def __init__(self, spec: SourceSpec, stall_after: int | None = None) -> None:
        if stall_after is None and spec.arg.startswith("stall="):
            try:
                stall_after = int(spec.arg[len("stall=") :])
            except ValueError:
                raise ConfigError(f"synthetic source: {spec.arg!r} is not stall=N") from None
        self.spec = spec
        self.size = spec.size or (640, 480)
        self.name = f"synthetic {self.size[0]}x{self.size[1]}"
        self._pacer = Pacer(spec.fps or 30.0)
        self._index = 0
        self._stall_after = stall_after  # tests: stop delivering after this many frames

    def open(self) -> None:
        """Nothing to acquire."""
        self._pacer = Pacer(self.spec.fps or 30.0)

    def read(self, timeout: float) -> Frame | None:
        """Next frame when due (None if not within ``timeout``)."""
        if self._stall_after is not None and self._index >= self._stall_after:
            time.sleep(timeout)
            return None
        if not self._pacer.wait(timeout):
            return None
        w, h = self.size
        t = self._index / 30.0
        img = Image.new("RGB", (w, h), (40, 40 + int(20 * math.sin(t)), 60))
        d = ImageDraw.Draw(img)
        cx, s = w * (0.5 + 0.3 * math.sin(t / 2)), h / 8
        head, hip = (cx, 1.5 * s), (cx, 4.5 * s)
        d.ellipse([cx - s / 2, s, cx + s / 2, 2 * s], fill=(230, 200, 180))
        limbs = [
            (head, hip),
            ((cx - s, 3 * s), (cx + s, 3 * s)),
            (hip, (cx - s * 0.8, 7 * s)),
            (hip, (cx + s * 0.8, 7 * s)),
        ]
        for a, b in limbs:
            d.line([a, b], fill=(230, 200, 180), width=max(int(s / 5), 2))
        self._index += 1
        return Frame(np.asarray(img), self._index, time.monotonic(), time.time())

    def close(self) -> None:
        """Nothing to release."""


def _offer(host: Host) -> list[dict[str, str]]:
    return [{"source": "synthetic", "label": "synthetic moving figure (no camera)"}]


KIND = SourceKind("synthetic", "synthetic[@fps][,WxH]", SyntheticSource, order=30, offer=_offer)
