"""Fusion on the floor with global ids, on synthetic per-box floor tracks (metres, (x, y)): two boxes
whose views overlap between x = 3 and 4 m, calibrated separately (box B reads 0.15 m off), with
noise; one person walks through the overlap from A's view into B's."""

from __future__ import annotations

import numpy as np

from appliance.pose.fusion import MAX_OBSERVATIONS, MAX_TRACKS, FloorFusion, Observation

FPS = 15


def walk(seed: int = 1) -> list[list[Observation]]:
    """Each frame's observations: P walks (0.5, 2) -> (6.5, 2) at 1 m/s (A sees x < 4, as its id 1;
    B sees x > 3, as its id 7); Q stands at (2, 1) (A, id 2); R at (5, 3) (B, id 8)."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(int(6.0 * FPS)):
        x = 0.5 + i / FPS
        noise = rng.normal(0, 0.05, 4)
        obs = [Observation("A", 2, 0.9, (2.0 + noise[0], 1.0)), Observation("B", 8, 0.8, (5.0, 3.0 + noise[1]))]
        if x < 4.0:
            obs.append(Observation("A", 1, 0.7, (x + noise[2], 2.0)))
        if x > 3.0:
            obs.append(Observation("B", 7, 0.6, (x + 0.15 + noise[3], 2.0)))
        frames.append(obs)
    return frames


def test_a_person_walking_from_one_view_into_the_other_keeps_one_global_id() -> None:
    fusion = FloorFusion(distance=0.5)
    gids_of_p: set[int] = set()
    counts = set()
    entered_all: list[int] = []
    for i, obs in enumerate(walk()):
        people, entered, left = fusion.update(obs, i / FPS)
        entered_all += entered
        assert not left
        counts.add(len(people))
        for p in people:
            if any((m.box, m.local) in (("A", 1), ("B", 7)) for m in p.members):
                gids_of_p.add(p.gid)
                assert p.floor is not None and abs(p.floor[1] - 2.0) < 0.1
    assert len(gids_of_p) == 1  # one person, one global id, across both views
    assert counts == {3}  # P, Q and R: each real person once, in every frame (the overlap too)
    assert sorted(entered_all) == [1, 2, 3]


def test_in_the_overlap_both_boxes_are_one_person_seen_by_both() -> None:
    fusion = FloorFusion()
    frames = walk()
    overlap = next(i for i, obs in enumerate(frames) if len(obs) == 4)
    for i, obs in enumerate(frames[: overlap + 1]):
        people, _, _ = fusion.update(obs, i / FPS)
    p = next(p for p in people if len(p.members) == 2)
    assert p.boxes == ["A", "B"] and p.members[0].box == "A"  # best score first


def test_one_boxs_people_are_never_fused_with_each_other() -> None:
    fusion = FloorFusion(distance=0.5)
    close = [Observation("A", 1, 0.9, (1.0, 1.0)), Observation("A", 2, 0.9, (1.2, 1.0))]
    people, entered, _ = fusion.update(close, 0.0)
    assert len(people) == 2 and len(entered) == 2


def test_without_floor_positions_nobody_is_fused_across_boxes() -> None:
    fusion = FloorFusion()
    people, _, _ = fusion.update([Observation("A", 1, 0.9), Observation("B", 1, 0.9)], 0.0)
    assert len(people) == 2 and len({p.gid for p in people}) == 2
    again, entered, _ = fusion.update([Observation("A", 1, 0.9), Observation("B", 1, 0.9)], 0.1)
    assert {p.gid for p in again} == {p.gid for p in people} and not entered  # ids stay


def test_a_dropped_box_takes_only_the_people_nobody_else_sees() -> None:
    fusion = FloorFusion()
    both = [Observation("A", 1, 0.9, (3.5, 2.0)), Observation("B", 7, 0.8, (3.6, 2.0))]
    only_a = Observation("A", 2, 0.9, (1.0, 1.0))
    people, _, _ = fusion.update([*both, only_a], 0.0)
    shared = next(p.gid for p in people if len(p.members) == 2)
    alone = next(p.gid for p in people if len(p.members) == 1)
    fusion.forget_box("A")
    people, entered, left = fusion.update([both[1]], 0.1)
    assert [p.gid for p in people] == [shared] and left == [alone] and not entered


def test_two_tracks_that_turn_out_to_be_one_person_keep_the_older_id() -> None:
    fusion = FloorFusion(distance=0.5)
    people, _, _ = fusion.update([Observation("A", 1, 0.9, (1.0, 1.0)), Observation("B", 1, 0.9, (2.0, 1.0))], 0.0)
    older, newer = sorted(p.gid for p in people)
    people, _, left = fusion.update([Observation("A", 1, 0.9, (1.5, 1.0)), Observation("B", 1, 0.9, (1.6, 1.0))], 0.1)
    assert [p.gid for p in people] == [older] and left == [newer]


def test_tracks_not_seen_for_the_forget_time_leave() -> None:
    fusion = FloorFusion(forget_seconds=2.0)
    people, _, _ = fusion.update([Observation("A", 1, 0.9, (1.0, 1.0))], 0.0)
    assert fusion.update([], 1.0)[2] == []  # unseen a second: still somebody
    assert fusion.update([], 2.5)[2] == [people[0].gid]


def test_observations_beyond_the_cap_are_left_out_and_counted() -> None:
    fusion = FloorFusion()
    many = [Observation(f"b{i % 8}", i, 0.5, (float(i), 0.0)) for i in range(MAX_OBSERVATIONS + 44)]
    people, _, _ = fusion.update(many, 0.0)
    assert len(people) == MAX_OBSERVATIONS and fusion.left_out == 44


def test_a_box_inventing_new_ids_every_frame_cannot_grow_the_table() -> None:
    fusion = FloorFusion(forget_seconds=2.0)
    for f in range(300):  # 300 frames within the forget time, 32 new ids each
        fusion.update([Observation("evil", f * 32 + k, 0.5) for k in range(32)], f * 0.001)
    assert len(fusion._global) == MAX_TRACKS
