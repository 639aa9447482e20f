"""How poses are decoded, tracked and smoothed (the ``decoder``, ``tracking`` and ``smoothing``
sections of the configuration).

The decoder's settings shared by every model family sit in ``decoder`` itself; a family's own knobs
sit in its own part of it (``decoder.posenet``, ``decoder.movenet``), read only by that family
(``appliance.models.posenet``, ``appliance.models.movenet``). The names of schema version 1
(``decoder.nms_radius``, ``decoder.crop_to_person``) are still accepted and moved to their family
(``LEGACY_DECODER_KEYS``), so older files, patches and API clients keep working.

Their defaults are the only place these defaults are written down: the engine, the stages, the CLI
and the saved configuration all use these models.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from appliance.schema import StrictModel

__all__ = [
    "LEGACY_DECODER_KEYS",
    "DecoderConfig",
    "MoveNetDecoding",
    "PoseNetDecoding",
    "SmoothingConfig",
    "TrackingConfig",
    "move_legacy_decoder_keys",
]

#: Schema version 1's flat decoder keys -> the family section that owns them now.
LEGACY_DECODER_KEYS: dict[str, str] = {"nms_radius": "posenet", "crop_to_person": "movenet"}


def move_legacy_decoder_keys(decoder: dict[str, Any]) -> dict[str, Any]:
    """A ``decoder`` section (JSON data) with version 1's flat family keys moved into their family's
    part (a flat key given wins: it is the newer word of a patch); other keys untouched."""
    if not any(key in decoder for key in LEGACY_DECODER_KEYS):
        return decoder
    out = dict(decoder)
    for key, family in LEGACY_DECODER_KEYS.items():
        if key in out:
            section = out.get(family)
            out[family] = {**(section if isinstance(section, dict) else {}), key: out.pop(key)}
    return out


class PoseNetDecoding(StrictModel):
    """PoseNet's own decoding settings (``decoder.posenet``)."""

    model_config = ConfigDict(title="PoseNet")

    nms_radius: float = Field(10.0, gt=0.0, le=100.0, description="Keypoint suppression radius, model-input pixels.")


class MoveNetDecoding(StrictModel):
    """MoveNet's own decoding settings (``decoder.movenet``)."""

    model_config = ConfigDict(title="MoveNet")

    crop_to_person: bool = Field(
        True,
        description="Look at a square around the person found in the previous frame (for small or distant performers).",
    )


class DecoderConfig(StrictModel):
    """Pose decoding: thresholds every family uses, and each family's own settings."""

    model_config = ConfigDict(title="Pose decoding")

    mode: Literal["multi", "single"] = Field("multi", description="Every person, or only the most prominent.")
    max_poses: int = Field(10, ge=1, le=20, description="Most people reported per frame.")
    min_pose_score: float = Field(0.2, ge=0.0, le=1.0, description="Minimum pose score (0..1).")
    posenet: PoseNetDecoding = Field(default_factory=PoseNetDecoding, description="PoseNet models only.")
    movenet: MoveNetDecoding = Field(default_factory=MoveNetDecoding, description="MoveNet models only.")

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, data: object) -> object:
        """Version 1's flat family keys (``nms_radius``, ``crop_to_person``), moved to their family."""
        return move_legacy_decoder_keys(data) if isinstance(data, dict) else data


class TrackingConfig(StrictModel):
    """Who is who across frames (the ``tracking`` section)."""

    model_config = ConfigDict(title="Person ids")

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

    model_config = ConfigDict(title="Smoothing")

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
