"""Calibration help for the hub: boxes calibrated separately never agree exactly. While one person
walks through the overlap, each frame in which two boxes each see exactly one person with a floor
position gives a pair of points (the same person, the same moment, in each box's floor frame); from
enough pairs spread over the floor, the rigid correction (rotation, then offset) that brings one
box's floor positions onto the reference box's is found by least squares (2-D Kabsch/Umeyama).

Floor positions are metres on the floor, order (x, y). The correction maps a point p of ``box`` to
``R(theta) p + (dx, dy)`` in the reference box's frame. Bounded: at most ``MAX_PAIRS`` pairs per
box (the newest kept).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

__all__ = ["MAX_PAIRS", "MIN_PAIRS", "MIN_SPREAD", "Correction", "PairCollector", "rigid_2d"]

#: Pairs kept per box; pairs needed, and their spread (metres, the larger standard deviation of
#: the reference points), before a correction is offered (a person standing still fixes no rotation).
MAX_PAIRS, MIN_PAIRS, MIN_SPREAD = 1000, 30, 0.3


@dataclass(frozen=True, slots=True)
class Correction:
    """How to move ``box``'s floor onto ``reference``'s: rotate by ``degrees`` (counter-clockwise
    in (x, y)) about the origin, then shift by (``dx``, ``dy``) metres; ``rms`` the residual after
    it (metres), from ``pairs`` pairs."""

    box: str
    reference: str
    dx: float
    dy: float
    degrees: float
    rms: float
    pairs: int


def rigid_2d(src: np.ndarray, dst: np.ndarray) -> tuple[float, float, float, float]:
    """The rotation (radians) and offset (dx, dy) minimising the squared distances from
    ``R src + t`` to ``dst`` (both (N, 2), metres), and the residual RMS: (theta, dx, dy, rms)."""
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    a, b = src - mu_s, dst - mu_d
    theta = math.atan2(float(np.sum(a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0])), float(np.sum(a * b)))
    c, s = math.cos(theta), math.sin(theta)
    rot = np.array([[c, -s], [s, c]])
    t = mu_d - rot @ mu_s
    residual = dst - (src @ rot.T + t)
    rms = float(np.sqrt(np.mean(np.sum(residual**2, axis=1))))
    return theta, float(t[0]), float(t[1]), rms


class PairCollector:
    """Pairs of one person's floor positions seen by the reference box and by each other box."""

    def __init__(self) -> None:
        self._pairs: dict[str, deque[tuple[float, float, float, float]]] = {}
        self.reference = ""

    def add(self, frames: dict[str, list[tuple[float, float]]]) -> None:
        """One aligned moment: each box's floor positions. Boxes that see exactly one person make a
        pair with the reference box (the first box seen) when it sees exactly one person too."""
        if not self.reference and frames:
            self.reference = next(iter(frames))
        ref = frames.get(self.reference)
        if ref is None or len(ref) != 1:
            return
        for box, points in frames.items():
            if box != self.reference and len(points) == 1:
                pairs = self._pairs.setdefault(box, deque(maxlen=MAX_PAIRS))
                pairs.append((*points[0], *ref[0]))

    def forget(self, box: str) -> None:
        """Start over for ``box`` (its calibration changed)."""
        self._pairs.pop(box, None)

    def corrections(self) -> list[Correction]:
        """The correction of every box with enough pairs, spread enough."""
        out = []
        for box, pairs in self._pairs.items():
            if len(pairs) < MIN_PAIRS:
                continue
            data = np.asarray(pairs, np.float64)
            src, dst = data[:, :2], data[:, 2:]
            if float(dst.std(axis=0).max()) < MIN_SPREAD:
                continue
            theta, dx, dy, rms = rigid_2d(src, dst)
            out.append(Correction(box, self.reference, dx, dy, math.degrees(theta), rms, len(pairs)))
        return out
