"""The room's geometry, for the zones, slots, features and floor stages (``appliance.stages``).

Pure math on keypoints **normalised to 0..1 of the picture, (x, y)**, or on the floor in **metres,
(x, y)**: a person's feet (the floor point), the point a zone counts (feet, centre, hands or a
keypoint), point-in-polygon with a distance to the border (for hysteresis), the homography that
maps the picture to the floor (four marks), and the floor the picture sees (``footprint``, metres).

The floor point: the mean of the confident ankles; with neither ankle confident, it is estimated
straight below the hips, ``FEET_BELOW_HIPS`` torso lengths (shoulders to hips, in the picture) lower.
On an adult standing upright the ankle-to-hip height is 1.2..1.35 torso lengths, so the estimate is
off by about +-7 % of the hip-to-ankle height in the picture (some 6 cm on the floor 4 m from a
camera 2.5 m high); it is only made when the hips and shoulders are seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from appliance.types import KEYPOINT_NAMES, Poses

__all__ = [
    "FEET_BELOW_HIPS",
    "MIN_SCORE",
    "VIEW_REACH",
    "Measures",
    "Polygon",
    "Polygons",
    "border_distance",
    "centres",
    "clip_half_plane",
    "feet",
    "footprint",
    "heights",
    "homography",
    "inside",
    "inside_many",
    "measure",
    "project",
    "zone_points",
]

#: Keypoints at least this confident are used (as the formats' boxes and centres do).
MIN_SCORE = 0.2
#: Hip-to-ankle height in torso lengths (shoulders to hips) for a person whose feet are hidden.
FEET_BELOW_HIPS = 1.26
_L_SH, _R_SH, _L_WR, _R_WR, _L_HIP, _R_HIP, _L_AN, _R_AN = 5, 6, 9, 10, 11, 12, 15, 16
F32 = NDArray[np.float32]
F64 = NDArray[np.float64]


_PAIRS = [_L_AN, _R_AN, _L_HIP, _R_HIP, _L_SH, _R_SH]


def feet(kp: F32) -> F32:
    """Each person's floor point (N, 2) = (x, y) in the space of ``kp`` ((N, 17, 3) = (x, y, score)):
    the confident ankles' mean, else estimated from hips and shoulders (module docstring), else the
    lowest confident keypoint."""
    n = kp.shape[0]
    sub = kp[:, _PAIRS, :].reshape(n, 3, 2, 3)  # ankles, hips, shoulders: (left, right) x (x, y, score)
    w = (sub[:, :, :, 2] >= MIN_SCORE).astype(np.float32)
    total = w.sum(axis=2)  # (N, 3)
    mean = (sub[:, :, :, :2] * w[:, :, :, None]).sum(axis=2) / np.maximum(total, 1.0)[:, :, None]
    seen = total > 0
    out: F32 = mean[:, 0].astype(np.float32)
    guess = ~seen[:, 0] & seen[:, 1] & seen[:, 2]
    if guess.any():
        hips, shoulders = mean[guess, 1], mean[guess, 2]
        out[guess, 0] = hips[:, 0]
        out[guess, 1] = hips[:, 1] + FEET_BELOW_HIPS * (hips[:, 1] - shoulders[:, 1])
    for i in np.flatnonzero(~seen[:, 0] & ~guess):
        y = np.where(kp[i, :, 2] >= MIN_SCORE, kp[i, :, 1], -np.inf)
        j = int(np.argmax(y)) if np.isfinite(y).any() else int(np.argmax(kp[i, :, 1]))
        out[i] = kp[i, j, :2]
    return out


def centres(kp: F32) -> F32:
    """Each person's body centre (N, 2) = (x, y): the confident shoulders' and hips' mean (all four
    keypoints' when none is confident), in the space of ``kp``."""
    torso = kp[:, [_L_SH, _R_SH, _L_HIP, _R_HIP], :]
    ok: NDArray[np.bool_] = torso[:, :, 2] >= MIN_SCORE
    none: NDArray[np.bool_] = ok.sum(axis=1) == 0
    ok |= none[:, None]
    w = ok.astype(np.float32)
    out: F32 = ((torso[:, :, :2] * w[:, :, None]).sum(axis=1) / w.sum(axis=1)[:, None]).astype(np.float32)
    return out


def heights(kp: F32) -> F32:
    """Each person's height (N,) in the picture, in the units of ``kp``: the span in y of the
    confident keypoints (all when fewer than two are), at least 1e-6."""
    ok = kp[:, :, 2] >= MIN_SCORE
    ok |= (ok.sum(axis=1) < 2)[:, None]
    y = kp[:, :, 1]
    span = np.where(ok, y, -np.inf).max(axis=1) - np.where(ok, y, np.inf).min(axis=1)
    out: F32 = np.maximum(span, 1e-6).astype(np.float32)
    return out


