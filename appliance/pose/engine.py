"""PoseEngine: image in, Poses out. Preprocess, infer, decode, map back; times each stage."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from appliance.inference.base import InferenceBackend
from appliance.pose.decode import DecodedPoses, decode_multi, decode_single, warm_up
from appliance.pose.geometry import to_source_xy
from appliance.pose.heads import RawHeads
from appliance.pose.preprocess import to_input_tensor
from appliance.types import Poses

__all__ = ["DecoderParams", "PoseEngine", "StageTimes"]


@dataclass(frozen=True, slots=True)
class DecoderParams:
    """Decoder settings: ``mode`` "multi" or "single"; radius in model-input pixels."""

    mode: str = "multi"
    max_poses: int = 10
    min_pose_score: float = 0.2
    nms_radius: float = 10.0


@dataclass(frozen=True, slots=True)
class StageTimes:
    """Seconds spent in each stage of the last frame."""

    preprocess: float = 0.0
    inference: float = 0.0
    decode: float = 0.0


class PoseEngine:
    """Runs one backend with one decoder configuration; not thread-safe (one process thread)."""

    def __init__(
        self, backend: InferenceBackend, params: DecoderParams | None = None, resample: str = "bilinear"
    ) -> None:
        self.backend = backend
        self.params = params or DecoderParams()
        self.resample = resample
        self.last_times = StageTimes()
        warm_up()

    @property
    def input_size(self) -> tuple[int, int]:
        """Model input as (height, width)."""
        return self.backend.info.input_size

    def decode(self, heads: RawHeads) -> DecodedPoses:
        """Decode heads with this engine's parameters (poses in (y, x) model-input pixels)."""
        p = self.params
        if p.mode == "single":
            return decode_single(heads)
        return decode_multi(heads, max_poses=p.max_poses, score_threshold=p.min_pose_score, nms_radius=p.nms_radius)  # type: ignore[arg-type]

    def prepare(self, image: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """(H, W, 3) uint8 RGB -> the (1, h_in, w_in, 3) input tensor (thread-safe, pure)."""
        return to_input_tensor(image, self.input_size, self.resample)

    def process(
        self, image: NDArray[np.uint8], *, frame_index: int = 0, t_capture: float = 0.0, t_wall: float = 0.0
    ) -> Poses:
        """(H, W, 3) uint8 RGB -> Poses with (x, y, score) keypoints in source-image pixels."""
        t0 = time.perf_counter()
        tensor = self.prepare(image)
        prep = time.perf_counter() - t0
        frame_size = (int(image.shape[1]), int(image.shape[0]))
        poses = self.infer(tensor, frame_size, frame_index=frame_index, t_capture=t_capture, t_wall=t_wall)
        self.last_times = StageTimes(prep, self.last_times.inference, self.last_times.decode)
        return poses

    def infer(
        self,
        tensor: NDArray[np.uint8],
        frame_size: tuple[int, int],
        *,
        frame_index: int = 0,
        t_capture: float = 0.0,
        t_wall: float = 0.0,
    ) -> Poses:
        """Input tensor -> Poses in the pixels of a source frame of ``frame_size`` (width, height)."""
        heads = self.run_model(tensor)
        return self.poses_from(heads, frame_size, frame_index=frame_index, t_capture=t_capture, t_wall=t_wall)

    def run_model(self, tensor: NDArray[np.uint8]) -> RawHeads:
        """Only the backend: input tensor -> dequantised heads (times ``inference``)."""
        t0 = time.perf_counter()
        heads = self.backend.infer(tensor)
        self.last_times = StageTimes(self.last_times.preprocess, time.perf_counter() - t0, self.last_times.decode)
        return heads

    def poses_from(
        self,
        heads: RawHeads,
        frame_size: tuple[int, int],
        *,
        frame_index: int = 0,
        t_capture: float = 0.0,
        t_wall: float = 0.0,
    ) -> Poses:
        """Decode heads and map them to source pixels (times ``decode``); thread-safe."""
        t0 = time.perf_counter()
        decoded = self.decode(heads)
        if self.params.mode == "single" and len(decoded) and decoded.scores[0] < self.params.min_pose_score:
            decoded = DecodedPoses.empty()
        keypoints = to_source_xy(decoded, self.input_size, frame_size)
        self.last_times = StageTimes(self.last_times.preprocess, self.last_times.inference, time.perf_counter() - t0)
        return Poses(
            keypoints=keypoints,
            scores=decoded.scores,
            ids=np.full(len(decoded), -1, np.int32),
            frame_size=frame_size,
            frame_index=frame_index,
            t_capture=t_capture,
            t_wall=t_wall,
        )
