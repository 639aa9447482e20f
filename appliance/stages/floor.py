"""The floor (stage ``floor``): a calibration mapping the picture to the floor, and each person's
floor point in metres with the distance to the nearest other person.

Configuration ``floor``: ``{"image": four [x, y] in 0..1 of the picture, "floor": the same four points
on the floor in metres}`` (both empty: not calibrated, the default). Messages, per person, on a
calibrated floor::

    /posenet/person/floor    ,iff  id x y            the feet on the floor, metres (x, y)
    /posenet/person/nearest  ,iif  id other metres   the nearest other person and how far (2+ people)

and, every frame (also with nobody in view), first in the stage's bundle::

    /posenet/view/floor      ,iff...  n x1 y1 ... xn yn   the floor the picture sees: n corners (3..5),
                                                          metres (x, y)

The view's footprint (``appliance.pose.room.footprint``) is the picture's rectangle 0..1 (its corners
from the top-left, clockwise in the picture) cut short of the horizon, so that no corner is more
than 50 m (``VIEW_REACH``) from the floor marks' centre, and mapped through the homography; a hub
draws it on its floor map. It is computed once per calibration.

The floor point is where the feet are (``appliance.pose.room``: the ankles, or estimated from hips
and torso when the feet are hidden), mapped through the homography of the four marks. On a hub that
is not calibrated itself, the floor points are the fused people's, as the boxes gave them
(``HubReport.floor``), so floor zones and slots work on the hub; zones counting a picture point
(centre, hands) count nobody there (the hub's picture maps to no floor).
"""

from __future__ import annotations

import dataclasses
import math
import struct
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from numpy.typing import NDArray
from pydantic import ConfigDict, Field, model_validator

from appliance.output.osc.base import OscAddress, OscExtra, OutputOptions
from appliance.output.osc.wire import message, message_prefix
from appliance.pose.fusion import HubReport
from appliance.pose.room import footprint, homography, measure, project
from appliance.schema import StrictModel
from appliance.stages import StageKind
from appliance.types import Poses

__all__ = ["STAGE", "FloorSettings", "FloorStage", "FloorView"]

Point = Annotated[list[float], Field(min_length=2, max_length=2)]
_FLOOR = message_prefix("/posenet/person/floor", "iff")
_NEAREST = message_prefix("/posenet/person/nearest", "iif")
_VIEW = "/posenet/view/floor"


class FloorSettings(StrictModel):
    """The floor calibration: four marks, in the picture and on the floor."""

    model_config = ConfigDict(title="Floor")

    image: list[Point] = Field(
        [], max_length=4, description="Four marks in the picture, [x, y] in 0..1 (x right, y down); [] = none."
    )
    floor: list[Point] = Field(
        [], max_length=4, description="The same four marks on the floor, [x, y] in metres; [] = none."
    )

    @model_validator(mode="after")
    def _four(self) -> FloorSettings:
        if len(self.image) != len(self.floor) or len(self.image) not in (0, 4):
            raise ValueError("floor: image and floor need four points each (or none: not calibrated)")
        for key, low, high in (("image", 0.0, 1.0), ("floor", -1000.0, 1000.0)):
            for x, y in getattr(self, key):
                if not (math.isfinite(x) and math.isfinite(y) and low <= x <= high and low <= y <= high):
                    raise ValueError(f"floor.{key}: every coordinate must be within {low:g}..{high:g}")
        if self.image:
            try:
                homography(np.array(self.image), np.array(self.floor))
            except (ValueError, np.linalg.LinAlgError):
                raise ValueError("floor: three of the four marks are on one line (no mapping)") from None
        return self


@dataclass(frozen=True, slots=True)
class FloorView:
    """One frame on the floor: the homography ``h`` (picture 0..1 -> metres), each person's floor
    point ``xy`` (N, 2) in metres (x, y), the nearest other person's id (-1 alone) and distance (m),
    and the floor the picture sees, ``footprint`` (K, 2) in metres (x, y) (K 0: not known, a hub's)."""

    h: NDArray[np.float64]
    xy: NDArray[np.float64]
    nearest: NDArray[np.int32]
    metres: NDArray[np.float64]
    footprint: NDArray[np.float64] = dataclasses.field(default_factory=lambda: np.zeros((0, 2)))