def zone_points(kp: F32, point: str, feet_xy: F32 | None = None) -> list[F32]:
    """The points (N, 2) = (x, y) a zone counts for each person, in the space of ``kp``: ``feet``
    (``feet_xy`` when known), ``centre``, a keypoint name, or ``hands`` (two arrays: left wrist,
    right wrist; either counts); a keypoint less confident than ``MIN_SCORE`` is NaN (nowhere)."""
    if point == "feet":
        return [feet(kp) if feet_xy is None else feet_xy]
    if point == "centre":
        return [centres(kp)]
    rows = [_L_WR, _R_WR] if point == "hands" else [KEYPOINT_NAMES.index(point)]
    out = []
    for k in rows:  # a keypoint not seen is nowhere (NaN): inside no zone
        xy = kp[:, k, :2].copy()
        xy[kp[:, k, 2] < MIN_SCORE] = np.nan
        out.append(xy)
    return out


@dataclass(frozen=True, slots=True)
class Polygon:
    """A polygon's corners (K, 2) = (x, y), with its edges (from each corner to the next) and its
    bounding box (``lo``, ``hi``), computed once (``Polygon.of``)."""

    corners: F64
    start: F64
    edge: F64
    lo: F64
    hi: F64

    @staticmethod
    def of(points: Sequence[Sequence[float]]) -> Polygon:
        c = np.array(points, np.float64)
        return Polygon(c, c, np.roll(c, -1, axis=0) - c, c.min(axis=0), c.max(axis=0))


