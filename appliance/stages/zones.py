"""Zones (stage ``zones``): named polygons over the picture (0..1, (x, y)) or on the calibrated floor
(metres, (x, y)); who is in each, counted, with an XY pad.

Configuration ``zones``: a list (at most ``MAX_ZONES``) of ``{"name", "points": [[x, y], ...] (3..32),
"space": "image"|"floor", "point": "feet"|"centre"|"hands"|KEYPOINT}``; names are OSC-safe (letters,
digits, ``_``, ``-``; 1..32) and distinct. The point a zone counts is the person's ``feet`` (default),
body ``centre``, a keypoint, or ``hands`` (either wrist). A ``floor`` zone counts nobody until the
floor is calibrated (stage ``floor``). Messages::

    /posenet/zone/{name}/enter  ,i    id        once, when the person's point comes inside
    /posenet/zone/{name}/leave  ,i    id        once, when it is out by more than the margin, or
                                                when the person leaves the picture (tracker's leave)
    /posenet/zone/{name}/count  ,i    n         when it changes, and every COUNT_PERIOD seconds
    /posenet/zone/{name}/xy     ,iff  id x y    every frame someone is in it: the point of the person
                                                in it longest, 0..1 of the zone's bounding box

Hysteresis: a person enters as soon as their point is inside, and leaves only once it is outside by
more than ``MARGIN`` (0.02 of the picture, or 0.1 m on the floor): a point jittering on the border
stays in. A person hidden for less than the tracker's grace time stays in (and counted).
The picture is never mirrored for zones (x as the camera sees it).
"""

from __future__ import annotations

import dataclasses
import re
import struct
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import AfterValidator, ConfigDict, Field, field_validator

from appliance.output.osc.base import OscAddress, OscExtra, OutputOptions
from appliance.output.osc.wire import message_prefix
from appliance.pose.room import border_distance, inside, project, zone_points
from appliance.schema import StrictModel
from appliance.stages import StageKind
from appliance.types import KEYPOINT_NAMES, Poses

__all__ = ["COUNT_PERIOD", "MARGIN", "MAX_ZONES", "STAGE", "Zone", "ZoneState", "ZonesStage"]

MAX_ZONES, MAX_POINTS = 32, 32
#: Seconds between two counts of a zone whose count did not change.
COUNT_PERIOD = 1.0
#: How far outside a zone (its space's units) a member's point must be to leave it.
MARGIN = {"image": 0.02, "floor": 0.10}
_NAME = re.compile(r"[A-Za-z0-9_-]{1,32}")
Point = Annotated[list[float], Field(min_length=2, max_length=2)]
ZonePoint = Literal["feet", "centre", "hands", *KEYPOINT_NAMES]  # type: ignore[valid-type]


class Zone(StrictModel):
    """One zone: a polygon and the point of a person it counts."""

    model_config = ConfigDict(title="Zone")

    name: str = Field("zone", description="OSC-safe name: letters, digits, '_' or '-' (1..32).")
    points: list[Point] = Field(
        min_length=3, max_length=MAX_POINTS, description="Corners [x, y]: 0..1 of the picture, or metres."
    )
    space: Literal["image", "floor"] = Field("image", description="image: 0..1 of the picture; floor: metres.")
    point: ZonePoint = Field("feet", description="What counts: feet, centre, hands (either wrist) or a keypoint.")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.fullmatch(v):
            raise ValueError("1-32 letters, digits, '_' or '-' (it is part of OSC addresses)")
        return v

    @field_validator("points")
    @classmethod
    def _points(cls, v: list[list[float]]) -> list[list[float]]:
        if not all(np.isfinite(c) and abs(c) <= 1000.0 for p in v for c in p):
            raise ValueError("every coordinate must be a finite number within -1000..1000")
        return v


def _distinct(zones: list[Zone]) -> list[Zone]:
    names = [z.name for z in zones]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise ValueError(f"two zones are named {dup!r}")
    return zones


Zones = Annotated[list[Zone], Field(max_length=MAX_ZONES), AfterValidator(_distinct)]


@dataclass(slots=True)
class ZoneState:
    """One zone this frame: its members (id -> capture time they entered), the frame's events, the
    count, whether it is due, and the XY pad (id, x, y in 0..1 of the zone's box) or None."""

    members: dict[int, float] = field(default_factory=dict)
    entered: list[int] = field(default_factory=list)
    left: list[int] = field(default_factory=list)
    due: bool = True
    sent: float = -1e9
    xy: tuple[int, float, float] | None = None


