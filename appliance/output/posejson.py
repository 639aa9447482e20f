"""Poses as JSON, the one way: for the HTTP API, the live stream and ``detect``."""

from __future__ import annotations

from typing import Any

from appliance.output.osc.base import Coords
from appliance.types import KEYPOINT_NAMES, Poses

__all__ = ["poses_to_json"]


def poses_to_json(poses: Poses, coords: Coords = "normalized") -> dict[str, Any]:
    """One frame as JSON: ``frame``, ``width``, ``height``, ``time`` (Unix seconds of capture),
    ``names`` (PoseNet part names) and ``poses``, best first, each ``{"id", "score", "keypoints"}``
    with keypoints as **[x, y, score]** lists in PoseNet order: 0..1 of the frame (``normalized``,
    4 decimals) or source pixels (``pixels``, 2 decimals)."""
    kp = poses.normalized() if coords == "normalized" else poses.keypoints
    digits = 4 if coords == "normalized" else 2
    n = len(poses)
    ids = poses.ids.tolist() if poses.ids.shape[0] == n else [-1] * n
    return {
        "frame": poses.frame_index,
        "width": poses.frame_size[0],
        "height": poses.frame_size[1],
        "time": poses.t_wall,
        "poses": [
            {
                "id": int(ids[i]),
                "score": round(float(poses.scores[i]), 4),
                "keypoints": [[round(x, digits), round(y, digits), round(s, 4)] for x, y, s in kp[i].tolist()],
            }
            for i in range(n)
        ],
        "names": list(KEYPOINT_NAMES),
    }
