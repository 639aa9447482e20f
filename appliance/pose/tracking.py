"""Stable person ids across frames, through short occlusions, with enter and leave events.

Matching is on keypoint similarity, not array position: OKS (COCO's object keypoint similarity)
between each detection and each known person's *predicted* keypoints (their last keypoints moved
by their recent velocity, so two people crossing keep their ids), greedily from the most similar
pair down to ``min_similarity``.

* A new detection starts a *tentative* person; after ``confirm_frames`` frames in a row it is
  confirmed: it gets reported from then on, and its id appears in ``Poses.entered`` once. A
  tentative person missing a frame is dropped (a one-frame false detection never appears).
* A confirmed person unseen for longer than ``grace_seconds`` (capture time) is forgotten and
  their id appears in ``Poses.left`` once. Until then they keep their id when they reappear.
* A cut (``Poses.scene`` differs from the previous frame's: the next photo of a slideshow) is a new
  scene: everyone confirmed leaves with that frame, and its people are new, confirmed as above.
* Ids are never reused while the process runs (``reset`` keeps counting).

All coordinates here are **source pixels (x, y)**. Pure given its inputs; runs on the "send" thread.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from appliance.pose.params import TrackingConfig
from appliance.types import Poses, confident_boxes

__all__ = ["COCO_SIGMAS", "Tracker", "oks", "oks_matrix"]

#: COCO's per-keypoint standard deviations (PoseNet / COCO keypoint order), the OKS falloff.
COCO_SIGMAS = np.array(
    [0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89],
    np.float32,
) / np.float32(10.0)
_K2 = (2 * COCO_SIGMAS) ** 2
#: Keypoints below this score are not compared (nor used for a person's area or velocity).
MIN_KEYPOINT_SCORE = 0.2
#: The smallest area (source pixels squared) OKS scales by: keeps tiny or degenerate poses sane.
MIN_AREA = 32.0 * 32.0
#: Velocity is predicted for at most this long (seconds): a person hidden longer is looked for where
#: they were last heading, not extrapolated across the frame.
MAX_PREDICT = 0.5


def _areas(kps: NDArray[np.float32]) -> NDArray[np.float64]:
    """Per pose of (N, 17, 3), the area (source pixels squared) of its confident keypoints' box, at
    least MIN_AREA (float32 sides, their product in float32, as OKS has always used it)."""
    box = confident_boxes(kps, MIN_KEYPOINT_SCORE)
    span = box[:, 2:] - box[:, :2]
    out: NDArray[np.float64] = np.maximum((span[:, 0] * span[:, 1]).astype(np.float64), MIN_AREA)
    return out


def _centres(kps: NDArray[np.float32]) -> NDArray[np.float32]:
    """Per pose of (N, 17, 3), the mean (x, y) of its confident keypoints (of all 17 if none is): a
    float32 sum in index order, as ``ndarray.mean`` sums a few points."""
    ok = kps[:, :, 2] >= MIN_KEYPOINT_SCORE
    ok |= (ok.sum(axis=1) == 0)[:, None]
    sums = np.where(ok[:, :, None], kps[:, :, :2], np.float32(0.0)).cumsum(axis=1, dtype=np.float32)[:, -1]
    out: NDArray[np.float32] = sums / ok.sum(axis=1, dtype=np.float32)[:, None]
    return out


def oks_matrix(a: NDArray[np.float32], b: NDArray[np.float32], areas: NDArray[np.float64]) -> NDArray[np.float64]:
    """Object keypoint similarity (0..1) of every pose of ``a`` (n, 17, 3) with every pose of ``b``
    (m, 17, 3), (x, y, score) in source pixels, over the keypoints confident in both, at the scale
    ``areas`` (m,) of ``b``'s poses (pixels squared): (n, m); 0 where no keypoint is confident in both."""
    both = (a[:, None, :, 2] >= MIN_KEYPOINT_SCORE) & (b[None, :, :, 2] >= MIN_KEYPOINT_SCORE)
    d2 = ((a[:, None, :, :2] - b[None, :, :, :2]) ** 2).sum(axis=3)
    e = np.exp(-d2 / (2 * areas[None, :, None] * _K2))
    counts = both.sum(axis=2)
    out: NDArray[np.float64] = np.where(counts > 0, (e * both).sum(axis=2) / np.maximum(counts, 1), 0.0)
    return out


def oks(a: NDArray[np.float32], b: NDArray[np.float32], area: float) -> float:
    """Object keypoint similarity (0..1) of two poses (17, 3) = (x, y, score) in source pixels,
    over the keypoints confident in both, at scale ``area`` (pixels squared); 0 if none are."""
    return float(oks_matrix(a[None], b[None], np.array([area]))[0, 0])


