"""Source image <-> model input: the one place where (y, x) model-input pixels become (x, y) source pixels.

``InputTransform`` says how a source frame was fitted to the model input (stretched, or letterboxed
keeping its aspect ratio, optionally after cropping a region): input = source * scale + offset, per
axis. Decoders report keypoints in model-input pixels in **(y, x)** order (PoseNet's, and MoveNet's
once scaled); ``to_source_xy`` maps them back to **(x, y)** source pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from appliance.pose.decode import DecodedPoses

__all__ = ["InputTransform", "to_source_xy"]


@dataclass(frozen=True, slots=True)
class InputTransform:
    """Source pixels (x, y) -> model input pixels: ``x_in = x * scale[0] + offset[0]`` (same for y).

    ``frame_size`` is the source (width, height); ``input_size`` the model input (height, width).
    """

    frame_size: tuple[int, int]
    input_size: tuple[int, int]
    scale: tuple[float, float]
    offset: tuple[float, float] = (0.0, 0.0)

    @classmethod
    def stretch(cls, frame_size: tuple[int, int], input_size: tuple[int, int]) -> InputTransform:
        """The whole frame stretched to the whole input (each axis on its own, as Coral's examples do)."""
        w, h = frame_size
        h_in, w_in = input_size
        return cls(frame_size, input_size, (w_in / max(w, 1), h_in / max(h, 1)))

    @classmethod
    def letterbox(
        cls,
        frame_size: tuple[int, int],
        input_size: tuple[int, int],
        region: tuple[float, float, float, float] | None = None,
    ) -> InputTransform:
        """``region`` (x0, y0, x1, y1 source pixels; default the whole frame) scaled to fit the input
        keeping its aspect ratio, centred, the rest padded (Google's MoveNet examples)."""
        w, h = frame_size
        x0, y0, x1, y1 = region if region is not None else (0.0, 0.0, float(w), float(h))
        h_in, w_in = input_size
        s = min(w_in / max(x1 - x0, 1e-6), h_in / max(y1 - y0, 1e-6))
        pad_x = (w_in - (x1 - x0) * s) / 2
        pad_y = (h_in - (y1 - y0) * s) / 2
        return cls(frame_size, input_size, (s, s), (pad_x - x0 * s, pad_y - y0 * s))

    @property
    def is_stretch(self) -> bool:
        """True when the whole frame fills the whole input (no padding, no crop)."""
        return self == InputTransform.stretch(self.frame_size, self.input_size)

    def to_source(self, yx: NDArray[np.float32]) -> NDArray[np.float32]:
        """(..., 2) **(y, x)** model-input pixels -> (..., 2) **(x, y)** source pixels, clamped to
        [0, width] x [0, height]."""
        w, h = self.frame_size
        out = np.empty(yx.shape, np.float32)
        out[..., 0] = np.clip((yx[..., 1] - np.float32(self.offset[0])) / np.float32(self.scale[0]), 0, w)
        out[..., 1] = np.clip((yx[..., 0] - np.float32(self.offset[1])) / np.float32(self.scale[1]), 0, h)
        return out


def to_source_xy(
    decoded: DecodedPoses,
    input_size: tuple[int, int],
    frame_size: tuple[int, int],
    transform: InputTransform | None = None,
) -> NDArray[np.float32]:
    """Map decoded keypoints to the source image.

    Args:
        decoded: keypoints in **(y, x)** model-input pixels.
        input_size: model input as (height, width).
        frame_size: source image as (width, height).
        transform: how the frame was fitted to the input; default: stretched.

    Returns:
        float32 (N, 17, 3) = **(x, y, score)** in source-image pixels, clamped to [0, width] and
        [0, height].
    """
    t = transform or InputTransform.stretch(frame_size, input_size)
    out = np.empty((len(decoded), decoded.yx.shape[1], 3), np.float32)
    out[:, :, :2] = t.to_source(decoded.yx)
    out[:, :, 2] = decoded.keypoint_scores
    return out