class ZonesStage:
    """Fills ``Poses.extras["zones"]``: name -> ``ZoneState`` (a copy per frame)."""

    name = "zones"

    def __init__(self, config: list[Zone]) -> None:
        self.config = config
        self._state: dict[str, ZoneState] = {}

    def reset(self) -> None:
        """Forget every zone's members (a new source)."""
        self._state = {}

    def __call__(self, poses: Poses) -> Poses:
        zones = self.config
        floor: Any = poses.extras.get("floor")
        kp = poses.normalized() if zones else None
        cache: dict[tuple[str, str], list[NDArray[np.float64]]] = {}
        ids, t, gone = poses.ids.tolist(), poses.t_capture, set(poses.left.tolist())
        out: dict[str, ZoneState] = {}
        for zone in zones:
            state = self._state.get(zone.name) or ZoneState()
            key = (zone.space, zone.point)
            if key not in cache and kp is not None and (zone.space == "image" or floor is not None):
                cache[key] = _points(kp, zone.point, floor.h if zone.space == "floor" else None)
            pts = cache.get(key) or []
            out[zone.name] = _step(zone, state, pts, ids, gone, t)
        self._state = out
        frozen = {name: dataclasses.replace(s, members=dict(s.members)) for name, s in out.items()}
        return dataclasses.replace(poses, extras={**poses.extras, "zones": frozen})


def _points(kp: NDArray[np.float32], point: str, h: NDArray[np.float64] | None) -> list[NDArray[np.float64]]:
    """The counted points in the zone's space (empty for a floor zone on an uncalibrated floor)."""
    pts = [p.astype(np.float64) for p in zone_points(kp, point)]
    return pts if h is None else [project(h, p) for p in pts]


def _step(
    zone: Zone, state: ZoneState, pts: list[NDArray[np.float64]], ids: list[int], gone: set[int], t: float
) -> ZoneState:
    """The zone's next state from its previous one and this frame's points (one array per counted
    point, (N, 2) in the zone's space; none when it cannot count)."""
    poly = np.array(zone.points, np.float64)
    members = {i: s for i, s in state.members.items() if i not in gone}
    left = [i for i in state.members if i in gone]
    entered: list[int] = []
    at: dict[int, NDArray[np.float64]] = {}
    if pts and ids:
        hit = np.zeros((len(pts), len(ids)), bool)
        far = np.ones((len(pts), len(ids)), bool)
        for k, p in enumerate(pts):
            hit[k] = inside(poly, p)
            far[k] = ~hit[k] & (border_distance(poly, p) > MARGIN[zone.space])
        for j, pid in enumerate(ids):
            k = int(np.argmax(hit[:, j])) if hit[:, j].any() else int(np.argmin(far[:, j]))
            at[pid] = pts[k][j]
            if pid not in members and hit[:, j].any():
                members[pid] = t
                entered.append(pid)
            elif pid in members and far[:, j].all():
                del members[pid]
                left.append(pid)
    elif not pts:  # cannot count (an uncalibrated floor): everybody leaves
        left += list(members)
        members = {}
    due = len(members) != len(state.members) or t - state.sent >= COUNT_PERIOD or t < state.sent
    xy = _pad(poly, members, at)
    return ZoneState(members, entered, left, due, t if due else state.sent, xy)


def _pad(
    poly: NDArray[np.float64], members: dict[int, float], at: dict[int, NDArray[np.float64]]
) -> tuple[int, float, float] | None:
    """The XY pad: the longest member seen this frame, where in the zone's bounding box (0..1)."""
    seen = [(since, pid) for pid, since in members.items() if pid in at]
    if not seen:
        return None
    pid = min(seen)[1]
    lo, hi = poly.min(axis=0), poly.max(axis=0)
    x, y = np.clip((at[pid] - lo) / np.maximum(hi - lo, 1e-12), 0.0, 1.0)
    return pid, float(x), float(y)


def _prefixes(name: str) -> tuple[bytes, bytes, bytes, bytes]:
    base = f"/posenet/zone/{name}/"
    return (
        message_prefix(base + "enter", "i"),
        message_prefix(base + "leave", "i"),
        message_prefix(base + "count", "i"),
        message_prefix(base + "xy", "iff"),
    )


def encode(poses: Poses, options: OutputOptions, every: bool = False) -> list[bytes]:
    """Each zone's leave and enter events, its count when due (``every``: always), its XY pad."""
    states: Any = poses.extras.get("zones") or {}
    out: list[bytes] = []
    for name, s in states.items():
        enter, leave, count, pad = _prefixes(name)
        out += [leave + struct.pack(">i", i) for i in s.left]
        out += [enter + struct.pack(">i", i) for i in s.entered]
        if s.due or every:
            out.append(count + struct.pack(">i", len(s.members)))
        if s.xy is not None:
            out.append(pad + struct.pack(">iff", *s.xy))
    return out


def values(poses: Poses, options: OutputOptions) -> list[bytes]:
    """Every zone's count and XY pad (OSCQuery's values)."""
    return encode(poses, options, every=True)


STAGE = StageKind(
    "zones",
    "Zones: named polygons in the picture (0..1) or on the floor (metres); who is in each.",
    Zones,
    ZonesStage,
    OscExtra(
        "zones",
        encode,
        (
            OscAddress("/posenet/zone/{zone}/enter", ("id",), "a person came in (once)"),
            OscAddress("/posenet/zone/{zone}/leave", ("id",), "a person went out (once)"),
            OscAddress("/posenet/zone/{zone}/count", ("count",), "people in the zone"),
            OscAddress("/posenet/zone/{zone}/xy", ("id", "unit", "unit"), "id, x y in the zone's box (0..1)"),
        ),
        values=values,
    ),
    order=20,
    default=list,
    names=lambda zones: {"zone": [z.name for z in zones]},
)
