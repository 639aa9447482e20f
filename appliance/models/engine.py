"""PoseEngine: image in, Poses out, for one loaded model of any family.

The three steps run on three pipeline threads, each on a different frame: ``prepare`` ("prepare":
fit and resize), ``run_model`` ("process": the backend only) and ``poses_from`` ("send": decode to
source pixels). They share only the model (whose contract allows that) and ``params``, which is
replaced whole, never changed in place. Timing is the caller's business: nothing is stored here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from appliance.models.base import PoseModel
from appliance.pose.geometry import InputTransform
from appliance.pose.params import DecoderConfig
from appliance.pose.preprocess import transform_image
from appliance.types import Poses

__all__ = ["DecoderParams", "PoseEngine"]

#: The decoder settings the engine takes: the configuration's own section (one set of defaults).
DecoderParams = DecoderConfig


class PoseEngine:
    """Runs one model with one decoder configuration."""

    def __init__(self, model: PoseModel, params: DecoderConfig | None = None, resample: str = "bilinear") -> None:
        self.model = model
        self.params = params if params is not None else DecoderConfig()
        self.resample = resample

    @property
    def input_size(self) -> tuple[int, int]:
        """Model input as (height, width)."""
        return self.model.info.input_size

    def prepare(self, image: NDArray[np.uint8]) -> tuple[NDArray[np.uint8], InputTransform]:
        """(H, W, 3) uint8 RGB -> the (1, h_in, w_in, 3) input tensor and how it was fitted."""
        transform = self.model.input_transform((int(image.shape[1]), int(image.shape[0])))
        return transform_image(image, transform, self.resample), transform

    def run_model(self, tensor: NDArray[np.uint8]) -> Any:
        """Only the backend: input tensor -> the model's raw outputs."""
        return self.model.infer(tensor)

    def poses_from(
        self,
        raw: Any,
        transform: InputTransform,
        *,
        frame_index: int = 0,
        t_capture: float = 0.0,
        t_wall: float = 0.0,
        scene: int = 0,
    ) -> Poses:
        """Decode raw outputs to Poses with (x, y, score) keypoints in source-image pixels."""
        decoded = self.model.decode(raw, transform, self.params)
        n = int(decoded.scores.shape[0])
        return Poses(
            keypoints=decoded.keypoints,
            scores=decoded.scores,
            ids=np.full(n, -1, np.int32),
            frame_size=transform.frame_size,
            frame_index=frame_index,
            t_capture=t_capture,
            t_wall=t_wall,
            scene=scene,
        )

    def process(
        self, image: NDArray[np.uint8], *, frame_index: int = 0, t_capture: float = 0.0, t_wall: float = 0.0
    ) -> Poses:
        """(H, W, 3) uint8 RGB -> Poses with (x, y, score) keypoints in source-image pixels."""
        tensor, transform = self.prepare(image)
        raw = self.run_model(tensor)
        return self.poses_from(raw, transform, frame_index=frame_index, t_capture=t_capture, t_wall=t_wall)
