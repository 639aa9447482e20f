"""Stable person ids across frames: greedy matching on mean keypoint distance. Pure given inputs."""

from __future__ import annotations

import dataclasses

import numpy as np
from numpy.typing import NDArray

from appliance.types import Poses

__all__ = ["Tracker"]


class Tracker:
    """A PoseStage: gives each person the id they had in a recent frame, or a new one.

    Distances are mean (x, y) distances of keypoints confident in both poses, in normalised
    coordinates (0..1 on each axis); a pair matches below ``max_distance``. A person unseen for ``max_age`` frames is
    forgotten. Ids are small non-negative integers, increasing.
    """

    name = "tracking"

    def __init__(self, max_distance: float = 0.08, max_age: int = 15, min_keypoint_score: float = 0.3) -> None:
        self.max_distance = max_distance
        self.max_age = max_age
        self.min_score = min_keypoint_score
        self._next = 0
        self.reset()

    def reset(self) -> None:
        """Forget everyone seen (ids keep increasing: an id is never reused)."""
        self._kp = np.zeros((0, 17, 3), np.float32)  # normalised (x, y, score)
        self._ids = np.zeros((0,), np.int32)
        self._age = np.zeros((0,), np.int32)

    def __call__(self, poses: Poses) -> Poses:
        """Same as ``update``."""
        return self.update(poses)

    def update(self, poses: Poses) -> Poses:
        """Poses with ``ids`` filled in (a new value; the input is not changed)."""
        n = len(poses)
        kp = poses.normalized()
        ids = np.full(n, -1, np.int32)
        if n and len(self._ids):
            cost = self._cost(kp, self._kp)
            for flat in np.argsort(cost, axis=None):
                i, j = divmod(int(flat), cost.shape[1])
                if cost[i, j] > self.max_distance:
                    break
                if ids[i] == -1 and self._ids[j] not in ids:
                    ids[i] = self._ids[j]
        for i in np.flatnonzero(ids == -1):
            ids[i] = self._next
            self._next += 1
        # Remember matched and new people; age out the rest.
        keep = ~np.isin(self._ids, ids) & (self._age + 1 < self.max_age)
        self._kp = np.concatenate([kp, self._kp[keep]])
        self._ids = np.concatenate([ids, self._ids[keep]])
        self._age = np.concatenate([np.zeros(n, np.int32), self._age[keep] + 1])
        return dataclasses.replace(poses, ids=ids)

    def _cost(self, a: NDArray[np.float32], b: NDArray[np.float32]) -> NDArray[np.float32]:
        d = np.linalg.norm(a[:, None, :, :2] - b[None, :, :, :2], axis=3)  # (n, m, 17)
        both = (a[:, None, :, 2] >= self.min_score) & (b[None, :, :, 2] >= self.min_score)
        counts = both.sum(axis=2)
        mean = np.where(counts > 0, (d * both).sum(axis=2) / np.maximum(counts, 1), np.inf)
        out: NDArray[np.float32] = mean.astype(np.float32)
        return out
