"""Calibration help on synthetic walks (metres on the floor, (x, y)): the rigid correction between two
boxes' floor frames is found from the moments each saw the one person walking through the overlap."""

from __future__ import annotations

import math

import numpy as np
import pytest

from appliance.pose.calibrate import MAX_PAIRS, MIN_PAIRS, PairCollector, Restarts, corrected, rigid_2d


def moved(points: np.ndarray, degrees: float, dx: float, dy: float) -> np.ndarray:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return points @ np.array([[c, -s], [s, c]]).T + np.array([dx, dy])


def test_the_correction_of_a_box_off_by_a_rotation_and_a_shift_is_found_despite_noise() -> None:
    rng = np.random.default_rng(3)
    walk = np.stack([np.linspace(3.0, 4.5, 60), 2.0 + 0.5 * np.sin(np.linspace(0, 3, 60))], axis=1)
    seen_by_b = moved(walk, -4.0, 0.3, -0.2) + rng.normal(0, 0.02, walk.shape)  # B: 4 degrees and 36 cm off
    theta, dx, dy, rms = rigid_2d(seen_by_b, walk)
    back = moved(seen_by_b, math.degrees(theta), dx, dy)
    assert math.degrees(theta) == pytest.approx(4.0, abs=0.5)
    assert float(np.abs(back - walk).max()) < 0.08 and rms < 0.04


def test_pairs_only_when_each_box_sees_exactly_one_person_and_the_walk_spreads() -> None:
    pairs = PairCollector()
    for i in range(MIN_PAIRS + 5):
        x = 3.0 + 0.05 * i
        pairs.add({"A": [(x, 2.0)], "B": [(x + 0.1, 2.0)], "C": [(1.0, 1.0), (2.0, 2.0)]})
        pairs.add({"A": [(x, 2.0), (5.0, 5.0)], "B": [(0.0, 0.0)]})  # A sees two: no pair
    [correction] = pairs.corrections()
    assert (correction.box, correction.reference, correction.pairs) == ("B", "A", MIN_PAIRS + 5)
    assert correction.dx == pytest.approx(-0.1, abs=1e-6) and correction.degrees == pytest.approx(0.0, abs=1e-6)
    still = PairCollector()
    for _ in range(100):
        still.add({"A": [(3.0, 2.0)], "B": [(3.1, 2.0)]})  # standing still fixes no rotation: nothing offered
    assert still.corrections() == []


def test_pairs_are_bounded_and_a_box_can_start_over() -> None:
    pairs = PairCollector()
    for i in range(MAX_PAIRS + 500):
        pairs.add({"A": [(i * 0.002, 0.0)], "B": [(i * 0.002, 0.1)]})
    [correction] = pairs.corrections()
    assert correction.pairs == MAX_PAIRS
    pairs.forget("B")
    assert pairs.corrections() == []


def test_corrected_rotates_floor_marks_about_the_origin_then_shifts_them() -> None:
    marks = [[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0]]
    out = corrected(marks, 90.0, 1.0, -0.5)  # (x, y) -> (-y, x), then + (1, -0.5)
    assert np.allclose(out, [[1.0, -0.5], [1.0, 1.5], [-1.0, 1.5], [-1.0, -0.5]])
    assert corrected(marks, 0.0, 0.0, 0.0) == marks


def test_a_box_moved_by_its_correction_lands_on_the_reference() -> None:
    rng = np.random.default_rng(5)
    walk = np.stack([np.linspace(1.0, 3.0, 80), 1.5 + 0.6 * np.cos(np.linspace(0, 4, 80))], axis=1)
    seen_by_b = moved(walk, 7.0, -0.4, 0.25)  # B's floor: 7 degrees and 47 cm off the reference's
    pairs = PairCollector(Restarts())
    for ref, b in zip(walk, seen_by_b + rng.normal(0, 0.01, walk.shape), strict=True):
        pairs.add({"A": [tuple(ref)], "B": [tuple(b)]})
    [c] = pairs.corrections()
    back = np.array(corrected(seen_by_b.tolist(), c.degrees, c.dx, c.dy))
    assert float(np.abs(back - walk).max()) < 0.03, c
    marks_b = moved(np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0]]), 7.0, -0.4, 0.25)
    assert np.allclose(corrected(marks_b.tolist(), c.degrees, c.dx, c.dy), [[0, 0], [2, 0], [2, 2], [0, 2]], atol=0.03)


def test_each_walk_has_a_number_of_its_own_and_a_restart_asked_from_elsewhere_starts_a_new_one() -> None:
    restarts = Restarts()
    pairs = PairCollector(restarts)
    for i in range(MIN_PAIRS):
        pairs.add({"A": [(0.05 * i, 0.0)], "B": [(0.05 * i, 1.0)], "C": [(0.05 * i, 2.0)]})
    first = {c.box: c.walk for c in pairs.corrections()}
    assert set(first) == {"B", "C"} and first["B"] != first["C"] and min(first.values()) >= 1
    restarts.ask("B")
    assert [c.box for c in pairs.corrections()] == ["C"]  # B's pairs forgotten at once
    for i in range(MIN_PAIRS):
        pairs.add({"A": [(0.05 * i, 0.0)], "B": [(0.05 * i, 0.5)], "C": [(0.05 * i, 2.0)]})
    again = {c.box: c.walk for c in pairs.corrections()}
    assert again["C"] == first["C"] and again["B"] not in first.values()
    assert restarts.take() == set()


def test_one_moment_fused_once_per_box_counts_once() -> None:
    """The hub fuses at every box's frame: the same two frames paired again are one moment, not two."""
    pairs = PairCollector(Restarts())
    for i in range(MIN_PAIRS + 10):
        x = 0.05 * i
        for _ in range(3):  # three boxes' frames fused with the same A and B frames
            pairs.add({"A": [(x, 0.0)], "B": [(x, 1.0)]}, {"A": i, "B": i})
        pairs.add({"A": [(x, 0.0)], "B": [(x, 1.0)]}, {"A": i, "B": i + 1000})  # B's next frame: a new moment
    [correction] = pairs.corrections()
    assert correction.pairs == 2 * (MIN_PAIRS + 10)


def test_a_walk_started_over_is_counted_so_a_cached_offer_is_known_stale() -> None:
    """The hub caches its offer for a second; ``changes`` moves the moment a walk starts over (an
    applied correction), so the stale offer is dropped at the next frame, not a second later."""
    restarts = Restarts()
    pairs = PairCollector(restarts)
    for i in range(MIN_PAIRS):
        pairs.add({"A": [(0.05 * i, 0.0)], "B": [(0.05 * i, 1.0)]})
    assert pairs.corrections() and pairs.changes == 0
    restarts.ask("B")
    pairs.add({"A": [(0.0, 0.0)], "B": [(0.0, 1.0)]})
    assert pairs.changes == 1 and pairs.corrections() == []