def inside(poly: Polygon, pts: F64) -> NDArray[np.bool_]:
    """Whether each point (N, 2) = (x, y) is inside the polygon (even-odd rule)."""
    x, y = pts[:, 0:1], pts[:, 1:2]
    x0, y0 = poly.start[:, 0], poly.start[:, 1]
    dx, dy = poly.edge[:, 0], poly.edge[:, 1]
    crosses = (y0 > y) != (y0 + dy > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        at = x0 + (y - y0) * dx / dy
    hit: NDArray[np.bool_] = (crosses & (x < at)).sum(axis=1) % 2 == 1
    return hit


@dataclass(frozen=True, slots=True)
class Polygons:
    """Several polygons' edges stacked (``Polygons.of``), to test points against all at once."""

    start: F64
    edge: F64
    offsets: NDArray[np.intp]

    @staticmethod
    def of(polygons: Sequence[Polygon]) -> Polygons:
        sizes = [len(p.start) for p in polygons]
        offsets = np.cumsum([0, *sizes[:-1]]).astype(np.intp)
        return Polygons(
            np.concatenate([p.start for p in polygons]), np.concatenate([p.edge for p in polygons]), offsets
        )


def inside_many(polys: Polygons, pts: F64) -> NDArray[np.bool_]:
    """Whether each point (N, 2) = (x, y) is inside each polygon (even-odd rule): (Z, N)."""
    x, y = pts[:, 0:1], pts[:, 1:2]
    x0, y0 = polys.start[:, 0], polys.start[:, 1]
    dx, dy = polys.edge[:, 0], polys.edge[:, 1]
    crosses = (y0 > y) != (y0 + dy > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        at = x0 + (y - y0) * dx / dy
    hit: NDArray[np.bool_] = np.add.reduceat(crosses & (x < at), polys.offsets, axis=1).T % 2 == 1
    return hit


def border_distance(poly: Polygon, pts: F64) -> F64:
    """Each point's (N, 2) distance (N,) to the polygon's border, in their units."""
    a, d = poly.start[None, :, :], poly.edge[None, :, :]
    p = pts[:, None, :]
    t = np.clip(((p - a) * d).sum(axis=2) / np.maximum((d * d).sum(axis=2), 1e-18), 0.0, 1.0)
    out: F64 = np.sqrt((((a + t[:, :, None] * d) - p) ** 2).sum(axis=2)).min(axis=1)
    return out


def homography(image: F64, floor: F64) -> F64:
    """The 3 x 3 homography taking four picture points (4, 2) to four floor points (4, 2) (ValueError
    when three of either are on one line: no such mapping)."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(image, floor, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    for pts in (image, floor):
        for i in range(4):
            q = np.delete(pts, i, axis=0)
            (ax, ay), (bx, by) = q[1] - q[0], q[2] - q[0]
            if abs(ax * by - ay * bx) < 1e-9:
                raise ValueError("three of the four points are on one line")
    h = np.linalg.solve(np.array(rows, np.float64), np.array(rhs, np.float64))
    return np.append(h, 1.0).reshape(3, 3)


def project(h: F64, pts: F64) -> F64:
    """Points (N, 2) = (x, y) mapped through the homography ``h`` (3 x 3)."""
    q = pts @ h[:, :2].T + h[:, 2]
    out: F64 = q[:, :2] / q[:, 2:3]
    return out


#: Metres from the floor marks' centre the footprint reaches at most (``footprint``): the floor near
#: the horizon maps ever farther away, so the picture is cut short of it.
VIEW_REACH = 50.0
#: Floor coordinates are kept within +-this many metres (as the floor settings' marks are).
_FLOOR_LIMIT = 1000.0
_PICTURE = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])


def footprint(h: F64, image: F64, floor: F64, reach: float = VIEW_REACH) -> F64:
    """The floor the picture sees: the corners (N, 2) = (x, y) in metres, N 3..5 (0 when none), of
    the picture's rectangle 0..1 (from its top-left corner, clockwise in the picture) cut to the
    part below the horizon and mapped through ``h`` (picture 0..1 -> metres; ``image`` and
    ``floor``: its four marks (4, 2), 0..1 and metres).

    Below the horizon is where ``h``'s denominator w has the sign it has at the marks. The cut is one
    line (Sutherland-Hodgman on a half-plane) at w >= eps, eps chosen so that every corner is at
    most ``reach`` metres from the floor marks' centre: with (X', Y') = (X - cx w, Y - cy w), linear
    on the picture, a point's distance from the centre is |(X', Y')| / w, and |(X', Y')| is largest
    at a corner of the rectangle. Coordinates are then kept within +-1000 m."""
    centre = floor.mean(axis=0)
    shifted = np.array([[1, 0, -centre[0]], [0, 1, -centre[1]], [0, 0, 1]], np.float64) @ h
    marks_w = float(np.mean(image @ h[2, :2] + h[2, 2]))
    if not np.isfinite(shifted).all() or marks_w == 0.0:
        return np.zeros((0, 2))
    sign = 1.0 if marks_w > 0 else -1.0
    corners = np.c_[_PICTURE, np.ones(4)] @ shifted.T * sign  # (X', Y', w) at the rectangle's corners
    eps = max(float(np.hypot(corners[:, 0], corners[:, 1]).max()) / reach, 1e-12)
    kept = clip_half_plane(_PICTURE, corners[:, 2] - eps)
    if len(kept) < 3:
        return np.zeros((0, 2))
    out: F64 = np.clip(project(h, kept), -_FLOOR_LIMIT, _FLOOR_LIMIT)
    return out


def clip_half_plane(corners: F64, value: F64) -> F64:
    """The convex polygon ``corners`` (K, 2) cut to where the linear function whose values at the
    corners are ``value`` (K,) is >= 0 (Sutherland-Hodgman on one line): (M, 2), M <= K + 1."""
    out = []
    k = len(corners)
    for i in range(k):
        j = (i + 1) % k
        a, b = value[i], value[j]
        if a >= 0:
            out.append(corners[i])
        if (a > 0 > b) or (a < 0 < b):
            out.append(corners[i] + (a / (a - b)) * (corners[j] - corners[i]))
    return np.array(out, np.float64).reshape(len(out), 2)


class Measures:
    """One frame's people measured once for every stage that asks (``measure``): ``normal`` the
    keypoints in 0..1 of the picture (N, 17, 3) = (x, y, score), ``feet`` (N, 2) in 0..1, ``centres``
    (N, 2) and ``heights`` (N,) in source pixels; each computed on first use."""

    def __init__(self, poses: Poses) -> None:
        self.poses = poses
        self._normal: F32 | None = None
        self._feet: F32 | None = None
        self._centres: F32 | None = None
        self._heights: F32 | None = None

    @property
    def normal(self) -> F32:
        if self._normal is None:
            self._normal = self.poses.normalized()
        return self._normal

    @property
    def feet(self) -> F32:
        if self._feet is None:
            self._feet = feet(self.normal)
        return self._feet

    @property
    def centres(self) -> F32:
        if self._centres is None:
            self._centres = centres(self.poses.keypoints)
        return self._centres

    @property
    def heights(self) -> F32:
        if self._heights is None:
            self._heights = heights(self.poses.keypoints)
        return self._heights


_last: Measures | None = None


def measure(poses: Poses) -> Measures:
    """The ``Measures`` of these poses: the same object for every stage of one frame (a one-frame
    cache keyed on the keypoints array, which the stages after smoothing pass on unchanged)."""
    global _last
    last = _last
    if last is not None and last.poses.keypoints is poses.keypoints and last.poses.frame_size == poses.frame_size:
        return last
    _last = made = Measures(poses)
    return made