class FloorStage:
    """Puts a ``FloorView`` in ``Poses.extras["floor"]`` when the floor is calibrated (else None)."""

    name = "floor"

    def __init__(self, config: FloorSettings) -> None:
        self.config = config
        self._made: tuple[FloorSettings, NDArray[np.float64] | None, NDArray[np.float64]] | None = None

    def _h(self) -> tuple[NDArray[np.float64] | None, NDArray[np.float64]]:
        """The homography (None: not calibrated) and the view's footprint (metres), once per calibration."""
        config = self.config
        if self._made is None or self._made[0] is not config:
            h, area = None, np.zeros((0, 2))
            if config.image:
                image, floor = np.array(config.image, np.float64), np.array(config.floor, np.float64)
                h = homography(image, floor)
                area = footprint(h, image, floor)
            self._made = (config, h, area)
        return self._made[1], self._made[2]

    def __call__(self, poses: Poses) -> Poses:
        h, area = self._h()
        view = None
        if h is not None:
            view = _view(h, project(h, measure(poses).feet.astype(np.float64)), poses)
            view = dataclasses.replace(view, footprint=area)
        elif isinstance(report := poses.extras.get("hub"), HubReport):
            view = _hub_view(report, poses)
        return dataclasses.replace(poses, extras={**poses.extras, "floor": view})

    def reset(self) -> None:
        """Nothing kept between frames."""


def _view(h: NDArray[np.float64], xy: NDArray[np.float64], poses: Poses) -> FloorView:
    """The floor view of people standing at ``xy`` (metres, (x, y)): each one's nearest other."""
    n = len(xy)
    d = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(axis=2)) + np.diag(np.full(n, np.inf))
    near = d.argmin(axis=1) if n > 1 else np.zeros(n, np.intp)
    ids = poses.ids[near] if n > 1 else np.full(n, -1, np.int32)
    metres = d[np.arange(n), near] if n > 1 else np.full(n, np.inf)
    return FloorView(h, xy, ids.astype(np.int32), metres)


#: A hub's "homography": its picture (the boxes' views side by side) maps to no floor, so floor
#: zones counting a picture point (centre, hands) count nobody there; feet come from the boxes.
_NO_MAPPING = np.full((3, 3), np.nan)


def _hub_view(report: HubReport, poses: Poses) -> FloorView | None:
    """On a hub that is not calibrated itself: the fused people's floor positions the boxes gave
    (``HubReport.floor``), when every person has one (else None: the floor is not known)."""
    xy = [report.floor.get(int(i)) for i in poses.ids.tolist()]
    if any(p is None for p in xy):
        return None
    return _view(_NO_MAPPING, np.asarray(xy, np.float64).reshape(len(xy), 2), poses)


def encode(poses: Poses, options: OutputOptions) -> list[bytes]:
    """``/posenet/view/floor`` (when known), ``/posenet/person/floor`` per person, and
    ``/posenet/person/nearest`` with two people or more."""
    view: Any = poses.extras.get("floor")
    if view is None:
        return []
    ids = poses.ids.tolist()
    out = []
    if len(view.footprint):
        corners = view.footprint.tolist()
        out.append(message(_VIEW, "i" + "ff" * len(corners), [len(corners), *(c for xy in corners for c in xy)]))
    out += [_FLOOR + struct.pack(">iff", i, x, y) for i, (x, y) in zip(ids, view.xy.tolist(), strict=True)]
    if len(ids) > 1:
        pairs = zip(ids, view.nearest.tolist(), view.metres.tolist(), strict=True)
        out += [_NEAREST + struct.pack(">iif", i, o, m) for i, o, m in pairs]
    return out


STAGE = StageKind(
    "floor",
    "Floor: four marks in the picture and their positions on the floor (metres); each person's floor point "
    "and the distance to the nearest other person.",
    FloorSettings,
    FloorStage,
    OscExtra(
        "floor",
        encode,
        (
            OscAddress("/posenet/person/floor", ("id", "metres", "metres"), "id, feet on the floor x y (metres)"),
            OscAddress("/posenet/person/nearest", ("id", "id", "metres"), "id, nearest other id, distance (metres)"),
            OscAddress(
                _VIEW,
                ("count",),
                "the floor the picture sees: corners (3..5), then x y of each (metres)",
                repeat=("metres", "metres"),
            ),
        ),
    ),
    order=10,
)
