"""One Euro smoothing of keypoint positions, per tracked person (Casiez, Roussel and Vogel, CHI 2012;
the filter MediaPipe and TouchDesigner use).

Each keypoint coordinate goes through a low-pass filter whose cutoff rises with its speed: still,
the cutoff is ``min_cutoff`` (Hz) and jitter is filtered away; moving, it is ``min_cutoff + beta *
speed`` and the position follows with little lag. Speed is measured in **person heights per
second** (the person's keypoint bounding box), so the same settings suit people near and far and
any camera resolution. Time steps come from the frames' capture times, so the filter is right at
any frame rate, also a varying one.

* A person's filter starts fresh when their id is new, and is dropped when they leave.
* Scores are never smoothed: a keypoint whose score drops below ``min_keypoint_score`` is passed
  through as it is (position and score). Back within ``MAX_GAP`` it continues its filter (a
  one-frame dip does not make it jump); back after longer, its filter starts where it reappears.

Positions are **source pixels (x, y)**. Runs on the "send" thread after tracking.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from numpy.typing import NDArray

from appliance.pose.params import SmoothingConfig
from appliance.types import NUM_KEYPOINTS, Poses, confident_xy

__all__ = ["OneEuro", "Smoother", "alpha"]

#: The smallest person height (source pixels) speeds are scaled by.
MIN_SCALE = 16.0
#: A keypoint weak or missing for at most this long (seconds) continues its filter when it comes back;
#: after longer it starts afresh where it reappears.
MAX_GAP = 0.5


def alpha(cutoff: NDArray[np.float64] | float, dt: NDArray[np.float64] | float) -> NDArray[np.float64]:
    """Smoothing factor of a first-order low-pass at ``cutoff`` Hz for a step of ``dt`` seconds."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, np.float64))
    out: NDArray[np.float64] = 1.0 / (1.0 + tau / dt)
    return out


class OneEuro:
    """The filter state of one person: 17 keypoints x (x, y), each on its own clock."""

    def __init__(self) -> None:
        self.x = np.zeros((NUM_KEYPOINTS, 2), np.float64)  # filtered position
        self.dx = np.zeros((NUM_KEYPOINTS, 2), np.float64)  # filtered speed, person heights / s
        self.t = np.zeros(NUM_KEYPOINTS, np.float64)  # capture time of each keypoint's last update
        self.live = np.zeros(NUM_KEYPOINTS, bool)  # which keypoints have a state
        self.scale = 0.0

    def __call__(self, kp: NDArray[np.float32], t: float, cfg: SmoothingConfig) -> NDArray[np.float32]:
        """One pose (17, 3) = (x, y, score) in source pixels, smoothed (a new array)."""
        raw = kp[:, :2].astype(np.float64)
        ok = kp[:, 2] >= cfg.min_keypoint_score
        height = _height(kp, cfg.min_keypoint_score)
        self.scale = height if self.scale == 0.0 else 0.8 * self.scale + 0.2 * height
        dt = t - self.t
        go = ok & self.live & (dt > 0.0) & (dt <= MAX_GAP)  # continue: seen within MAX_GAP
        if go.any():
            step = dt[go][:, None]
            speed = (raw[go] - self.x[go]) / step / self.scale
            self.dx[go] += alpha(cfg.d_cutoff, step) * (speed - self.dx[go])
            cutoff = cfg.min_cutoff + cfg.beta * np.abs(self.dx[go])
            self.x[go] += alpha(cutoff, step) * (raw[go] - self.x[go])
        fresh = ok & ~go & ~(self.live & (dt <= 0.0))  # new, back after a long gap (a same-time repeat keeps)
        self.x[fresh], self.dx[fresh] = raw[fresh], 0.0
        self.t[go | fresh] = t
        self.live |= fresh
        self.live &= ok | (t - self.t <= MAX_GAP)  # forget keypoints gone for longer
        out = kp.copy()
        out[ok, :2] = self.x[ok].astype(np.float32)  # a weak keypoint is reported as it is
        return out


def _height(kp: NDArray[np.float32], min_score: float) -> float:
    pts = confident_xy(kp, min_score)
    span = pts.max(axis=0) - pts.min(axis=0)
    return max(float(span.max()), MIN_SCALE)


class Smoother:
    """A PoseStage: One Euro filtering per tracked person (by id); off when ``enabled`` is false."""

    name = "smoothing"

    def __init__(self, config: SmoothingConfig | None = None) -> None:
        self.config = config if config is not None else SmoothingConfig()
        self._filters: dict[int, OneEuro] = {}

    def reset(self) -> None:
        """Forget every filter state."""
        self._filters = {}

    def __call__(self, poses: Poses) -> Poses:
        """Poses with smoothed positions (scores unchanged); a new value."""
        cfg = self.config
        for gone in poses.left.tolist():
            self._filters.pop(gone, None)
        if not cfg.enabled:
            self._filters = {}
            return poses
        if not len(poses):
            return poses
        out = poses.keypoints.copy()
        for i, pid in enumerate(poses.ids.tolist()):
            if pid < 0:
                continue
            f = self._filters.get(pid)
            if f is None:
                f = self._filters[pid] = OneEuro()
            out[i] = f(poses.keypoints[i], poses.t_capture, cfg)
        return dataclasses.replace(poses, keypoints=out)
