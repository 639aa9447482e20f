"""``bench room``: what the room costs per frame on the "send" thread: the room's stages (floor,
zones, features, slots, scene: ``appliance.stages``) and their messages for a ``bundle`` target, at
10 people walking (source pixels, (x, y)) and 8 zones (feet, centre, hands, a keypoint; picture and
floor), the floor calibrated, 4 slots. Medians over the frames of a scene, after the tracker (not
counted); the bundle format's own encoding alongside, as the baseline measured in the same process."""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from typing import Any

from appliance.output.osc.extras import encode_target

__all__ = ["add_parser", "room_costs"]

_FLOOR = {"image": [[0.1, 0.95], [0.9, 0.95], [0.7, 0.45], [0.3, 0.45]], "floor": [[0, 0], [4, 0], [4, 6], [0, 6]]}
_POINTS = ("feet", "centre", "hands", "nose")


def _polygon(box: tuple[float, float, float, float], corners: int) -> list[list[float]]:
    """``corners`` points (x, y) around the box (x0, y0, x1, y1): its four corners, or an ellipse in it."""
    x0, y0, x1, y1 = box
    if corners == 4:
        return [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
    return [
        [cx + rx * math.cos(2 * math.pi * k / corners), cy + ry * math.sin(2 * math.pi * k / corners)]
        for k in range(corners)
    ]


def _sections(zones: int, corners: int = 4, slots: int = 4) -> dict[str, Any]:
    """``zones`` zones side by side (every fourth on the floor, in metres), each of ``corners`` points."""
    out: list[dict[str, Any]] = []
    for i in range(zones):
        x0, x1 = i / zones, (i + 1) / zones
        if i % 4 == 3:
            box = (0.5 * i % 4, 1.0, 0.5 * i % 4 + 1, 3.0)
            out.append({"name": f"f{i}", "points": _polygon(box, corners), "space": "floor"})
        else:
            out.append({"name": f"z{i}", "points": _polygon((x0, 0.2, x1, 1.0), corners), "point": _POINTS[i % 4]})
    return {"zones": out, "floor": _FLOOR, "slots": {"count": slots}}


def room_costs(
    people: int = 10, zones: int = 8, frames: int = 300, corners: int = 4, slots: int = 4
) -> dict[str, float]:
    """Median seconds per frame: ``stages`` (the room's), ``messages`` (their OSC for a bundle
    target), ``room`` (both), ``bundle`` (the format alone, the baseline)."""
    from appliance.config.models import AppConfig
    from appliance.core.app import target_specs
    from appliance.output.osc import FORMATS
    from appliance.pose.scenes import Walker, scene
    from appliance.pose.tracking import Tracker
    from appliance.stages import STAGES

    config = AppConfig.model_validate({**_sections(zones, corners, slots), "targets": [{"format": "bundle"}]})
    (spec,) = target_specs(config)
    stages = [kind.make(getattr(config, name)) for name, kind in STAGES.items()]
    walkers = [
        Walker(i + 1, (30.0 + 580 / people * i, 240.0 + 12 * (i % 4)), (1.5 if i % 2 else -1.5, 0.0), 150)
        for i in range(people)
    ]
    tracker = Tracker()
    costs: dict[str, list[float]] = {"stages": [], "messages": [], "room": [], "bundle": []}
    for poses in scene(walkers, frames)[0]:
        poses = tracker(poses)
        t0 = time.perf_counter()
        for stage in stages:
            poses = stage(poses)
        t1 = time.perf_counter()
        encode_target(FORMATS["bundle"], poses, spec.options, spec.extras)  # as the "send" thread does
        t2 = time.perf_counter()
        alone = dataclasses.replace(poses, keypoints=poses.keypoints.copy())  # nothing cached for it
        t3 = time.perf_counter()
        FORMATS["bundle"](alone, spec.options)
        t4 = time.perf_counter()
        if len(poses) == people:
            costs["stages"].append(t1 - t0)
            costs["messages"].append(t2 - t1 - (t4 - t3))  # the target's datagrams less the format's own
            costs["bundle"].append(t4 - t3)
            costs["room"].append(costs["stages"][-1] + costs["messages"][-1])
    return {k: statistics.median(v) for k, v in costs.items()}


def cmd_room(args: Any) -> int:
    from appliance.stages import STAGES

    r = room_costs(args.people, args.zones, args.frames, args.corners, args.slots)
    what = f"{args.people} people, {args.zones} zones of {args.corners} corners, floor calibrated, {args.slots} slots"
    print(f"room: {what}")
    print(f"median per frame over the frames with everybody in view ({args.frames} frames):")
    for key, what in (
        ("stages", "the stages (" + ", ".join(STAGES) + ")"),
        ("messages", "their OSC messages (bundle target)"),
        ("room", "all the room"),
        ("bundle", "bundle format alone (baseline)"),
    ):
        print(f"  {what:<52} {r[key] * 1e3:7.3f} ms")
    print(f"  room / bundle format: {r['room'] / r['bundle']:.2f}x")
    return 0


def add_parser(bsub: Any) -> None:
    """Register ``bench room``."""
    p = bsub.add_parser("room", help="the room's stages and messages per frame (10 people, 8 zones)")
    p.add_argument("--people", type=int, default=10)
    p.add_argument("--zones", type=int, default=8)
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--corners", type=int, default=4, help="corners per zone (3..32)")
    p.add_argument("--slots", type=int, default=4, help="slots (1..16)")
    p.set_defaults(func=cmd_room)
