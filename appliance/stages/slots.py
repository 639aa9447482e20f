"""Slots (stage ``slots``): people addressed by a slot number 1..N that they keep while present, so a
patch keyed on ``/posenet/slot/1/...`` works for the whole evening.

Configuration ``slots``: ``{"count": N (1..16, default 4), "rule": ..., "zone": name}``. A person keeps
their slot until they leave (the tracker's ``leave``: gone longer than its grace time); a free slot
(lowest number first) goes to the person not in a slot who comes first by ``rule``:

* ``longest``: present longest (default);
* ``closest``: nearest the camera: on a calibrated floor, the floor point nearest to where the
  picture's bottom middle is on the floor; else the largest in the picture;
* ``leftmost``: smallest x of the body centre in the picture;
* ``zone``: in the zone named ``zone`` (stage ``zones``), present there longest; nobody else.

Messages, per slot ``k`` whose person is in the frame: the ``bundle`` format's per-person messages
re-addressed, ``/posenet/slot/{k}/pose ,iif + 51 f``, ``/box ,iffff``, ``/centre ,iff`` (the target's
coordinates), and, when the stages run, ``/motion ,iff``, ``/hands ,iii`` (``features``) and ``/floor
,iff`` (``floor``); and ``/posenet/slot/{k}/present ,i 0|1`` when it changes.
"""

from __future__ import annotations

import dataclasses
import re
import struct
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import ConfigDict, Field, field_validator

from appliance.output.osc.base import KEYPOINTS_XYS, OscAddress, OscExtra, OutputOptions
from appliance.output.osc.formats.bundle import PERSON_PREFIXES, person_groups
from appliance.output.osc.wire import message_prefix
from appliance.pose.room import measure, project
from appliance.schema import StrictModel
from appliance.stages import StageKind
from appliance.types import Poses

__all__ = ["MAX_SLOTS", "STAGE", "SlotsSettings", "SlotsStage", "SlotsView"]

MAX_SLOTS = 16
_BOTTOM = np.array([[0.5, 1.0]])  # the picture's bottom middle (0..1): the floor nearest the camera
Rule = Literal["longest", "closest", "leftmost", "zone"]


class SlotsSettings(StrictModel):
    """People by slot number."""

    model_config = ConfigDict(title="Slots")

    count: int = Field(4, ge=1, le=MAX_SLOTS, description="How many slots (/posenet/slot/1 .. N).")
    rule: Rule = Field("longest", description="Who gets a free slot: longest present, closest, leftmost, or in zone.")
    zone: str = Field("", max_length=32, description="The zone of the rule 'zone'.")

    @field_validator("zone")
    @classmethod
    def _zone(cls, v: str) -> str:
        if v and not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", v):
            raise ValueError("a zone name: letters, digits, '_' or '-'")
        return v


@dataclass(frozen=True, slots=True)
class SlotsView:
    """Slot k (1-based) -> the person's id or None; ``where``: slot -> index in ``Poses`` (people in
    the frame); ``changed``: (slot, present 0|1) this frame."""

    ids: tuple[int | None, ...]
    where: dict[int, int]
    changed: tuple[tuple[int, int], ...]


class SlotsStage:
    """Puts a ``SlotsView`` in ``Poses.extras["slots"]``."""

    name = "slots"

    def __init__(self, config: SlotsSettings) -> None:
        self.config = config
        self.reset()

    def reset(self) -> None:
        """Every slot free (a new source)."""
        self._slots: list[int | None] = []
        self._first: dict[int, float] = {}

    def __call__(self, poses: Poses) -> Poses:
        before = list(self._slots)
        gone = set(poses.left.tolist())
        ids = poses.ids.tolist()
        for pid in gone:
            self._first.pop(pid, None)
        for pid in ids:
            self._first.setdefault(pid, poses.t_capture)
        n = self.config.count
        slots = [s if s is not None and s not in gone else None for s in self._slots[:n]]
        slots += [None] * (n - len(slots))
        taken = set(slots)
        free = [k for k, s in enumerate(slots) if s is None]
        if free:
            for k, pid in zip(free, self._ranked(poses, [i for i in ids if i not in taken]), strict=False):
                slots[k] = pid
        self._slots = slots
        before += [None] * (n - len(before))
        changed = tuple((k + 1, int(s is not None)) for k, s in enumerate(slots) if (s is None) != (before[k] is None))
        changed += tuple((k + 1, 1) for k, s in enumerate(slots) if s is not None and before[k] not in (None, s))
        index = {pid: j for j, pid in enumerate(ids)}
        where = {k + 1: index[s] for k, s in enumerate(slots) if s in index}
        view = SlotsView(tuple(slots), where, tuple(sorted(changed)))
        return dataclasses.replace(poses, extras={**poses.extras, "slots": view})

    def _ranked(self, poses: Poses, candidates: list[int]) -> list[int]:
        """The candidates (ids in the frame, not in a slot) in the order the rule gives slots."""
        rule = self.config.rule
        if not candidates:
            return []
        if rule == "longest":
            return sorted(candidates, key=lambda i: (self._first[i], i))
        if rule == "zone":
            zone: Any = (poses.extras.get("zones") or {}).get(self.config.zone)
            members = zone.members if zone is not None else {}
            return sorted((i for i in candidates if i in members), key=lambda i: (members[i], i))
        index = {pid: j for j, pid in enumerate(poses.ids.tolist())}
        rows = np.array([index[i] for i in candidates])
        m, floor = measure(poses), poses.extras.get("floor")
        if rule == "leftmost":
            key = m.centres[rows, 0]
        elif floor is not None:  # nearest the camera on the floor: the picture's bottom middle, there
            key = np.hypot(*(floor.xy[rows] - project(floor.h, _BOTTOM)[0]).T)
        else:
            key = -m.heights[rows]  # the largest in the picture
        return [candidates[j] for j in np.argsort(key, kind="stable")]