@dataclass(slots=True)
class _Person:
    id: int
    keypoints: NDArray[np.float32]  # last seen (17, 3)
    seen: float  # capture time last seen
    centre: NDArray[np.float32]  # of ``keypoints`` (2,): the mean of the confident ones
    area: float  # of ``keypoints``: their box's (pixels squared), at least MIN_AREA
    hits: int = 1  # frames in a row while tentative
    confirmed: bool = False
    velocity: NDArray[np.float32] = field(default_factory=lambda: np.zeros(2, np.float32))  # px/s


class Tracker:
    """A PoseStage: fills ``ids`` (confirmed people only are reported), ``entered`` and ``left``."""

    name = "tracking"

    def __init__(self, config: TrackingConfig | None = None) -> None:
        self.config = config if config is not None else TrackingConfig()
        self._next = 0
        self._people: list[_Person] = []
        self._pending_left: list[int] = []
        self._scene: int | None = None

    def reset(self) -> None:
        """Forget everyone (a new source or model): the confirmed leave with the next frame; ids
        keep increasing, so an id is never reused."""
        self._pending_left += [p.id for p in self._people if p.confirmed]
        self._people = []

    def __call__(self, poses: Poses) -> Poses:
        """Same as ``update``."""
        return self.update(poses)

    def update(self, poses: Poses) -> Poses:
        """This frame's confirmed people with their ids, and the frame's events (a new value); a
        frame whose source tracked it (``Poses.tracked``: a hub's global ids) is kept as it is."""
        if poses.tracked:
            return poses
        cfg, t = self.config, poses.t_capture
        if poses.scene != self._scene:
            if self._scene is not None:
                self.reset()  # a cut: nobody here is anybody seen before it
            self._scene = poses.scene
        n = len(poses)
        kps = poses.keypoints
        centres, areas = _centres(kps), _areas(kps)
        match = self._match(kps, t, cfg.min_similarity) if n and self._people else {}
        entered: list[int] = []
        left, self._pending_left = self._pending_left, []
        survivors: list[_Person] = []
        report = np.full(n, -1, np.int32)
        matched_people = set()
        for i in range(n):
            j = match.get(i)
            if j is None:
                person = _Person(self._next, kps[i].copy(), t, centres[i], float(areas[i]))
                self._next += 1
            else:
                person = self._people[j]
                matched_people.add(j)
                dt = t - person.seen
                if dt > 0:
                    step = (centres[i] - person.centre) / np.float32(dt)
                    person.velocity = (0.5 * person.velocity + 0.5 * step).astype(np.float32)
                person.keypoints, person.seen = kps[i].copy(), t
                person.centre, person.area = centres[i], float(areas[i])
                person.hits += 1
            if not person.confirmed and person.hits >= cfg.confirm_frames:
                person.confirmed = True
                entered.append(person.id)
            if person.confirmed:
                report[i] = person.id
            survivors.append(person)
        for j, person in enumerate(self._people):
            if j in matched_people:
                continue
            if person.confirmed and t - person.seen <= cfg.grace_seconds:
                survivors.append(person)  # unseen, within its grace time: keeps its id
            elif person.confirmed:
                left.append(person.id)
            # a tentative person missing a frame is dropped without a word
        self._people = survivors
        keep = report >= 0
        return dataclasses.replace(
            poses,
            keypoints=poses.keypoints[keep],
            scores=poses.scores[keep],
            ids=report[keep],
            entered=np.array(entered, np.int32),
            left=np.array(left, np.int32),
        )

    def _match(self, kps: NDArray[np.float32], t: float, least: float) -> dict[int, int]:
        """detection index -> known person index, greedily by OKS against predicted keypoints."""
        people = self._people
        # Where each known person is now: their last keypoints moved by their velocity, for at most
        # MAX_PREDICT seconds.
        predicted = np.stack([p.keypoints for p in people])
        ahead = np.array([min(max(t - p.seen, 0.0), MAX_PREDICT) for p in people], np.float32)
        predicted[:, :, :2] += np.stack([p.velocity for p in people])[:, None, :] * ahead[:, None, None]
        areas = np.array([p.area for p in people])
        sim = oks_matrix(kps, predicted, areas)
        out: dict[int, int] = {}
        taken: set[int] = set()
        for flat in np.argsort(-sim, axis=None):
            i, j = divmod(int(flat), sim.shape[1])
            if sim[i, j] < least:
                break
            if i not in out and j not in taken:
                out[i] = j
                taken.add(j)
        return out
