"""Calibration help for the hub: boxes calibrated separately never agree exactly. While one person
walks through the overlap, each frame in which two boxes each see exactly one person with a floor
position gives a pair of points (the same person, the same moment, in each box's floor frame); from
enough pairs spread over the floor, the rigid correction (rotation, then offset) that brings one
box's floor positions onto the reference box's is found by least squares (2-D Kabsch/Umeyama).

Floor positions are metres on the floor, order (x, y). The correction maps a point p of ``box`` to
``R(theta) p + (dx, dy)`` in the reference box's frame. Bounded: at most ``MAX_PAIRS`` pairs per
box (the newest kept).

Each box's pairs belong to one *walk*, numbered once per process (never reused): a correction
carries its walk's number, so a correction applied to the box (``corrected``: its four floor marks
moved) is never applied twice. After that the box's walk starts over (``Restarts``: asked from any
thread, taken by the hub's), since moments measured with the old calibration no longer fit.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "MAX_PAIRS",
    "MIN_PAIRS",
    "MIN_SPREAD",
    "RESTARTS",
    "Correction",
    "PairCollector",
    "Restarts",
    "corrected",
    "rigid_2d",
]

#: Pairs kept per box; pairs needed, and their spread (metres, the larger standard deviation of
#: the reference points), before a correction is offered (a person standing still fixes no rotation).
MAX_PAIRS, MIN_PAIRS, MIN_SPREAD = 1000, 30, 0.3


@dataclass(frozen=True, slots=True)
class Correction:
    """How to move ``box``'s floor onto ``reference``'s: rotate by ``degrees`` (counter-clockwise
    in (x, y)) about the origin, then shift by (``dx``, ``dy``) metres; ``rms`` the residual after
    it (metres), from ``pairs`` pairs of walk number ``walk``."""

    box: str
    reference: str
    dx: float
    dy: float
    degrees: float
    rms: float
    pairs: int
    walk: int = 0


def corrected(points: Sequence[Sequence[float]], degrees: float, dx: float, dy: float) -> list[list[float]]:
    """Floor points (metres, each [x, y]) moved by a correction: rotated by ``degrees``
    (counter-clockwise in (x, y)) about the origin, then shifted by (``dx``, ``dy``) metres."""
    theta = math.radians(degrees)
    c, s = math.cos(theta), math.sin(theta)
    return [[c * x - s * y + dx, s * x + c * y + dy] for x, y in points]


class Restarts:
    """Boxes whose walk starts over (their floor calibration changed): asked from any thread (the
    HTTP side, ``ask``), taken by the hub's thread (``take``); at most ``LIMIT`` waiting."""

    LIMIT = 64

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._boxes: set[str] = set()

    def ask(self, box: str) -> None:
        """Start ``box``'s walk over at the hub's next frame."""
        with self._lock:
            if len(self._boxes) < self.LIMIT:
                self._boxes.add(box)

    def take(self) -> set[str]:
        """The boxes asked since the last call (the hub's thread)."""
        with self._lock:
            out, self._boxes = self._boxes, set()
        return out


#: The process's one hub's restarts (a process runs at most one hub).
RESTARTS = Restarts()
_WALKS = itertools.count(1)


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

    def __init__(self, restarts: Restarts = RESTARTS) -> None:
        self._pairs: dict[str, deque[tuple[float, float, float, float]]] = {}
        self._walks: dict[str, int] = {}  # box -> its walk's number
        self.changes = 0  # walks started over so far (a cached offer is stale when this moves)
        self._last: dict[str, tuple[int, int]] = {}  # box -> the (reference, box) frame indices paired last
        self._restarts = restarts
        self.reference = ""

    def add(self, frames: dict[str, list[tuple[float, float]]], frame_ids: dict[str, int] | None = None) -> None:
        """One aligned moment: each box's floor positions. Boxes that see exactly one person make a
        pair with the reference box (the first box seen) when it sees exactly one person too.
        ``frame_ids`` (each box's frame index): a pair of frames already paired is not added again
        (the hub fuses at every box's frame, so one moment would otherwise count once per box)."""
        self._restart()
        if not self.reference and frames:
            self.reference = next(iter(frames))
        ref = frames.get(self.reference)
        if ref is None or len(ref) != 1:
            return
        for box, points in frames.items():
            if box != self.reference and len(points) == 1:
                if frame_ids is not None:
                    moment = (frame_ids.get(self.reference, -1), frame_ids.get(box, -1))
                    if self._last.get(box) == moment:
                        continue
                    self._last[box] = moment
                if box not in self._pairs:
                    self._pairs[box], self._walks[box] = deque(maxlen=MAX_PAIRS), next(_WALKS)
                self._pairs[box].append((*points[0], *ref[0]))

    def forget(self, box: str) -> None:
        """Start over for ``box`` (its calibration changed): its next pairs are a new walk."""
        self.changes += 1
        self._pairs.pop(box, None)
        self._walks.pop(box, None)

    def _restart(self) -> None:
        for box in self._restarts.take():
            self.forget(box)

    def corrections(self) -> list[Correction]:
        """The correction of every box with enough pairs, spread enough."""
        self._restart()
        out = []
        for box, pairs in self._pairs.items():
            if len(pairs) < MIN_PAIRS:
                continue
            data = np.asarray(pairs, np.float64)
            src, dst = data[:, :2], data[:, 2:]
            if float(dst.std(axis=0).max()) < MIN_SPREAD:
                continue
            theta, dx, dy, rms = rigid_2d(src, dst)
            walk = self._walks[box]
            out.append(Correction(box, self.reference, dx, dy, math.degrees(theta), rms, len(pairs), walk))
        return out
