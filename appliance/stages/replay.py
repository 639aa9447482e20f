"""The replay flag: with every replayed frame (``--source replay:``), ``/posenet/replay ,ii
recorded_frame pass`` tells a patch that these poses are a recording, and where in it: the frame's
number in the recording and the loop pass (0-based). Live frames carry no such message, so a live
box's output is unchanged; ``bundle`` targets get it by default, the imitation formats only when
their ``extras`` list ``replay``.
"""

from __future__ import annotations

import dataclasses

from pydantic import ConfigDict, Field

from appliance.output.osc.base import OscAddress, OscExtra, OutputOptions
from appliance.output.osc.wire import message
from appliance.schema import StrictModel
from appliance.stages import StageKind
from appliance.types import Poses

__all__ = ["STAGE", "ReplayFlag", "ReplaySettings"]


class ReplaySettings(StrictModel):
    """Whether replayed frames say so."""

    model_config = ConfigDict(title="Replay")

    flag: bool = Field(True, description="Send /posenet/replay (recorded frame, pass) with every replayed frame.")


class ReplayFlag:
    """Keeps (or, with ``flag`` off, drops) the marker a replay source puts in ``Poses.extras``."""

    name = "replay"

    def __init__(self, config: ReplaySettings) -> None:
        self.config = config

    def __call__(self, poses: Poses) -> Poses:
        if self.config.flag or "replay" not in poses.extras:
            return poses
        return dataclasses.replace(poses, extras={k: v for k, v in poses.extras.items() if k != "replay"})

    def reset(self) -> None:
        """Nothing kept between frames."""


def _encode(poses: Poses, options: OutputOptions) -> list[bytes]:
    marker = poses.extras.get("replay")
    if marker is None:
        return []
    recorded, passes = marker
    return [message("/posenet/replay", "ii", [int(recorded), int(passes)])]


STAGE = StageKind(
    "replay",
    "Replay: replayed frames say so.",
    ReplaySettings,
    ReplayFlag,
    OscExtra(
        "replay",
        _encode,
        (OscAddress("/posenet/replay", ("frame", "index"), "a replayed frame: its number in the recording, its pass"),),
    ),
    order=10,
)
