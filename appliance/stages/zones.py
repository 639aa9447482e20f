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
from functools import lru_cache
from typing import Annotated, Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import AfterValidator, ConfigDict, Field, field_validator

from appliance.output.osc.base import OscAddress, OscExtra, OutputOptions
from appliance.output.osc.wire import message_prefix
from appliance.pose.room import Polygon, Polygons, border_distance, inside_many, measure, project, zone_points
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

    model_config = ConfigDict(title="A zone of the room")

    name: str = Field("zone", description="OSC-safe name: letters, digits, '_' or '-' (1..32).")
    points: list[Point] = Field(
        default_factory=lambda: [[0.35, 0.45], [0.65, 0.45], [0.65, 0.95], [0.35, 0.95]],
        min_length=3,
        max_length=MAX_POINTS,
        description="Corners [x, y]: 0..1 of the picture, or metres (3..32; a square below the middle unless given).",
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
    """Fills ``Poses.extras["zones"]``: name -> ``ZoneState`` (each frame's a new one)."""

    name = "zones"

    def __init__(self, config: list[Zone]) -> None:
        self.config = config
        self._state: dict[str, ZoneState] = {}
        self._made: tuple[Any, ...] | None = None

    def reset(self) -> None:
        """Forget every zone's members (a new source)."""
        self._state = {}

    def _polygons_of(self, zones: list[Zone]) -> tuple[dict[str, Polygon], dict[tuple[str, str], list[Zone]], Polygons]:
        """Each zone's polygon, the zones grouped by what they count (space, point), and every
        polygon stacked in the groups' order; made again only when the zones change."""
        if self._made is None or self._made[0] is not zones:
            single = {z.name: Polygon.of(z.points) for z in zones}
            groups: dict[tuple[str, str], list[Zone]] = {}
            for z in zones:
                groups.setdefault((z.space, z.point), []).append(z)
            stacked = Polygons.of([single[z.name] for g in groups.values() for z in g]) if zones else None
            self._made = (zones, single, groups, stacked)
        return self._made[1], self._made[2], self._made[3]  # type: ignore[return-value]

    def __call__(self, poses: Poses) -> Poses:
        zones = self.config
        if not zones:
            self._state = {}
            return dataclasses.replace(poses, extras={**poses.extras, "zones": {}})
        floor: Any = poses.extras.get("floor")
        single, groups, stacked = self._polygons_of(zones)
        ids, t, gone = poses.ids.tolist(), poses.t_capture, set(poses.left.tolist())
        pts = _counted(poses, groups, floor)
        flat = [p for group_pts in pts for p in group_pts]
        hits = inside_many(stacked, np.concatenate(flat)) if flat else np.zeros((len(zones), 0), bool)
        out: dict[str, ZoneState] = {}
        z0 = p0 = 0
        for group, group_pts in zip(groups.values(), pts, strict=True):
            k, n = len(group_pts), len(ids)
            anywhere: list[list[bool]] = []
            first: list[list[int]] = []
            if k:
                sub = hits[z0 : z0 + len(group), p0 : p0 + k * n].reshape(len(group), k, n)
                anywhere, first = sub.any(axis=1).tolist(), sub.argmax(axis=1).tolist()  # type: ignore[assignment]
            for z, zone in enumerate(group):
                state = self._state.get(zone.name) or ZoneState()
                hit = (anywhere[z], first[z]) if k else None
                out[zone.name] = _step(zone, single[zone.name], state, group_pts, hit, ids, gone, t)
            z0, p0 = z0 + len(group), p0 + k * n
        self._state = {z.name: out[z.name] for z in zones}  # never changed afterwards: shared
        return dataclasses.replace(poses, extras={**poses.extras, "zones": self._state})


def _counted(poses: Poses, groups: dict[tuple[str, str], list[Zone]], floor: Any) -> list[list[NDArray[np.float64]]]:
    """Per group (space, point): the counted points, one (N, 2) array per point of a person (two for
    ``hands``) in the group's space; none for a floor group on an uncalibrated floor (``floor``: the
    floor stage's ``FloorView`` or None)."""
    m = measure(poses)
    picture: dict[str, list[NDArray[np.float64]]] = {}  # point -> (N, 2) arrays in 0..1 of the picture
    out: list[list[NDArray[np.float64]]] = []
    for space, point in groups:
        if space == "floor" and floor is None:
            out.append([])
            continue
        if space == "floor" and point == "feet":
            out.append([floor.xy])  # the floor stage's own
            continue
        if point not in picture:
            picture[point] = [p.astype(np.float64) for p in zone_points(m.normal, point, m.feet)]
        out.append(picture[point] if space == "image" else [project(floor.h, p) for p in picture[point]])
    return out


def _step(
    zone: Zone,
    poly: Polygon,
    state: ZoneState,
    pts: list[NDArray[np.float64]],
    hit: tuple[list[bool], list[int]] | None,
    ids: list[int],
    gone: set[int],
    t: float,
) -> ZoneState:
    """The zone's next state from its previous one and this frame's points (one array per counted
    point, (N, 2) in the zone's space; none when it cannot count) and ``hit``: whether each person
    is inside, and by which point first."""
    members = {i: s for i, s in state.members.items() if i not in gone}
    left = [i for i in state.members if i in gone]
    entered: list[int] = []
    if pts and ids and hit is not None:
        hit_any = hit[0]
        far = [False] * len(ids)
        out = [j for j, (pid, h) in enumerate(zip(ids, hit_any, strict=True)) if not h and pid in members]
        if out:  # members whose point is outside: out only when every counted point is beyond the margin
            near = np.zeros(len(out), bool)
            for p in pts:
                near |= border_distance(poly, p[out]) <= MARGIN[zone.space]
            for j, n in zip(out, near.tolist(), strict=True):
                far[j] = not n
        for pid, h, f in zip(ids, hit_any, far, strict=True):
            if h and pid not in members:
                members[pid] = t
                entered.append(pid)
            elif f:
                del members[pid]
                left.append(pid)
    elif not pts:  # cannot count (an uncalibrated floor): everybody leaves
        left += list(members)
        members = {}
    due = len(members) != len(state.members) or t - state.sent >= COUNT_PERIOD or t < state.sent
    xy = _pad(poly, members, ids, pts, hit)
    return ZoneState(members, entered, left, due, t if due else state.sent, xy)


def _pad(
    poly: Polygon,
    members: dict[int, float],
    ids: list[int],
    pts: list[NDArray[np.float64]],
    hit: tuple[list[bool], list[int]] | None,
) -> tuple[int, float, float] | None:
    """The XY pad: the longest member seen this frame, where in the zone's bounding box (0..1) (its
    first counted point inside, else its first)."""
    seen = [(members[pid], pid, j) for j, pid in enumerate(ids) if pid in members] if members else []
    if not seen or not pts or hit is None:
        return None
    _, pid, j = min(seen)
    k = hit[1][j]
    (x, y), (x0, y0), (x1, y1) = pts[k][j].tolist(), poly.lo.tolist(), poly.hi.tolist()
    if x != x or y != y:  # the point is not seen this frame (NaN): no pad
        return None
    return pid, min(max((x - x0) / max(x1 - x0, 1e-12), 0.0), 1.0), min(max((y - y0) / max(y1 - y0, 1e-12), 0.0), 1.0)


@lru_cache(maxsize=4 * MAX_ZONES)
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
