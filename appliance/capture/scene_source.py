"""Synthetic people as poses (no camera, no model): ``scene[:PEOPLE][@fps][,WxH][,once]``.

A source of decoded poses (``PoseSource``): people walking across the picture and back, built on
``appliance.pose.scenes`` (known ids), so the whole appliance (stages, formats, targets, the page)
runs and can be tested on a machine with no model file. Keypoints are source pixels (x, y).
"""

from __future__ import annotations

import dataclasses
import time

from appliance.capture.base import EndOfSource, Host, Pacer, SourceKind, SourceSpec
from appliance.errors import ConfigError, SourceError
from appliance.pose.scenes import Walker, scene
from appliance.types import Poses

__all__ = ["KIND", "SceneSource", "people"]

#: People walking unless the spec says, and the most a spec may ask for.
DEFAULT_PEOPLE, MAX_PEOPLE = 2, 10
#: Frames per second unless the spec says; seconds one crossing (one cycle) lasts.
DEFAULT_FPS, CYCLE_SECONDS = 15.0, 8.0


def walkers(people: int, size: tuple[int, int], frames: int) -> list[Walker]:
    """``people`` walkers crossing a (width, height) picture in ``frames`` frames, every other one
    from the right, each a little lower than the one before (true ids 1..people)."""
    w, h = size
    height = 0.4 * h
    out = []
    for i in range(people):
        y = h * (0.5 + 0.2 * i / max(people, 1))
        x0, x1 = (0.1 * w, 0.9 * w) if i % 2 == 0 else (0.9 * w, 0.1 * w)
        out.append(Walker(i + 1, (x0, y), ((x1 - x0) / frames, 0.0), height))
    return out


def people(spec: SourceSpec) -> int:
    """How many people ``scene:PEOPLE`` asks for (ConfigError: not a number, or out of range); also
    the rule a saved configuration is checked with, so a bad one is refused, not saved."""
    try:
        n = int(spec.arg) if spec.arg else DEFAULT_PEOPLE
    except ValueError:
        raise ConfigError(f"scene source: {spec.arg!r} is not a number of people (scene:2)") from None
    if not 1 <= n <= MAX_PEOPLE:
        raise ConfigError(f"scene source: {n} people out of range 1..{MAX_PEOPLE}")
    return n


class SceneSource:
    """One crossing of ``PEOPLE`` synthetic people, computed once, then served at ``fps``; looping
    starts a new scene (the tracker cuts), ``once`` ends after one crossing."""

    def __init__(self, spec: SourceSpec) -> None:
        self.people = people(spec)
        self.spec = spec
        self.size = spec.size or (640, 480)
        self.fps = spec.fps or DEFAULT_FPS
        self.name = f"scene of {self.people} people {self.size[0]}x{self.size[1]}"
        self._frames: list[Poses] = []
        self._pos = 0
        self._index = 0
        self._scene = 0
        self._pacer = Pacer(self.fps)

    def open(self) -> None:
        """Compute one crossing's poses."""
        n = max(2, round(self.fps * CYCLE_SECONDS))
        self._frames, _ = scene(walkers(self.people, self.size, n), n, fps=self.fps, size=self.size)
        self._pos = 0
        self._scene += 1
        self._pacer = Pacer(self.fps)

    def read(self, timeout: float) -> Poses | None:
        """The next frame's poses when due (source pixels (x, y); times of now), None if not within
        ``timeout``; EndOfSource after one crossing with ``once``."""
        if not self._frames:
            raise SourceError("scene source is not open")
        if self._pos >= len(self._frames):
            if not self.spec.loop:
                raise EndOfSource("end of the scene")
            self._pos = 0
            self._scene += 1
        if not self._pacer.wait(timeout):
            return None
        poses = self._frames[self._pos]
        self._pos += 1
        self._index += 1
        return dataclasses.replace(
            poses, frame_index=self._index, t_capture=time.monotonic(), t_wall=time.time(), scene=self._scene
        )

    def close(self) -> None:
        """Forget the poses."""
        self._frames = []


def _offer(host: Host) -> list[dict[str, str]]:
    return [{"source": "scene", "label": "synthetic people, as poses (no camera, no model)"}]


KIND = SourceKind(
    "scene", "scene[:PEOPLE][@fps][,WxH][,once]", SceneSource, poses=True, order=31, confine=people, offer=_offer
)
