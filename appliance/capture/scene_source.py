"""Synthetic people as poses (no camera, no model):
``scene[:PEOPLE][@fps][,WxH][,once][,x0=..,x1=..,y0=..,y1=..]``.

A source of decoded poses (``PoseSource``): people walking across the picture and back, built on
``appliance.pose.scenes`` (known ids), so the whole appliance (stages, formats, targets, the page)
runs and can be tested on a machine with no model file. Keypoints are source pixels (x, y).

**In step with the clock**: looping, the crossing is a function of wall-clock time (the boxes share
one clock): frame ``tick mod N`` of the ``N``-frame crossing is shown during the tick
``floor(time.time() * fps)``, so two boxes (two processes started seconds apart) show the same
walker at the same place at the same capture time, and every crossing starts at a multiple of
``CYCLE_SECONDS`` since the epoch (a new scene: the tracker cuts). A late read skips to the current
tick, as a camera drops frames. ``once`` plays one crossing from its start instead.

**A window of the scene** (``x0``, ``x1``, ``y0``, ``y1``: 0..1 of the scene's picture, x right, y
down; default the whole picture): the box sees ``[x0..x1] x [y0..y1]`` of the scene, scaled to its
own picture (``WxH``), as one of several cameras whose views overlap would. Keypoints outside the
window get score 0; a person with no ankle or no hip in it, or fewer than ``MIN_KEYPOINTS``
keypoints, is not seen at all; a person's score is their share of keypoints seen (times 0.9).
``crop_floor`` gives the floor calibration of a window when the scene's picture lies linearly on
one floor, so that the windows' boxes agree (``window`` and ``crop_floor`` live in ``base``: the
``images:`` and ``video:`` sources take the same window of real pictures).
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

from appliance.capture.base import (
    WINDOW_PARAMS,
    EndOfSource,
    Host,
    Pacer,
    SourceKind,
    SourceSpec,
    crop_floor,
    window,
)
from appliance.errors import ConfigError, SourceError
from appliance.pose.scenes import Walker, scene, skeleton
from appliance.types import Poses

__all__ = ["KIND", "ROOM", "SceneSource", "crop_floor", "feet_at", "people", "window"]

#: People walking unless the spec says, and the most a spec may ask for.
DEFAULT_PEOPLE, MAX_PEOPLE = 2, 10
#: Frames per second unless the spec says; seconds one crossing (one cycle) lasts.
DEFAULT_FPS, CYCLE_SECONDS = 15.0, 8.0
#: Keypoints a person needs in the window (``base.window``: the same window options as the image sources).
MIN_KEYPOINTS = 6
_HIPS, _ANKLES = [11, 12], [15, 16]
#: A floor for the scene's whole picture (0..1), metres (width x, depth y), for proofs with several
#: boxes (``crop_floor``): the walkers then cross at 1 m/s, two of them 0.75 m apart.
ROOM = (10.0, 7.5)


def walkers(people: int, size: tuple[float, float], frames: int) -> list[Walker]:
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


def _check(spec: SourceSpec) -> None:
    """What a saved configuration is checked with: the people and the window."""
    people(spec)
    window(spec)


def feet_at(t_wall: float, people: int, fps: float = DEFAULT_FPS) -> list[tuple[float, float]]:
    """Where each walker's feet (the ankles' midpoint) are at wall-clock time ``t_wall`` in a looping
    scene of ``people`` at ``fps`` (keypoint noise aside): 0..1 of the scene's picture, (x, y),
    walker 1 first. ``CYCLE_SECONDS`` as in force now."""
    n = max(2, round(fps * CYCLE_SECONDS))
    frame = math.floor(t_wall * fps) % n
    out = []
    for w in walkers(people, (1.0, 1.0), n):  # in 0..1 of the picture
        x, y = w.at(frame) or (math.nan, math.nan)
        ankles = skeleton(x, y, w.height)[_ANKLES, :2].mean(axis=0)
        out.append((float(ankles[0]), float(ankles[1])))
    return out


def crop(poses: Poses, win: tuple[float, float, float, float]) -> Poses:
    """``poses`` (source pixels (x, y) of the whole scene's picture) as seen through the window
    ``win`` (0..1), in the same picture size: keypoints outside it score 0, people without an ankle,
    a hip or ``MIN_KEYPOINTS`` keypoints inside are left out, scores are the share seen (x 0.9)."""
    x0, x1, y0, y1 = win
    if (x0, x1, y0, y1) == (0.0, 1.0, 0.0, 1.0):
        return poses
    w, h = poses.frame_size
    kp = poses.keypoints.copy()
    kp[:, :, 0] = (kp[:, :, 0] / w - x0) / (x1 - x0) * w
    kp[:, :, 1] = (kp[:, :, 1] / h - y0) / (y1 - y0) * h
    inside = (kp[:, :, 0] >= 0) & (kp[:, :, 0] < w) & (kp[:, :, 1] >= 0) & (kp[:, :, 1] < h)
    kp[:, :, 2] = np.where(inside, kp[:, :, 2], 0.0)
    kp[:, :, 0] = kp[:, :, 0].clip(0, w - 1)  # where a decoder puts what it cannot see: the border
    kp[:, :, 1] = kp[:, :, 1].clip(0, h - 1)
    count = inside.sum(axis=1)
    seen = inside[:, _HIPS].any(axis=1) & inside[:, _ANKLES].any(axis=1) & (count >= MIN_KEYPOINTS)
    scores = (0.9 * count / inside.shape[1]).astype(np.float32)
    return dataclasses.replace(poses, keypoints=kp[seen], scores=scores[seen], ids=poses.ids[seen])


class SceneSource:
    """One crossing of ``PEOPLE`` synthetic people, computed once, then served at ``fps`` in step
    with the clock (looping: a new scene every crossing) or from its start (``once``: then the end),
    seen through the spec's window (module docstring)."""

    def __init__(self, spec: SourceSpec) -> None:
        self.people = people(spec)
        self.window = window(spec)
        self.spec = spec
        self.size = spec.size or (640, 480)
        self.fps = spec.fps or DEFAULT_FPS
        cut = "" if self.window == (0.0, 1.0, 0.0, 1.0) else " x{:g}..{:g} y{:g}..{:g}".format(*self.window)
        self.name = f"scene of {self.people} people {self.size[0]}x{self.size[1]}{cut}"
        self._frames: list[Poses] = []
        self._pos = 0
        self._index = 0
        self._scene = 0
        self._tick = 0
        self._cycle: int | None = None
        self._pacer = Pacer(self.fps)

    def open(self) -> None:
        """Compute one crossing's poses."""
        n = max(2, round(self.fps * CYCLE_SECONDS))
        frames, _ = scene(walkers(self.people, self.size, n), n, fps=self.fps, size=self.size)
        self._frames = [crop(f, self.window) for f in frames]
        self._pos = 0
        self._scene += 1
        self._tick = 0
        self._cycle = None
        self._pacer = Pacer(self.fps)

    def read(self, timeout: float) -> Poses | None:
        """The next frame's poses when due (source pixels (x, y); times of now), None if not within
        ``timeout``; EndOfSource after one crossing with ``once``."""
        if not self._frames:
            raise SourceError("scene source is not open")
        if self.spec.loop:
            tick = self._next_tick(timeout)
            if tick is None:
                return None
            self._pos = tick % len(self._frames)
            if self._cycle is not None and tick // len(self._frames) != self._cycle:
                self._scene += 1
            self._cycle = tick // len(self._frames)
        else:
            if self._pos >= len(self._frames):
                raise EndOfSource("end of the scene")
            if not self._pacer.wait(timeout):
                return None
        poses = self._frames[self._pos]
        self._pos += 1
        self._index += 1
        return dataclasses.replace(
            poses, frame_index=self._index, t_capture=time.monotonic(), t_wall=time.time(), scene=self._scene
        )

    def _next_tick(self, timeout: float) -> int | None:
        """The wall-clock tick (``floor(time.time() * fps)``) of the next frame, once it has begun
        (the current one after a late read: frames skipped); None if it begins after ``timeout``."""
        now = time.time()
        tick = max(self._tick + 1, math.floor(now * self.fps))
        delay = tick / self.fps - now
        if delay > timeout:
            time.sleep(max(timeout, 0.0))
            return None
        if delay > 0:
            time.sleep(delay)
        self._tick = tick
        return tick

    def close(self) -> None:
        """Forget the poses."""
        self._frames = []


def _offer(host: Host) -> list[dict[str, str]]:
    return [{"source": "scene", "label": "synthetic people, as poses (no camera, no model)"}]


KIND = SourceKind(
    "scene",
    "scene[:PEOPLE][@fps][,WxH][,once][,x0=0,x1=0.6,y0=0,y1=1]",
    SceneSource,
    poses=True,
    order=31,
    params=WINDOW_PARAMS,
    confine=_check,
    offer=_offer,
)
