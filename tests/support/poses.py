"""Poses with known values, for the encoders and the senders."""

from __future__ import annotations

import numpy as np

from appliance.types import Poses

__all__ = ["T_WALL", "sample_poses"]

#: The wall-clock time (Unix seconds) of ``sample_poses``' frame.
T_WALL = 1_700_000_000.25


def sample_poses(n: int = 2, size: tuple[int, int] = (640, 480)) -> Poses:
    """Deterministic poses: keypoint k of person i at (10k + i, 20k + 2i) px with score k/16."""
    k = np.arange(17, dtype=np.float32)
    kp = (
        np.stack([np.stack([10 * k + i, 20 * k + 2 * i, k / 16], axis=1) for i in range(n)])
        .astype(np.float32)
        .reshape(n, 17, 3)
    )
    scores = np.array([0.9 - 0.1 * i for i in range(n)], np.float32)
    return Poses(kp, scores, np.arange(n, dtype=np.int32) + 7, size, frame_index=42, t_capture=1.0, t_wall=T_WALL)
