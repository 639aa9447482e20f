"""The shared vocabulary: keypoints, skeleton edges and the Poses value passed downstream.

Coordinate conventions, stated once: PoseNet and ``appliance.pose.decode`` work in **(y, x)** model
input pixels; ``appliance.pose.geometry`` turns them into **(x, y)** and everything after it uses
(x, y) order, in source-image pixels or normalised 0..1 as each docstring says.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "DECODE_EDGES",
    "DRAW_EDGES",
    "KEYPOINT_NAMES",
    "NUM_KEYPOINTS",
    "Frame",
    "Keypoint",
    "Poses",
    "confident_boxes",
]


class Keypoint(IntEnum):
    """PoseNet / COCO keypoint ids, in the order of every keypoint axis in this package."""

    NOSE = 0
    LEFT_EYE = 1
    RIGHT_EYE = 2
    LEFT_EAR = 3
    RIGHT_EAR = 4
    LEFT_SHOULDER = 5
    RIGHT_SHOULDER = 6
    LEFT_ELBOW = 7
    RIGHT_ELBOW = 8
    LEFT_WRIST = 9
    RIGHT_WRIST = 10
    LEFT_HIP = 11
    RIGHT_HIP = 12
    LEFT_KNEE = 13
    RIGHT_KNEE = 14
    LEFT_ANKLE = 15
    RIGHT_ANKLE = 16


NUM_KEYPOINTS = 17

#: PoseNet's camelCase part names (tfjs, ml5.js, p5-poses-osc), index = Keypoint.
KEYPOINT_NAMES: tuple[str, ...] = (
    "nose",
    "leftEye",
    "rightEye",
    "leftEar",
    "rightEar",
    "leftShoulder",
    "rightShoulder",
    "leftElbow",
    "rightElbow",
    "leftWrist",
    "rightWrist",
    "leftHip",
    "rightHip",
    "leftKnee",
    "rightKnee",
    "leftAnkle",
    "rightAnkle",
)

_K = Keypoint
#: The 16 parent -> child decoding edges; index e is also the displacement channel (tfjs poseChain).
DECODE_EDGES: tuple[tuple[int, int], ...] = (
    (_K.NOSE, _K.LEFT_EYE),
    (_K.LEFT_EYE, _K.LEFT_EAR),
    (_K.NOSE, _K.RIGHT_EYE),
    (_K.RIGHT_EYE, _K.RIGHT_EAR),
    (_K.NOSE, _K.LEFT_SHOULDER),
    (_K.LEFT_SHOULDER, _K.LEFT_ELBOW),
    (_K.LEFT_ELBOW, _K.LEFT_WRIST),
    (_K.LEFT_SHOULDER, _K.LEFT_HIP),
    (_K.LEFT_HIP, _K.LEFT_KNEE),
    (_K.LEFT_KNEE, _K.LEFT_ANKLE),
    (_K.NOSE, _K.RIGHT_SHOULDER),
    (_K.RIGHT_SHOULDER, _K.RIGHT_ELBOW),
    (_K.RIGHT_ELBOW, _K.RIGHT_WRIST),
    (_K.RIGHT_SHOULDER, _K.RIGHT_HIP),
    (_K.RIGHT_HIP, _K.RIGHT_KNEE),
    (_K.RIGHT_KNEE, _K.RIGHT_ANKLE),
)

#: The 12 limbs drawn by tfjs ``connectedPartNames`` (no face edges).
DRAW_EDGES: tuple[tuple[int, int], ...] = (
    (_K.LEFT_HIP, _K.LEFT_SHOULDER),
    (_K.LEFT_ELBOW, _K.LEFT_SHOULDER),
    (_K.LEFT_ELBOW, _K.LEFT_WRIST),
    (_K.LEFT_HIP, _K.LEFT_KNEE),
    (_K.LEFT_KNEE, _K.LEFT_ANKLE),
    (_K.RIGHT_HIP, _K.RIGHT_SHOULDER),
    (_K.RIGHT_ELBOW, _K.RIGHT_SHOULDER),
    (_K.RIGHT_ELBOW, _K.RIGHT_WRIST),
    (_K.RIGHT_HIP, _K.RIGHT_KNEE),
    (_K.RIGHT_KNEE, _K.RIGHT_ANKLE),
    (_K.LEFT_SHOULDER, _K.RIGHT_SHOULDER),
    (_K.LEFT_HIP, _K.RIGHT_HIP),
)


@dataclass(frozen=True, slots=True)
class Frame:
    """One captured image: ``image`` is (H, W, 3) uint8 RGB, C-contiguous.

    ``index`` increases per source; ``t_capture`` is ``time.monotonic()`` seconds at capture and
    ``t_wall`` the matching ``time.time()`` (for OSC timetags). ``scene`` changes where the source
    cuts to another scene (the next photo of a slideshow, a video starting over): nobody seen before
    a cut is the same person after it. ``render``, when set, gives the picture to show instead of
    ``image`` (computed only when someone asks to see it: a replay's recorded video); it may raise.
    """

    image: NDArray[np.uint8]
    index: int
    t_capture: float
    t_wall: float
    scene: int = 0
    render: Callable[[], NDArray[np.uint8] | None] | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.image.shape[1]), int(self.image.shape[0])


def _empty_keypoints() -> NDArray[np.float32]:
    return np.zeros((0, NUM_KEYPOINTS, 3), np.float32)


def _empty_scores() -> NDArray[np.float32]:
    return np.zeros((0,), np.float32)


def _empty_ids() -> NDArray[np.int32]:
    return np.zeros((0,), np.int32)


@dataclass(frozen=True, slots=True)
class Poses:
    """Every person found in one frame, most prominent first.

    ``keypoints`` is float32 (N, 17, 3), last axis **(x, y, score)** with x, y in **source-image
    pixels** (origin top-left, y down) and score in [0, 1]. ``scores`` is float32 (N,) pose scores,
    ``ids`` int32 (N,) stable person ids (-1 until tracked). ``frame_size`` is (width, height) of
    the source image. Nobody seen means N = 0, never None. ``entered`` and ``left`` (int32 ids) are
    this frame's events: people confirmed for the first time, and people gone for longer than the
    tracker's grace time or cut away from (filled in by the tracking stage). ``scene`` is the frame's
    (``Frame.scene``). ``extras``: what stages with messages of their own computed for this frame,
    by stage name (``appliance.stages``); their OSC encoders read it. ``tracked``: the source gave
    the ids and events itself (the hub's global ids), and the tracking stage keeps them.
    """

    keypoints: NDArray[np.float32] = field(default_factory=_empty_keypoints)
    scores: NDArray[np.float32] = field(default_factory=_empty_scores)
    ids: NDArray[np.int32] = field(default_factory=_empty_ids)
    frame_size: tuple[int, int] = (0, 0)
    frame_index: int = 0
    t_capture: float = 0.0
    t_wall: float = 0.0
    entered: NDArray[np.int32] = field(default_factory=_empty_ids)
    left: NDArray[np.int32] = field(default_factory=_empty_ids)
    scene: int = 0
    extras: Mapping[str, Any] = field(default_factory=dict)
    tracked: bool = False  # ids, entered and left are the source's own (a hub's global ids): kept

    def __len__(self) -> int:
        return int(self.keypoints.shape[0])

    def normalized(self) -> NDArray[np.float32]:
        """Keypoints (N, 17, 3) as (x, y, score) with x, y divided by the frame size (0..1)."""
        w, h = self.frame_size
        out = self.keypoints.copy()
        if w and h:
            out[:, :, 0] /= w
            out[:, :, 1] /= h
        return out


def confident_boxes(kp: NDArray[np.float32], min_score: float) -> NDArray[np.float32]:
    """Each pose's extent: the box (N, 4) = (x0, y0, x1, y1) of the (x, y) of its keypoints scoring
    at least ``min_score``, or of all 17 when fewer than two do (a box or a size needs two points).
    ``kp`` is (N, 17, 3) = (x, y, score); the box is in its units. For the bounding box, a person's
    size and their scale."""
    used = kp[:, :, 2] >= min_score
    used |= (used.sum(axis=1) < 2)[:, None]
    xy = kp[:, :, :2].transpose(0, 2, 1)  # (N, 2, 17): the reduction runs along the last axis
    # One minimum gives both corners: the far one as the minimum of the negated points (exact).
    corners = np.where(used[:, None, :], np.concatenate((xy, -xy), axis=1), np.float32(np.inf)).min(axis=2)
    corners[:, 2:] = -corners[:, 2:]
    out: NDArray[np.float32] = corners
    return out