def _slot_prefixes(k: int) -> dict[str, bytes]:
    base = f"/posenet/slot/{k}/"
    return {
        "pose": message_prefix(base + "pose", "iif" + "f" * 51),
        "box": message_prefix(base + "box", "iffff"),
        "centre": message_prefix(base + "centre", "iff"),
        "present": message_prefix(base + "present", "i"),
        "motion": message_prefix(base + "motion", "iff"),
        "hands": message_prefix(base + "hands", "iii"),
        "floor": message_prefix(base + "floor", "iff"),
    }


_PREFIXES = {k: _slot_prefixes(k) for k in range(1, MAX_SLOTS + 1)}


def encode(poses: Poses, options: OutputOptions) -> list[bytes]:
    """Each occupied slot's messages (module docstring), then the presence changes."""
    view: Any = poses.extras.get("slots")
    if view is None:
        return []
    out: list[bytes] = []
    where = sorted(view.where.items())
    groups = person_groups(poses, options) if where else []  # the bundle format's, when it just made them
    features: Any = poses.extras.get("features")
    floor: Any = poses.extras.get("floor")
    for k, j in where:
        p, group = _PREFIXES[k], groups[j]
        for prefix, name, msg in zip(PERSON_PREFIXES, ("pose", "box", "centre"), group, strict=True):
            out.append(p[name] + msg[len(prefix) :])
        pid = int(poses.ids[j])
        if features is not None:
            out.append(p["motion"] + struct.pack(">iff", pid, features.speed[j], features.energy[j]))
            out.append(p["hands"] + struct.pack(">iii", pid, *features.hands[j]))
        if floor is not None:
            out.append(p["floor"] + struct.pack(">iff", pid, *floor.xy[j].tolist()))
    out += [_PREFIXES[k]["present"] + struct.pack(">i", flag) for k, flag in view.changed]
    return out


STAGE = StageKind(
    "slots",
    "Slots: people by slot number 1..N, kept while present; a free slot goes by a rule.",
    SlotsSettings,
    SlotsStage,
    OscExtra(
        "slots",
        encode,
        (
            OscAddress(
                "/posenet/slot/{slot}/pose",
                ("id", "index", "score", *KEYPOINTS_XYS),
                "id, index, score, 17 x (x, y, score)",
            ),
            OscAddress("/posenet/slot/{slot}/box", ("id", "x", "y", "x", "y"), "id, bounding box x0 y0 x1 y1"),
            OscAddress("/posenet/slot/{slot}/centre", ("id", "x", "y"), "id, body centre x y"),
            OscAddress("/posenet/slot/{slot}/motion", ("id", "speed", "speed"), "id, speed, energy (heights/s)"),
            OscAddress("/posenet/slot/{slot}/hands", ("id", "flag", "flag"), "id, left raised, right raised"),
            OscAddress("/posenet/slot/{slot}/floor", ("id", "metres", "metres"), "id, floor x y (metres)"),
            OscAddress("/posenet/slot/{slot}/present", ("flag",), "1 while the slot has a person"),
        ),
    ),
    order=40,
    names=lambda s: {"slot": [str(k) for k in range(1, s.count + 1)]},
)
