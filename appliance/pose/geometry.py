"""The one place where PoseNet's (y, x) model-input pixels become (x, y) source-image pixels."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from appliance.pose.decode import DecodedPoses

__all__ = ["to_source_xy"]


def to_source_xy(
    decoded: DecodedPoses, input_size: tuple[int, int], frame_size: tuple[int, int]
) -> NDArray[np.float32]:
    """Map decoded keypoints to the source image.

    Args:
        decoded: keypoints in **(y, x)** model-input pixels.
        input_size: model input as (height, width).
        frame_size: source image as (width, height).

    Returns:
        float32 (N, 17, 3) = **(x, y, score)** in source-image pixels, clamped to [0, width] and
        [0, height]. The image was stretched to the input, so each axis scales on its own.
    """
    h_in, w_in = input_size
    width, height = frame_size
    out = np.empty((len(decoded), decoded.yx.shape[1], 3), np.float32)
    out[:, :, 0] = np.clip(decoded.yx[:, :, 1] * np.float32(width / w_in), 0, width)
    out[:, :, 1] = np.clip(decoded.yx[:, :, 0] * np.float32(height / h_in), 0, height)
    out[:, :, 2] = decoded.keypoint_scores
    return out
