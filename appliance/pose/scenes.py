"""Synthetic pose sequences with known identities: people walking, crossing, hidden for a while.

They feed the tracking and smoothing stages directly (no model), for the ``bench ids`` benchmark
and the tests: every person's true id is known, so id switches and fragmentations can be counted.
Keypoints are **source pixels (x, y)**, frame 640 x 480 unless given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from appliance.types import NUM_KEYPOINTS, Poses

__all__ = ["Walker", "far_away", "scene", "skeleton"]

#: A standing person 200 px tall, centred on the hips' midpoint: (x, y) offsets in PoseNet order.
_TEMPLATE = np.array(
    [
        (0, -100), (6, -106), (-6, -106), (14, -102), (-14, -102),  # nose, eyes, ears
        (24, -76), (-24, -76), (32, -40), (-32, -40), (36, -6), (-36, -6),  # shoulders, elbows, wrists
        (14, 0), (-14, 0), (16, 48), (-16, 48), (16, 96), (-16, 96),  # hips, knees, ankles
    ],
    np.float32,
)  # fmt: skip


def skeleton(x: float, y: float, height: float = 200.0, score: float = 0.9) -> NDArray[np.float32]:
    """One pose (17, 3) = (x, y, score), hips' midpoint at (x, y) source pixels, ``height`` px tall."""
    out = np.empty((NUM_KEYPOINTS, 3), np.float32)
    out[:, :2] = _TEMPLATE * np.float32(height / 200.0) + np.array([x, y], np.float32)
    out[:, 2] = score
    return out


@dataclass(frozen=True, slots=True)
class Walker:
    """A person moving in a straight line: at frame f, at ``start + f * step`` (source pixels),
    hidden during the frames in ``hidden`` (half-open ranges)."""

    true_id: int
    start: tuple[float, float]
    step: tuple[float, float]
    height: float = 200.0
    hidden: tuple[tuple[int, int], ...] = ()

    def at(self, frame: int) -> tuple[float, float] | None:
        if any(a <= frame < b for a, b in self.hidden):
            return None
        return self.start[0] + frame * self.step[0], self.start[1] + frame * self.step[1]


def scene(
    walkers: Sequence[Walker],
    frames: int,
    fps: float = 15.0,
    noise_px: float = 1.5,
    seed: int = 0,
    size: tuple[int, int] = (640, 480),
) -> tuple[list[Poses], list[list[int]]]:
    """The frames' poses (visible people, in a shuffled order, with Gaussian keypoint noise of
    ``noise_px``) and, per frame, the true id of each pose in that order."""
    rng = np.random.default_rng(seed)
    out: list[Poses] = []
    truth: list[list[int]] = []
    for f in range(frames):
        visible = [(w, w.at(f)) for w in walkers]
        shown = [(w, p) for w, p in visible if p is not None]
        order = rng.permutation(len(shown))
        kps = [skeleton(shown[i][1][0], shown[i][1][1], height=shown[i][0].height) for i in order]
        for kp in kps:
            kp[:, :2] += rng.normal(0.0, noise_px, (NUM_KEYPOINTS, 2)).astype(np.float32)
        keypoints = np.stack(kps) if kps else np.zeros((0, NUM_KEYPOINTS, 3), np.float32)
        n = len(kps)
        out.append(
            Poses(
                keypoints=keypoints,
                scores=np.full(n, 0.9, np.float32),
                ids=np.full(n, -1, np.int32),
                frame_size=size,
                frame_index=f,
                t_capture=1000.0 + f / fps,
                t_wall=1_700_000_000.0 + f / fps,
            )
        )
        truth.append([shown[i][0].true_id for i in order])
    return out, truth


def far_away(
    image: NDArray[np.uint8], factor: int = 4, canvas: tuple[int, int] = (1600, 1200), at: tuple[int, int] = (700, 600)
) -> NDArray[np.uint8]:
    """A distant performer: ``image`` ((H, W, 3) uint8 RGB) shrunk by ``factor`` and pasted with its
    top-left corner at ``at`` ((x, y) pixels) of a light grey ``canvas`` ((width, height)). A point
    (x, y) of ``image`` lands at (x / factor + at[0], y / factor + at[1])."""
    from PIL import Image

    photo = Image.fromarray(image)
    small = photo.resize((photo.width // factor, photo.height // factor), Image.Resampling.LANCZOS)
    frame = Image.new("RGB", canvas, (235, 235, 235))
    frame.paste(small, at)
    return np.asarray(frame)
