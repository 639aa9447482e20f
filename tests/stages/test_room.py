"""The room (issue 22) on test scenes: synthetic people with known ids and positions
(``appliance.pose.scenes``) through the real tracker and the room's stages (floor, zones, features,
slots, scene), as the application runs them."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from appliance.pose.scenes import Walker, scene, skeleton
from appliance.types import Poses
from tests.support.room import run_room

W, H = 640, 480
#: A vertical band in the middle of the picture (0..1).
BAND = [[0.4, 0.0], [0.6, 0.0], [0.6, 1.0], [0.4, 1.0]]


def _zone(name: str = "door", points: list[list[float]] = BAND, **kw: object) -> dict[str, object]:
    return {"name": name, "points": points, **kw}


def _members(out: list[Poses], zone: str = "door") -> list[set[int]]:
    return [set(p.extras["zones"][zone].members) for p in out]


def _events(out: list[Poses], key: str, zone: str = "door") -> list[tuple[int, int]]:
    return [(f, pid) for f, p in enumerate(out) for pid in getattr(p.extras["zones"][zone], key)]


# -- zones -----------------------------------------------------------------------------------------
def test_one_person_walking_through_a_zone_enters_and_leaves_once() -> None:
    frames, _ = scene([Walker(1, (40.0, 250.0), (8.0, 0.0))], 70)  # x = 40 .. 592 px, feet at y + 96
    out = run_room(frames, zones=[_zone()])
    inside = [0.4 * W <= p.keypoints[0, [15, 16], 0].mean() <= 0.6 * W if len(p) else False for p in out]
    (pid,) = {int(i) for p in out for i in p.ids.tolist()}
    assert _events(out, "entered") == [(inside.index(True), pid)]
    ((left_at, who),) = _events(out, "left")
    last_inside = len(inside) - 1 - inside[::-1].index(True)
    assert who == pid and last_inside < left_at <= last_inside + 3  # out by more than the margin (0.02 = 13 px)
    counts = [len(m) for m in _members(out)]
    assert counts[inside.index(True)] == 1 and counts[0] == 0 and counts[-1] == 0
    xy = [p.extras["zones"]["door"].xy for p in out if p.extras["zones"]["door"].xy is not None]
    assert xy[0][1] < 0.1 and xy[-1][1] > 0.9 and all(b[1] >= a[1] - 0.02 for a, b in itertools.pairwise(xy))


def test_a_person_standing_on_the_border_does_not_flicker() -> None:
    # feet at x = 0.4 * 640 = 256: the ankle midpoint jitters across the border with 3 px noise
    frames, _ = scene([Walker(1, (256.0, 250.0), (0.0, 0.0))], 150, noise_px=3.0)
    out = run_room(frames, zones=[_zone()])
    xs = [p.keypoints[0, [15, 16], 0].mean() for p in out if len(p)]
    assert min(xs) < 256 < max(xs)  # it does cross, many times
    assert len(_events(out, "entered")) == 1 and _events(out, "left") == []
    assert [len(m) for m in _members(out)][-100:] == [1] * 100


def test_count_is_sent_when_it_changes_and_every_second() -> None:
    frames, _ = scene([Walker(1, (320.0, 250.0), (0.0, 0.0))], 60, fps=15.0)  # 4 s, inside
    out = run_room(frames, zones=[_zone()])
    due = [f for f, p in enumerate(out) if p.extras["zones"]["door"].due]
    counted = next(f for f, p in enumerate(out) if p.extras["zones"]["door"].members)
    assert due[:2] == [0, counted]  # the first frame, then the first frame the person counts (confirmed)
    gaps = np.diff(due[1:])
    assert (gaps == 15).all() and len(due) == 5  # every second (15 frames) after the change


def test_hands_zone_counts_either_wrist() -> None:
    pose = skeleton(300.0, 300.0)
    frames = []
    for f in range(10):
        kp = pose.copy()
        kp[9, :] = (500.0, 100.0, 0.05)  # the left wrist "in" the zone, but not seen: it does not count
        if f >= 5:
            kp[10, :2] = (500.0, 100.0)  # the right wrist reaches into the zone
        frames.append(Poses(kp[None], np.array([0.9], np.float32), np.array([-1], np.int32), (W, H), f, f / 15))
    zone = _zone("shelf", [[0.7, 0.1], [0.9, 0.1], [0.9, 0.3], [0.7, 0.3]], point="hands")
    out = run_room(frames, zones=[zone])
    assert [len(m) for m in _members(out, "shelf")] == [0] * 5 + [1] * 5


# -- slots and the scene -----------------------------------------------------------------------------
def _crossing(frames: int = 90) -> tuple[list[Poses], list[list[int]]]:
    return scene(
        [
            Walker(1, (60.0, 240.0), (6.0, 0.0)),
            Walker(2, (600.0, 270.0), (-6.0, 0.0)),
            Walker(3, (320.0, 100.0), (0.0, 0.0), height=80, hidden=((0, 30),)),  # comes in later, far away
        ],
        frames,
    )


_FRAMES: dict[int, list[Poses]] = {}


def _true(out: list[Poses], truth: list[list[int]], f: int, pid: int) -> int:
    """The true id of tracker id ``pid`` in frame ``f``: the scene's person with the same keypoints
    (the tracker reorders and leaves out the unconfirmed)."""
    kp = out[f].keypoints[out[f].ids.tolist().index(pid)]
    (row,) = [j for j, k in enumerate(_FRAMES[id(out)][f].keypoints) if np.array_equal(k, kp)]
    return truth[f][row]


def _run(frames: list[Poses], **sections: object) -> list[Poses]:
    out = run_room(frames, **sections)
    _FRAMES[id(out)] = frames
    return out


def test_slot_1_keeps_its_person_through_a_crossing() -> None:
    frames, truth = _crossing()
    out = _run(frames, slots={"count": 2, "rule": "leftmost"})
    holders = [p.extras["slots"].ids for p in out]
    first = next(f for f, h in enumerate(holders) if h[0] is not None)
    assert len({h[0] for h in holders[first:]}) == 1 and len({h[1] for h in holders[first:]}) == 1
    slot1 = [_true(out, truth, f, holders[f][0]) for f in range(first, len(out))]
    assert set(slot1) == {1}  # the leftmost at the start keeps slot 1 after they swap sides
    assert 3 not in {_true(out, truth, f, h[1]) for f, h in enumerate(holders[first:], first) if h[1] is not None}
    changed = [c for p in out for c in p.extras["slots"].changed]
    assert changed == [(1, 1), (2, 1)]


def test_a_free_slot_goes_by_the_rule() -> None:
    frames, truth = _crossing(60)
    for rule, expected in (("longest", {1, 2}), ("closest", {1, 2})):
        out = _run(frames, slots={"count": 3, "rule": rule})
        third = {_true(out, truth, f, p.extras["slots"].ids[2]) for f, p in enumerate(out) if p.extras["slots"].ids[2]}
        assert third == {3}, rule  # the late-comer gets the free slot 3
        assert {_true(out, truth, 59, i) for i in out[-1].extras["slots"].ids[:2]} == expected
    zone = _zone("stage", [[0.45, 0.0], [0.55, 0.0], [0.55, 1.0], [0.45, 1.0]])
    out = _run(frames, zones=[zone], slots={"count": 1, "rule": "zone", "zone": "stage"})
    holders = {_true(out, truth, f, p.extras["slots"].ids[0]) for f, p in enumerate(out) if p.extras["slots"].ids[0]}
    assert holders == {3}  # the one standing in the zone (the walkers reach it after frame 30)


def test_a_slot_is_freed_when_its_person_leaves() -> None:
    frames, truth = scene(
        [
            Walker(1, (100.0, 250.0), (0.0, 0.0), hidden=((20, 60),)),
            Walker(2, (400.0, 250.0), (0.0, 0.0), hidden=((0, 30),)),
        ],
        60,
    )
    out = _run(frames, slots={"count": 1})
    changed = [(f, c) for f, p in enumerate(out) for c in p.extras["slots"].changed]
    assert [c for _, c in changed] == [(1, 1), (1, 1)]  # person 1, then (after their leave) person 2
    assert _true(out, truth, 59, out[59].extras["slots"].ids[0]) == 2


def test_the_scene_lists_exactly_the_people_present_in_every_frame() -> None:
    frames, _ = _crossing()
    out = run_room(frames)
    for p in out:
        assert set(p.extras["scene"].ids) == set(p.ids.tolist()) and len(p.extras["scene"].ids) == len(p)
    due = [f for f, p in enumerate(out) if p.extras["scene"].due]
    assert max(np.diff(due)) <= 8  # at least twice a second at 15 fps, and whenever it changes


# -- features ----------------------------------------------------------------------------------------
def _raising(frames: int, raised: list[tuple[int, int]], glitch: tuple[int, ...] = ()) -> list[Poses]:
    rng = np.random.default_rng(1)
    out = []
    for f in range(frames):
        kp = skeleton(320.0, 260.0)
        kp[:, :2] += rng.normal(0, 1.5, (17, 2)).astype(np.float32)
        if any(a <= f < b for a, b in raised) or f in glitch:
            kp[9, 1] = kp[5, 1] - 40  # the left wrist above the left shoulder
        out.append(Poses(kp[None], np.array([0.9], np.float32), np.array([-1], np.int32), (W, H), f, 1000 + f / 15))
    return out


def test_hands_raised_switch_once_per_raise() -> None:
    frames = _raising(120, [(20, 50), (80, 100)], glitch=(65, 66))  # two raises; a 2-frame glitch (0.13 s)
    out = run_room(frames, features={"hands_seconds": 0.25})
    left = [p.extras["features"].hands[0][0] if len(p) else 0 for p in out]
    switches = [f for f in range(1, len(left)) if left[f] != left[f - 1]]
    assert len(switches) == 4 and [left[f] for f in switches] == [1, 0, 1, 0]
    assert switches[0] == 20 + 4  # 0.25 s at 15 fps: the 4th frame raised
    assert all(p.extras["features"].hands[0][1] == 0 for p in out if len(p))  # the right hand never


def test_speed_and_energy_are_in_person_heights_per_second() -> None:
    near, _ = scene([Walker(1, (100.0, 240.0), (10.0, 0.0), height=300)], 45, noise_px=0.0)
    far, _ = scene([Walker(1, (100.0, 240.0), (5.0, 0.0), height=150)], 45, noise_px=0.0)
    for frames in (near, far):
        f = run_room(frames)[-1].extras["features"]
        step = 10.0 if frames is near else 5.0
        height = 202 / 200 * (300 if frames is near else 150)  # the template spans 202 px (eyes to ankles)
        expected = 15.0 * step / height  # px per second / height: the same for both
        assert f.speed[0] == pytest.approx(expected, rel=0.02) and f.energy[0] == pytest.approx(expected, rel=0.02)
    still = run_room(scene([Walker(1, (300.0, 240.0), (0.0, 0.0))], 45)[0])[-1].extras["features"]
    assert still.speed[0] < 0.15 and still.energy[0] < 0.3  # noise only (1.5 px a frame)


# -- the floor ---------------------------------------------------------------------------------------
IMAGE = [[0.1, 0.95], [0.9, 0.95], [0.7, 0.45], [0.3, 0.45]]  # a rectangle on the floor, seen in perspective
FLOOR = [[0.0, 0.0], [4.0, 0.0], [4.0, 6.0], [0.0, 6.0]]  # 4 m wide, 6 m deep


def _dlt(src: list[list[float]], dst: list[list[float]]) -> np.ndarray:
    """The homography by SVD (an independent method: not the box's)."""
    rows = []
    for (x, y), (u, v) in zip(src, dst, strict=True):
        rows += [[-x, -y, -1, 0, 0, 0, u * x, u * y, u], [0, 0, 0, -x, -y, -1, v * x, v * y, v]]
    h = np.linalg.svd(np.array(rows))[2][-1].reshape(3, 3)
    return h / h[2, 2]


def _to(h: np.ndarray, x: float, y: float) -> np.ndarray:
    q = h @ np.array([x, y, 1.0])
    return q[:2] / q[2]


def test_floor_positions_are_the_homography_of_the_feet() -> None:
    to_image = _dlt(FLOOR, IMAGE)
    spots = [(1.0, 1.0), (3.0, 4.0)]  # metres: where the two people stand
    walkers = []
    for i, (fx, fy) in enumerate(spots):
        ix, iy = _to(to_image, fx, fy) * [W, H]
        walkers.append(Walker(i + 1, (float(ix), float(iy) - 96 * 0.8), (0.0, 0.0), height=160))  # feet at (ix, iy)
    frames, _ = scene(walkers, 10, noise_px=0.0)
    out = run_room(frames, floor={"image": IMAGE, "floor": FLOOR})[-1]
    view = out.extras["floor"]
    to_floor = _dlt(IMAGE, FLOOR)
    for j in range(2):
        feet = out.keypoints[j, [15, 16], :2].mean(axis=0) / [W, H]
        assert np.abs(view.xy[j] - _to(to_floor, *feet)).max() < 0.01  # the reported feet, within 1 cm
    got = sorted(map(tuple, np.round(view.xy, 2)))
    assert got == [pytest.approx(s, abs=0.01) for s in spots]
    assert view.metres.tolist() == pytest.approx([np.hypot(2.0, 3.0)] * 2, abs=0.01)
    assert view.nearest.tolist() == out.ids.tolist()[::-1]  # each the other's nearest


def test_hidden_feet_are_estimated_from_hips_and_torso() -> None:
    kp = skeleton(320.0, 240.0)
    kp[[15, 16], 2] = 0.05  # ankles not seen
    frames = [
        Poses(kp[None], np.array([0.9], np.float32), np.array([-1], np.int32), (W, H), f, f / 15) for f in range(4)
    ]
    out = run_room(frames, floor={"image": IMAGE, "floor": FLOOR})[-1]
    true = _to(_dlt(IMAGE, FLOOR), 320.0 / W, (240.0 + 96) / H)
    est = out.extras["floor"].xy[0]
    assert 0 < np.hypot(*(est - true)) < 0.1  # the template's legs are 96/76 = 1.263 torsos: off by millimetres


def test_a_floor_zone_counts_on_the_floor_and_nobody_without_calibration() -> None:
    to_image = _dlt(FLOOR, IMAGE)
    ix, iy = _to(to_image, 2.0, 3.0) * [W, H]
    frames, _ = scene([Walker(1, (float(ix), float(iy) - 96), (0.0, 0.0))], 8, noise_px=0.0)
    zone = _zone("centre", [[1.5, 2.5], [2.5, 2.5], [2.5, 3.5], [1.5, 3.5]], space="floor")
    out = run_room(frames, zones=[zone], floor={"image": IMAGE, "floor": FLOOR})
    assert len(out[-1].extras["zones"]["centre"].members) == 1
    assert out[-1].extras["zones"]["centre"].xy[1:] == pytest.approx((0.5, 0.5), abs=0.02)
    out = run_room(frames, zones=[zone])
    assert len(out[-1].extras["zones"]["centre"].members) == 0


def test_nothing_on_the_floor_before_calibration() -> None:
    frames, _ = scene([Walker(1, (300.0, 240.0), (0.0, 0.0))], 3)
    out = run_room(frames, zones=[_zone("far", [[0, 0], [9, 0], [9, 9]], space="floor")])[-1]
    assert out.extras["floor"] is None and not out.extras["zones"]["far"].members


def test_closest_on_a_calibrated_floor_is_nearest_the_bottom_of_the_picture() -> None:
    to_image = _dlt(FLOOR, IMAGE)
    walkers = []
    for i, (fx, fy, height) in enumerate([(1.0, 5.0, 200.0), (3.0, 0.5, 80.0)]):  # the near one drawn small
        ix, iy = _to(to_image, fx, fy) * [W, H]
        walkers.append(Walker(i + 1, (float(ix), float(iy) - 96 * height / 200), (0.0, 0.0), height=height))
    frames, truth = scene(walkers, 6, noise_px=0.0)
    near = _run(frames, floor={"image": IMAGE, "floor": FLOOR}, slots={"count": 1, "rule": "closest"})
    assert _true(near, truth, 5, near[-1].extras["slots"].ids[0]) == 2  # 0.5 m from the front edge
    big = _run(frames, slots={"count": 1, "rule": "closest"})
    assert _true(big, truth, 5, big[-1].extras["slots"].ids[0]) == 1  # no floor: the largest


def test_counts_follow_the_people_crossing_a_zone_within_its_margin() -> None:
    """Three people (two crossing, one coming later): each frame's count is at least the people whose
    feet are inside and at most those inside or within the margin outside (the hysteresis), and
    every enter has its leave once the person is out."""
    frames, _ = _crossing(90)
    out = run_room(frames, zones=[_zone()])
    for p in out:
        feet = p.keypoints[:, [15, 16], :2].mean(axis=1) / [W, H]
        x = feet[:, 0]
        inside = int(((x >= 0.4) & (x <= 0.6)).sum())
        near = int(((x >= 0.4 - 0.021) & (x <= 0.6 + 0.021)).sum())
        assert inside <= len(p.extras["zones"]["door"].members) <= near
    entered, left = _events(out, "entered"), _events(out, "left")
    assert sorted(pid for _, pid in entered) == sorted({pid for _, pid in entered})  # once each
    assert len(entered) == 3 and len(left) == 2  # the standing one stays in
    assert {pid for _, pid in left} < {pid for _, pid in entered}
