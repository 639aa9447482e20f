"""DecoderConfig: how poses are decoded (the ``decoder`` section of the configuration).

Its defaults are the only place the decoder's defaults are written down: the engine, the CLI and
the saved configuration all use this model.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from appliance.schema import StrictModel

__all__ = ["DecoderConfig"]


class DecoderConfig(StrictModel):
    """Pose decoding thresholds."""

    mode: Literal["multi", "single"] = Field("multi", description="Every person, or only the most prominent.")
    max_poses: int = Field(10, ge=1, le=20, description="Most people reported per frame.")
    min_pose_score: float = Field(0.2, ge=0.0, le=1.0, description="Minimum pose score (0..1).")
    nms_radius: float = Field(10.0, gt=0.0, le=100.0, description="Keypoint suppression radius, model-input pixels.")
