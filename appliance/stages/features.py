"""Derived features per person (stage ``features``): how fast, how much moving, hands raised.

    /posenet/person/motion  ,iff  id speed energy   person heights per second (both)
    /posenet/person/hands   ,iii  id left right     1 = that wrist above its shoulder

``speed``: the body centre's (``appliance.pose.room.centres``) speed; ``energy``: the mean speed of
the keypoints confident in both frames; both divided by the person's height in the picture (the
span of their confident keypoints), so a near and a far person compare, and smoothed over
``TAU`` seconds (exponentially, capture times). 0 in a person's first frame.
``left``/``right`` (the person's own): the wrist above the shoulder (both confident), switched only
once the new state has held ``hands_seconds`` (capture time): one raise, one switch.
"""

from __future__ import annotations

import dataclasses
import math
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import ConfigDict, Field

from appliance.output.osc.base import OscAddress, OscExtra, OutputOptions
from appliance.output.osc.wire import message_prefix
from appliance.pose.room import MIN_SCORE, measure
from appliance.schema import StrictModel
from appliance.stages import StageKind
from appliance.types import Poses

__all__ = ["STAGE", "TAU", "FeaturesSettings", "FeaturesStage", "FeaturesView"]

#: Seconds the speeds are smoothed over.
TAU = 0.2
_MOTION = message_prefix("/posenet/person/motion", "iff")
_HANDS = message_prefix("/posenet/person/hands", "iii")


class FeaturesSettings(StrictModel):
    """Derived features per person."""

    model_config = ConfigDict(title="Features")

    hands_seconds: float = Field(
        0.25, ge=0.0, le=5.0, description="Seconds a hand must stay raised (or down) before it switches."
    )


@dataclass(slots=True)
class _Person:
    t: float
    centre: NDArray[np.float32]
    kp: NDArray[np.float32]
    speed: float = 0.0
    energy: float = 0.0
    hands: list[int] = field(default_factory=lambda: [0, 0])
    since: list[float] = field(default_factory=lambda: [math.inf, math.inf])  # when the other state began


@dataclass(frozen=True, slots=True)
class FeaturesView:
    """Per person, in the order of ``Poses``: speed and energy (heights/s), hands (left, right)."""

    speed: list[float]
    energy: list[float]
    hands: list[tuple[int, int]]


class FeaturesStage:
    """Puts a ``FeaturesView`` in ``Poses.extras["features"]``."""

    name = "features"

    def __init__(self, config: FeaturesSettings) -> None:
        self.config = config
        self._people: dict[int, _Person] = {}

    def reset(self) -> None:
        """Forget everybody."""
        self._people = {}

    def __call__(self, poses: Poses) -> Poses:
        for gone in poses.left.tolist():
            self._people.pop(gone, None)
        kp, ids, t = poses.keypoints, poses.ids.tolist(), poses.t_capture
        m = measure(poses)
        people = [self._people.get(pid) for pid in ids]
        moving = [j for j, p in enumerate(people) if p is not None and t > p.t]
        speeds, energies = _speeds(people, moving, kp, m.centres, m.heights, t) if moving else ([], [])
        for j, speed, energy in zip(moving, speeds, energies, strict=True):
            person = people[j]
            assert person is not None
            a = 1.0 - math.exp(-(t - person.t) / TAU)
            person.speed += a * (speed - person.speed)
            person.energy += a * (energy - person.energy)
        confident = kp[:, [9, 10, 5, 6], 2] >= MIN_SCORE  # wrists, shoulders (left, right)
        seen: list[list[bool]] = np.logical_and(confident[:, :2], confident[:, 2:]).tolist()
        up: list[list[bool]] = (kp[:, [9, 10], 1] < kp[:, [5, 6], 1]).tolist()  # wrist above shoulder
        hold = self.config.hands_seconds
        for j, pid in enumerate(ids):
            person = people[j]
            if person is None:
                person = self._people[pid] = _Person(t, m.centres[j], kp[j])
            person.t, person.centre, person.kp = t, m.centres[j], kp[j]
            _raise(person, up[j], seen[j], t, hold)
        view = FeaturesView(
            [self._people[i].speed for i in ids],
            [self._people[i].energy for i in ids],
            [(self._people[i].hands[0], self._people[i].hands[1]) for i in ids],
        )
        return dataclasses.replace(poses, extras={**poses.extras, "features": view})


def _speeds(
    people: list[_Person | None],
    rows: list[int],
    kp: NDArray[np.float32],
    cs: NDArray[np.float32],
    hs: NDArray[np.float32],
    t: float,
) -> tuple[list[float], list[float]]:
    """This frame's speed and energy (heights per second) of the people at ``rows`` (seen before)."""
    before = [people[j] for j in rows]
    prev_kp = np.stack([p.kp for p in before if p is not None])
    prev_c = np.stack([p.centre for p in before if p is not None])
    dt = np.array([t - p.t for p in before if p is not None], np.float64)
    now = kp[rows]
    scale = 1.0 / (hs[rows] * dt)
    speed = np.hypot(*(cs[rows] - prev_c).T) * scale
    both = (now[:, :, 2] >= MIN_SCORE) & (prev_kp[:, :, 2] >= MIN_SCORE)
    moved = np.sqrt(((now[:, :, :2] - prev_kp[:, :, :2]) ** 2).sum(axis=2))
    energy = (moved * both).sum(axis=1) / np.maximum(both.sum(axis=1), 1) * scale
    return speed.tolist(), energy.tolist()


def _raise(person: _Person, ups: list[bool], seen: list[bool], t: float, hold: float) -> None:
    """Each hand's state switches once the other state has held ``hold`` seconds (unseen: unchanged)."""
    for side in (0, 1):
        if not seen[side]:
            continue
        up = int(ups[side])
        if up == person.hands[side]:
            person.since[side] = math.inf
        elif person.since[side] == math.inf:
            person.since[side] = t
        if up != person.hands[side] and t - person.since[side] >= hold:
            person.hands[side], person.since[side] = up, math.inf


def encode(poses: Poses, options: OutputOptions) -> list[bytes]:
    """``/posenet/person/motion`` and ``/posenet/person/hands`` per person."""
    view: Any = poses.extras.get("features")
    if view is None:
        return []
    ids = poses.ids.tolist()
    pack = struct.pack
    out = []
    for pid, speed, energy, (left, right) in zip(ids, view.speed, view.energy, view.hands, strict=True):
        out.append(_MOTION + pack(">iff", pid, speed, energy))
        out.append(_HANDS + pack(">iii", pid, left, right))
    return out


STAGE = StageKind(
    "features",
    "Features: speed and motion energy (person heights per second), hands raised, per person.",
    FeaturesSettings,
    FeaturesStage,
    OscExtra(
        "features",
        encode,
        (
            OscAddress("/posenet/person/motion", ("id", "speed", "speed"), "id, speed, energy (heights/s)"),
            OscAddress("/posenet/person/hands", ("id", "flag", "flag"), "id, left raised, right raised"),
        ),
    ),
    order=30,
)
