"""The floor a box's picture sees (``appliance.pose.room.footprint``, sent by the floor stage as
``/posenet/view/floor``): the picture's rectangle 0..1 cut short of the horizon and mapped to the
floor, metres (x, y). Known homographies: a camera looking straight down sees a rectangle; a tilted
one a trapezoid whose far edge is cut within ``VIEW_REACH`` of the marks; a rolled one a pentagon."""

from __future__ import annotations

import numpy as np

from appliance.output.osc.base import OutputOptions
from appliance.output.osc.wire import parse_message
from appliance.pose.room import VIEW_REACH, Polygon, clip_half_plane, footprint, homography, inside, project
from appliance.pose.scenes import Walker, scene
from appliance.stages import STAGES
from tests.support.room import run_room

PICTURE = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
TAPE = np.array([[0.0, 0.0], [4.0, 0.0], [4.0, 6.0], [0.0, 6.0]])  # the taped rectangle, metres


def _w(h: np.ndarray, uv: np.ndarray) -> np.ndarray:
    return uv @ h[2, :2] + h[2, 2]


def test_a_camera_looking_straight_down_sees_the_rectangle() -> None:
    image = np.array([[0.0, 1.0], [1.0, 1.0], [1.0, 0.0], [0.0, 0.0]])  # the whole picture is the tape
    h = homography(image, TAPE)
    got = footprint(h, image, TAPE)
    assert got.shape == (4, 2)
    assert np.abs(got - [[0, 6], [4, 6], [4, 0], [0, 0]]).max() < 1e-9  # top-left first, clockwise in the picture


def test_a_tilted_camera_sees_a_trapezoid_cut_short_of_the_horizon() -> None:
    image = np.array([[0.1, 0.9], [0.9, 0.9], [0.6, 0.5], [0.4, 0.5]])  # the tape in perspective
    h = homography(image, TAPE)
    w = _w(h, PICTURE)
    assert (w[:2] * w[2:] < 0).all()  # the horizon crosses the picture: its top maps behind the camera
    got = footprint(h, image, TAPE)
    assert got.shape == (4, 2) and np.isfinite(got).all()
    distance = np.hypot(*(got - TAPE.mean(axis=0)).T)
    assert distance.max() <= VIEW_REACH + 1e-6 and distance.max() > 15  # far, but bounded
    for corner in project(h, PICTURE[2:]):  # the picture's bottom corners are kept as they are
        assert np.abs(got - corner).max(axis=1).min() < 1e-9
    area = Polygon.of(got.tolist())
    assert inside(area, TAPE + np.array([[0.1, 0.1], [-0.1, 0.1], [-0.1, -0.1], [0.1, -0.1]])).all()  # the tape is seen
    assert not inside(area, np.array([[2.0, -2.0], [2.0, 60.0]])).any()  # behind the camera, beyond the reach


def test_a_rolled_camera_is_cut_across_a_corner() -> None:
    """The horizon crosses the picture from its left edge to its top edge (u / 0.4 + v / 0.3 = 1):
    the top-left corner cut off, five corners left."""
    rolled = np.array([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [2.5, 10 / 3, -1.0]])
    image = np.array([[0.3, 0.6], [0.8, 0.6], [0.8, 0.9], [0.3, 0.9]])
    floor = project(rolled, image)
    h = homography(image, floor)
    assert _w(h, PICTURE[:1])[0] * _w(h, image).mean() < 0  # the top-left corner is beyond the horizon
    got = footprint(h, image, floor)
    assert got.shape == (5, 2) and np.isfinite(got).all()
    distance = np.hypot(*(got - floor.mean(axis=0)).T)
    assert 10 < distance.max() <= VIEW_REACH + 1e-6
    for corner in project(h, PICTURE[1:]):  # the three others are kept as they are
        assert np.abs(got - corner).max(axis=1).min() < 1e-9


def test_the_cut_keeps_one_side_of_a_line_and_adds_at_most_one_corner() -> None:
    square = PICTURE.copy()
    assert np.allclose(clip_half_plane(square, np.array([1.0, 1.0, 1.0, 1.0])), square)
    assert len(clip_half_plane(square, -np.ones(4))) == 0
    cut = clip_half_plane(square, 1.5 - square.sum(axis=1))  # x + y <= 1.5: the corner (1, 1) cut off
    assert len(cut) == 5 and np.allclose(cut[2:4], [[1.0, 0.5], [0.5, 1.0]])


def test_the_floor_stage_sends_its_view_every_frame_first_in_its_bundle() -> None:
    image = [[0.1, 0.9], [0.9, 0.9], [0.6, 0.5], [0.4, 0.5]]
    frames, _ = scene([Walker(1, (320.0, 300.0), (2.0, 0.0))], 10)
    encode = STAGES["floor"].extra.encode  # type: ignore[union-attr]
    for poses in run_room(frames, floor={"image": image, "floor": TAPE.tolist()})[-3:]:
        sent = [parse_message(m) for m in encode(poses, OutputOptions())]
        address, args = sent[0]
        assert address == "/posenet/view/floor" and args[0] == 4 and len(args) == 9
        expected = footprint(homography(np.array(image), TAPE), np.array(image), TAPE)
        assert np.allclose(np.array(args[1:], np.float64).reshape(4, 2), expected, atol=1e-4)
        assert [a for a, _ in sent[1:]] == ["/posenet/person/floor"]
    nobody = run_room(scene([], 1)[0], floor={"image": image, "floor": TAPE.tolist()})
    assert [parse_message(m)[0] for m in encode(nobody[0], OutputOptions())] == ["/posenet/view/floor"]
    uncalibrated = run_room(frames)[-1]
    assert encode(uncalibrated, OutputOptions()) == []
