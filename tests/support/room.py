"""The room's stages (``appliance.stages``) run on synthetic people (``appliance.pose.scenes``) after
the real tracker, as the application runs them: test scenarios with known ids and positions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from appliance.pose.tracking import Tracker
from appliance.stages import STAGES
from appliance.types import Poses

__all__ = ["room_stages", "run_room"]


def room_stages(**sections: Any) -> list[Any]:
    """Every registered stage (in order), made from ``sections`` (name -> section) or its default."""
    from appliance.config.models import AppConfig

    config = AppConfig.model_validate(sections)
    return [kind.make(getattr(config, name)) for name, kind in STAGES.items()]


def run_room(frames: Sequence[Poses], **sections: Any) -> list[Poses]:
    """``frames`` through the tracker, then the room's stages configured by ``sections``."""
    tracker = Tracker()
    stages = room_stages(**sections)
    out = []
    for poses in frames:
        poses = tracker(poses)
        for stage in stages:
            poses = stage(poses)
        out.append(poses)
    return out
