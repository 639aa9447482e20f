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
from appliance.types import NUM_KEYPOINTS, Poses, confident_boxes

__all__ = ["Smoother", "alpha"]

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


class _Filters:
    """The filter states of every tracked person, one row each (structure of arrays, so that a frame's
    people are filtered in a few numpy calls, not a loop): 17 keypoints x (x, y), each keypoint on
    its own clock. Rows of people who left are reused."""

    def __init__(self) -> None:
        self.rows: dict[int, int] = {}  # person id -> row
        self.free: list[int] = []
        self.x = np.zeros((0, NUM_KEYPOINTS, 2), np.float64)  # filtered position
        self.dx = np.zeros((0, NUM_KEYPOINTS, 2), np.float64)  # filtered speed, person heights / s
        self.t = np.zeros((0, NUM_KEYPOINTS), np.float64)  # capture time of each keypoint's last update
        self.live = np.zeros((0, NUM_KEYPOINTS), bool)  # which keypoints have a state
        self.scale = np.zeros(0, np.float64)  # person height (source pixels), smoothed; 0: none yet

    def row(self, pid: int) -> int:
        """The row of person ``pid``, a fresh one (no state) for a new person."""
        r = self.rows.get(pid)
        if r is not None:
            return r
        if not self.free:
            grow = max(8, len(self.scale))
            self.x = np.concatenate((self.x, np.zeros((grow, NUM_KEYPOINTS, 2))))
            self.dx = np.concatenate((self.dx, np.zeros((grow, NUM_KEYPOINTS, 2))))
            self.t = np.concatenate((self.t, np.zeros((grow, NUM_KEYPOINTS))))
            self.live = np.concatenate((self.live, np.zeros((grow, NUM_KEYPOINTS), bool)))
            self.free = list(range(len(self.scale) + grow - 1, len(self.scale) - 1, -1))
            self.scale = np.concatenate((self.scale, np.zeros(grow)))
        r = self.rows[pid] = self.free.pop()
        self.x[r], self.dx[r], self.t[r], self.live[r], self.scale[r] = 0.0, 0.0, 0.0, False, 0.0
        return r

    def drop(self, pid: int) -> None:
        """Forget person ``pid`` (gone)."""
        r = self.rows.pop(pid, None)
        if r is not None:
            self.free.append(r)

    def __call__(self, rows: list[int], kp: NDArray[np.float32], t: float, cfg: SmoothingConfig) -> NDArray[np.float32]:
        """The poses ``kp`` (N, 17, 3) = (x, y, score) in source pixels of the people in ``rows``
        (distinct), captured at ``t``, smoothed (a new array)."""
        r = np.array(rows, np.intp)
        raw = kp[:, :, :2].astype(np.float64)
        ok = kp[:, :, 2] >= cfg.min_keypoint_score
        height = _heights(kp, cfg.min_keypoint_score)
        old = self.scale[r]
        scale = np.where(old == 0.0, height, 0.8 * old + 0.2 * height)
        x, dx, seen, live = self.x[r], self.dx[r], self.t[r], self.live[r]
        dt = t - seen
        go = ok & live & (dt > 0.0) & (dt <= MAX_GAP)  # continue: seen within MAX_GAP
        # Every keypoint is computed (a step of 1 s where it does not continue, so nothing divides by
        # 0) and only the continuing ones kept: the same operations, element for element, as on them alone.
        step = np.where(go, dt, 1.0)[:, :, None]
        speed = (raw - x) / step / scale[:, None, None]
        moved = dx + alpha(cfg.d_cutoff, step) * (speed - dx)
        cutoff = cfg.min_cutoff + cfg.beta * np.abs(moved)
        keep = go[:, :, None]
        dx = np.where(keep, moved, dx)
        x = np.where(keep, x + alpha(cutoff, step) * (raw - x), x)
        fresh = ok & ~go & ~(live & (dt <= 0.0))  # new, back after a long gap (a same-time repeat keeps)
        x = np.where(fresh[:, :, None], raw, x)
        dx = np.where(fresh[:, :, None], 0.0, dx)
        seen = np.where(go | fresh, t, seen)
        live = (live | fresh) & (ok | (t - seen <= MAX_GAP))  # forget keypoints gone for longer
        self.x[r], self.dx[r], self.t[r], self.live[r], self.scale[r] = x, dx, seen, live, scale
        out = kp.copy()
        out[:, :, :2] = np.where(ok[:, :, None], x.astype(np.float32), kp[:, :, :2])  # a weak one as it is
        return out


def _heights(kp: NDArray[np.float32], min_score: float) -> NDArray[np.float64]:
    """Per pose of (N, 17, 3) (x, y, score), the larger side of the box of its keypoints scoring at
    least ``min_score`` (``confident_boxes``), at least MIN_SCALE: the person's size in source pixels."""
    box = confident_boxes(kp, min_score)
    span = box[:, 2:] - box[:, :2]
    out: NDArray[np.float64] = np.maximum(span.max(axis=1).astype(np.float64), MIN_SCALE)
    return out


class Smoother:
    """A PoseStage: One Euro filtering per tracked person (by id); off when ``enabled`` is false."""

    name = "smoothing"

    def __init__(self, config: SmoothingConfig | None = None) -> None:
        self.config = config if config is not None else SmoothingConfig()
        self._filters = _Filters()

    def reset(self) -> None:
        """Forget every filter state."""
        self._filters = _Filters()

    def __call__(self, poses: Poses) -> Poses:
        """Poses with smoothed positions (scores unchanged); a new value."""
        cfg = self.config
        for gone in poses.left.tolist():
            self._filters.drop(gone)
        if not cfg.enabled:
            self._filters = _Filters()
            return poses
        if not len(poses):
            return poses
        out = poses.keypoints.copy()
        todo = [i for i, pid in enumerate(poses.ids.tolist()) if pid >= 0]
        while todo:  # in batches of distinct people (a tracker never repeats an id in a frame)
            batch: dict[int, int] = {}
            for i in todo:
                batch.setdefault(int(poses.ids[i]), i)
            rows = [self._filters.row(pid) for pid in batch]
            index = list(batch.values())
            out[index] = self._filters(rows, poses.keypoints[index], poses.t_capture, cfg)
            todo = [i for i in todo if i not in index]
        return dataclasses.replace(poses, keypoints=out)
