"""The hub's settings and messages (``hub`` section; the hub itself is the ``hub`` pose source,
``appliance.capture.hub_source``). On a box that is not a hub the stage does nothing and says nothing.

Messages (in bundles of their own after the frame's, each starting with ``/posenet/frame``):

    /posenet/hub/boxes   ,ii    live total              (boxes fused now, boxes followed)
    /posenet/hub/box     ,iiiii index live subscribed count clock_ok   (per box, in the order first seen;
                                                         clock_ok 0: its clock is off or it lags)
    /posenet/hub/floor   ,iff   id x y                  (per fused person with a floor position:
                                                         global id, metres on the floor, (x, y))

A box that is not a hub says its clock instead, once a second, for the hubs that follow it:

    /posenet/clock       ,if    synchronised offset_ms  (1: synchronised within its clock.warn_ms;
                                                         chrony's estimate of its clock minus its
                                                         source's, ms, positive: ahead; without
                                                         chronyd the kernel's word and last offset)

A box that stops sending is reported here (``live`` 0) within ``drop_seconds``; its name, address
and delay are in the hub's status and page.
"""

from __future__ import annotations

import dataclasses
import math
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ConfigDict, Field, field_validator

from appliance.output.osc.base import OscAddress, OscExtra, OutputOptions
from appliance.output.osc.wire import message_prefix
from appliance.pose.fusion import DEFAULT_DISTANCE, TUNING, HubReport
from appliance.schema import StrictModel, subscribe_key_rule
from appliance.stages import StageKind
from appliance.types import Poses

__all__ = ["CLOCK", "STAGE", "BoxClock", "ClockWord", "HubSettings", "HubStage"]

_BOXES = message_prefix("/posenet/hub/boxes", "ii")
_BOX = message_prefix("/posenet/hub/box", "iiiii")
_FLOOR = message_prefix("/posenet/hub/floor", "iff")
_CLOCK = message_prefix("/posenet/clock", "if")
#: Seconds between a box's clock messages.
CLOCK_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class BoxClock:
    """What a box that is not a hub says of its clock (``extras["hub"]`` once a second):
    ``synchronised`` (within its clock.warn_ms), ``offset_ms`` (its clock minus its time source's,
    milliseconds; positive: ahead)."""

    synchronised: bool
    offset_ms: float


class ClockWord:
    """How this box reads its clock for ``BoxClock``: a callable the application sets (synchronised
    within clock.warn_ms, offset ms; None: unknown); nothing by default. Called once a second on
    the "send" thread: it must not block."""

    def __init__(self) -> None:
        self.read: Callable[[], tuple[bool, float] | None] = lambda: None

    def set(self, read: Callable[[], tuple[bool, float] | None]) -> None:
        """Read the clock with ``read`` from now on (the application)."""
        self.read = read


#: This box's clock, as the hub stage says it.
CLOCK = ClockWord()


class HubSettings(StrictModel):
    """How the hub fuses boxes (used only when the source is ``hub``)."""

    model_config = ConfigDict(title="Hub")

    distance_m: float = Field(
        DEFAULT_DISTANCE,
        ge=0.05,
        le=5.0,
        description="Two boxes' people within this many metres on the floor, at the same time, are one person.",
    )
    drop_seconds: float = Field(
        1.0, ge=0.2, le=30.0, description="A box sending no whole frame for this long is dropped from fusion."
    )
    align_ms: float = Field(
        100.0, ge=1.0, le=1000.0, description="Boxes' frames captured within this many ms are fused together."
    )
    late_ms: float = Field(
        150.0,
        ge=1.0,
        le=10000.0,
        description="A box whose frames arrive this many ms after their capture time (or any before it) is "
        "reported: its clock is off, or it lags.",
    )
    subscribe_key: str = Field(
        "",
        max_length=256,
        description="The subscribe key the venue's boxes ask for (their osc_control.subscribe_key), given to every "
        "box the hub follows (a box without one ignores it). Write-only: no answer shows it.",
        json_schema_extra={"writeOnly": True},  # never a control-port setting nor an OSCQuery node
    )

    _key = field_validator("subscribe_key")(subscribe_key_rule)


class HubStage:
    """Puts the ``hub`` settings in force for the hub source; the poses pass unchanged."""

    name = "hub"

    def __init__(self, config: HubSettings) -> None:
        self._config = config
        self.config = config
        self._said = -math.inf  # t_capture of the last clock said

    @property
    def config(self) -> HubSettings:
        """The settings in force (setting them puts them in force for the hub source)."""
        return self._config

    @config.setter
    def config(self, value: HubSettings) -> None:
        self._config = value
        TUNING.distance = value.distance_m
        TUNING.drop_seconds = value.drop_seconds
        TUNING.align_seconds = value.align_ms / 1000.0
        TUNING.late_seconds = value.late_ms / 1000.0
        TUNING.subscribe_key = value.subscribe_key

    def __call__(self, poses: Poses) -> Poses:
        """On a hub the poses, unchanged (the hub source filled ``extras["hub"]``); on a box, once a
        second, with its clock (``BoxClock``) for the hubs that follow it."""
        if "hub" in poses.extras or 0.0 <= poses.t_capture - self._said < CLOCK_SECONDS:
            return poses
        self._said = poses.t_capture
        word = CLOCK.read()
        if word is None or not math.isfinite(word[1]):
            return poses
        return dataclasses.replace(poses, extras={**poses.extras, "hub": BoxClock(bool(word[0]), float(word[1]))})

    def reset(self) -> None:
        """Say the clock with the next frame."""
        self._said = -math.inf


def encode(poses: Poses, options: OutputOptions) -> list[bytes]:
    """The hub's report; on a box that is not a hub, its clock when due."""
    report: Any = poses.extras.get("hub")
    if isinstance(report, BoxClock):
        return [_CLOCK + struct.pack(">if", int(report.synchronised), report.offset_ms)]
    if not isinstance(report, HubReport):
        return []
    live = sum(b.live for b in report.boxes)
    out = [_BOXES + struct.pack(">ii", live, len(report.boxes))]
    for i, box in enumerate(report.boxes):
        clock_ok = int(box.clock in ("ok", "unknown"))
        out.append(_BOX + struct.pack(">iiiii", i, int(box.live), int(box.subscribed), box.people, clock_ok))
    for gid, floor in report.floor.items():
        if floor is not None:
            out.append(_FLOOR + struct.pack(">iff", gid, floor[0], floor[1]))
    return out


STAGE = StageKind(
    "hub",
    "The hub: several boxes fused into one set of people (README 'Several boxes, one room').",
    HubSettings,
    HubStage,
    OscExtra(
        "hub",
        encode,
        (
            OscAddress("/posenet/hub/boxes", ("count", "count"), "Boxes fused now (live), and boxes followed."),
            OscAddress(
                "/posenet/hub/box",
                ("index", "flag", "flag", "count", "flag"),
                "Per box: its index, live (1: fused; 0: dropped), subscribed (1: a lease), people seen, clock "
                "(1: ok; 0: its frames arrive over hub.late_ms after capture or before it: clock off or lagging).",
            ),
            OscAddress(
                "/posenet/hub/floor",
                ("id", "metres", "metres"),
                "Per fused person: global id, floor position in metres (x, y).",
            ),
            OscAddress(
                "/posenet/clock",
                ("flag", "milliseconds"),
                "A box that is not a hub, once a second: its clock synchronised within clock.warn_ms (1), and its "
                "offset to its time source in ms (positive: ahead).",
            ),
        ),
    ),
    order=10,
)
