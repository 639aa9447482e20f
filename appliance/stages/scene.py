"""The scene (stage ``scene``): who is present, so a receiver that lost a ``leave`` drops the ghost.

    /posenet/scene  ,i + i...  count, then the id of every person present (ascending)

``bundle`` targets get it in every frame's first bundle (after the frame header and the events);
targets of other formats that ask for it get it in a bundle of its own when the people present
change and at least ``rate`` times a second. A receiver keeps, for each id it tracks, the last scene
that listed it, and forgets any id a scene does not list (Max: ``[route /posenet/scene]`` ->
``[zl.filter]``/``[dict]``; Pd: ``[route scene]`` -> ``[list split 1]``, see ``examples/``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from pydantic import ConfigDict, Field

from appliance.output.osc.base import OscAddress, OscExtra, OutputOptions
from appliance.output.osc.wire import message
from appliance.schema import StrictModel
from appliance.stages import StageKind
from appliance.types import Poses

__all__ = ["STAGE", "SceneSettings", "SceneStage", "SceneView"]


class SceneSettings(StrictModel):
    """How often the scene goes to targets that get it in bundles of its own."""

    model_config = ConfigDict(title="Scene")

    rate: float = Field(
        2.0, ge=2.0, le=30.0, description="Scenes per second at least, for targets of formats other than bundle."
    )


@dataclass(frozen=True, slots=True)
class SceneView:
    """The ids present (ascending) and whether the scene is due for the targets that get it by rate."""

    ids: tuple[int, ...]
    due: bool


class SceneStage:
    """Puts a ``SceneView`` in ``Poses.extras["scene"]``."""

    name = "scene"

    def __init__(self, config: SceneSettings) -> None:
        self.config = config
        self.reset()

    def reset(self) -> None:
        """Send the next scene at once."""
        self._ids: tuple[int, ...] | None = None
        self._sent = -1e9

    def __call__(self, poses: Poses) -> Poses:
        ids = tuple(sorted(int(i) for i in poses.ids.tolist()))
        t = poses.t_capture
        due = ids != self._ids or t - self._sent >= 1.0 / self.config.rate or t < self._sent
        if due:
            self._ids, self._sent = ids, t
        return dataclasses.replace(poses, extras={**poses.extras, "scene": SceneView(ids, due)})


def lead(poses: Poses, options: OutputOptions) -> list[bytes]:
    """The scene message, every frame."""
    view: Any = poses.extras.get("scene")
    if view is None:
        return []
    return [message("/posenet/scene", "i" * (1 + len(view.ids)), [len(view.ids), *view.ids])]


def encode(poses: Poses, options: OutputOptions) -> list[bytes]:
    """The scene message when due."""
    view: Any = poses.extras.get("scene")
    return lead(poses, options) if view is not None and view.due else []


STAGE = StageKind(
    "scene",
    "Scene: the ids of everybody present, so receivers drop people whose leave they lost.",
    SceneSettings,
    SceneStage,
    OscExtra(
        "scene",
        encode,
        (OscAddress("/posenet/scene", ("count",), "people present, then their ids", repeat=("id",)),),
        lead=lead,
        values=lead,
    ),
    order=50,
)
