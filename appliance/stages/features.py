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
from appliance.pose.room import MIN_SCORE, centres, heights
from appliance.schema import StrictModel
from appliance.stages import StageKind
from appliance.types import Poses

__all__ = ["STAGE", "TAU", "FeaturesSettings", "FeaturesStage", "FeaturesView"]

#: Seconds the speeds are smoothed over.
TAU = 0.2
_MOTION = message_prefix("/posenet/person/motion", "iff")
_HANDS = message_prefix("/posenet/person/hands", "iii")
_SH, _WR = (5, 6), (9, 10)  # left, right


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
        kp = poses.keypoints
        cs, hs, t = centres(kp), heights(kp), poses.t_capture
        speed, energy, hands = [], [], []
        for j, pid in enumerate(poses.ids.tolist()):
            person = self._people.get(pid)
            if person is None or t <= person.t:
                person = self._people[pid] = _Person(t, cs[j], kp[j]) if person is None else person
            else:
                _move(person, cs[j], kp[j], float(hs[j]), t)
            _raise(person, kp[j], t, self.config.hands_seconds)
            speed.append(person.speed)
            energy.append(person.energy)
            hands.append((person.hands[0], person.hands[1]))
        view = FeaturesView(speed, energy, hands)
        return dataclasses.replace(poses, extras={**poses.extras, "features": view})


def _move(person: _Person, centre: NDArray[np.float32], kp: NDArray[np.float32], height: float, t: float) -> None:
    """Speed and energy (heights per second) from the last frame to this one, smoothed."""
    dt = t - person.t
    both = (kp[:, 2] >= MIN_SCORE) & (person.kp[:, 2] >= MIN_SCORE)
    moved = np.sqrt(((kp[:, :2] - person.kp[:, :2]) ** 2).sum(axis=1))
    speed = float(np.hypot(*(centre - person.centre))) / height / dt
    energy = float(moved[both].mean()) / height / dt if both.any() else 0.0
    a = 1.0 - math.exp(-dt / TAU)
    person.speed += a * (speed - person.speed)
    person.energy += a * (energy - person.energy)
    person.t, person.centre, person.kp = t, centre, kp


def _raise(person: _Person, kp: NDArray[np.float32], t: float, hold: float) -> None:
    """Each hand's state switches once the other state has held ``hold`` seconds."""
    for side in (0, 1):
        wrist, shoulder = kp[_WR[side]], kp[_SH[side]]
        if min(wrist[2], shoulder[2]) < MIN_SCORE:
            continue  # not seen: unchanged
        up = int(wrist[1] < shoulder[1])
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
    out = []
    for j, pid in enumerate(poses.ids.tolist()):
        out.append(_MOTION + struct.pack(">iff", pid, view.speed[j], view.energy[j]))
        out.append(_HANDS + struct.pack(">iii", pid, *view.hands[j]))
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
