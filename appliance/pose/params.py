"""How poses are decoded, tracked and smoothed (the ``decoder``, ``tracking`` and ``smoothing``
sections of the configuration).

Their defaults are the only place these defaults are written down: the engine, the stages, the CLI
and the saved configuration all use these models.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from appliance.schema import StrictModel

__all__ = ["DecoderConfig", "SmoothingConfig", "TrackingConfig"]


class DecoderConfig(StrictModel):
    """Pose decoding thresholds."""

    mode: Literal["multi", "single"] = Field("multi", description="Every person, or only the most prominent.")
    max_poses: int = Field(10, ge=1, le=20, description="Most people reported per frame.")
    min_pose_score: float = Field(0.2, ge=0.0, le=1.0, description="Minimum pose score (0..1).")
    nms_radius: float = Field(10.0, gt=0.0, le=100.0, description="Keypoint suppression radius, model-input pixels.")
    crop_to_person: bool = Field(
        True,
        description="MoveNet: look at a square around the person found in the previous frame "
        "(for small or distant performers). PoseNet ignores it.",
    )


class TrackingConfig(StrictModel):
    """Who is who across frames (the ``tracking`` section)."""

    grace_seconds: float = Field(
        1.0,
        ge=0.0,
        le=30.0,
        description="A person unseen for less than this keeps their id (occlusions, missed frames); "
        "after it, /posenet/person/leave.",
    )
    confirm_frames: int = Field(
        2,
        ge=1,
        le=30,
        description="Frames in a row a new person must be seen before they are reported "
        "(and /posenet/person/enter sent): one-frame false detections never appear.",
    )
    min_similarity: float = Field(
        0.2,
        gt=0.0,
        le=1.0,
        description="Least keypoint similarity (OKS, 0..1) for a detection to continue a known person.",
    )


class SmoothingConfig(StrictModel):
    """One Euro filtering of keypoint positions (the ``smoothing`` section)."""

    enabled: bool = Field(True, description="Smooth keypoint positions per tracked person.")
    min_cutoff: float = Field(
        0.8,
        gt=0.0,
        le=30.0,
        description="Cutoff (Hz) when still: lower is steadier, higher follows small moves sooner.",
    )
    beta: float = Field(
        6.0,
        ge=0.0,
        le=100.0,
        description="How much the cutoff rises with speed (per person-height per second): higher "
        "trails fast moves less.",
    )
    d_cutoff: float = Field(
        0.3,
        gt=0.0,
        le=30.0,
        description="Cutoff (Hz) of the speed estimate: lower ignores keypoint noise, higher reacts sooner.",
    )
    min_keypoint_score: float = Field(
        0.2,
        ge=0.0,
        le=1.0,
        description="Keypoints below this score are passed through as they are and their filter restarts.",
    )
