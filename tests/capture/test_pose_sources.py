"""Sources of poses and the source registry: every kind is one module that declares itself."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.capture import (
    SOURCES,
    EndOfSource,
    SourceKind,
    check_confined,
    create_source,
    parse_source,
    scene_source,
)
from appliance.capture.scene_source import SceneSource, crop, crop_floor, feet_at
from appliance.errors import ConfigError
from appliance.pose.room import homography, project
from appliance.pose.scenes import skeleton
from appliance.types import NUM_KEYPOINTS, Poses


def test_every_source_module_declares_its_kind_and_the_registry_lists_cameras_first() -> None:
    built_in = ["picamera2", "v4l2", "images", "video", "synthetic", "scene"]
    assert [name for name in SOURCES if name in built_in] == built_in  # a new kind takes its place by order
    assert list(SOURCES)[:2] == ["picamera2", "v4l2"]
    assert all(isinstance(k, SourceKind) and k.syntax.startswith(k.name) for k in SOURCES.values())
    assert "scene" in [k.name for k in SOURCES.values() if k.poses]
    assert {k.name for k in SOURCES.values() if k.files} >= {"images", "video"}


@pytest.fixture
def short_crossings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scene_source, "CYCLE_SECONDS", 0.2)


@pytest.mark.usefixtures("short_crossings")
def test_the_scene_source_gives_poses_in_source_pixels_with_times_and_size() -> None:
    source = create_source("scene:3@1000,320x240,once")
    assert isinstance(source, SceneSource) and source.people == 3
    source.open()
    frames = [source.read(1.0) for _ in range(200)]
    with pytest.raises(EndOfSource):
        source.read(1.0)
    source.close()
    assert all(f is not None for f in frames)
    frames = [f for f in frames if f is not None]
    assert len(frames) == 200  # 0.2 s at 1000 fps, once
    first, last = frames[0], frames[-1]
    assert len(first) == 3 and first.keypoints.shape == (3, NUM_KEYPOINTS, 3)
    assert first.frame_size == (320, 240) and [f.frame_index for f in frames[:3]] == [1, 2, 3]
    assert last.t_capture > first.t_capture and last.t_wall > 1.7e9
    xs = sorted(float(p[:, 0].mean()) for p in first.keypoints)
    assert xs[0] > 20 and xs[-1] < 300  # inside the picture, x first: (x, y)
    ys = first.keypoints[:, :, 1]
    assert ys.min() > 0 and ys.max() < 240


@pytest.mark.usefixtures("short_crossings")
def test_the_scene_source_loops_as_a_new_scene() -> None:
    source = create_source("scene:1@1000")
    source.open()
    scenes = sorted({p.scene for p in (source.read(1.0) for _ in range(201)) if p is not None})
    source.close()
    # 201 frames of a 200-frame crossing in step with the clock (starting anywhere in it; a late
    # read skips frames): at least one new scene, numbered on
    assert len(scenes) >= 2 and scenes == list(range(scenes[0], scenes[0] + len(scenes)))


@pytest.mark.parametrize(
    ("text", "message"),
    [("scene:many", "not a number of people"), ("scene:0", "out of range 1..10"), ("scene:11", "out of range")],
)
def test_bad_scene_specs_say_so(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create_source(text)
    with pytest.raises(ConfigError, match=message):  # what the configuration checks: refused, not saved
        check_confined(parse_source(text))


def test_two_scene_sources_opened_apart_show_the_same_people_at_the_same_tick() -> None:
    """Looping, the scene is in step with the wall clock (two boxes share it): a source opened
    later shows, at a tick both read, exactly the poses the other shows."""
    first, second = create_source("scene:2@20"), create_source("scene:2@20")
    first.open()
    seen: list[dict[int, Poses]] = [{}, {}]
    for _ in range(3):
        frame = first.read(1.0)
        assert frame is not None
        seen[0][int(frame.t_wall * 20)] = frame
    second.open()
    for _ in range(6):
        for i, source in enumerate((first, second)):
            frame = source.read(1.0)
            assert frame is not None
            seen[i][int(frame.t_wall * 20)] = frame
    first.close()
    second.close()
    both = sorted(set(seen[0]) & set(seen[1]))
    assert len(both) >= 3, (sorted(seen[0]), sorted(seen[1]))
    for tick in both:
        a, b = seen[0][tick].keypoints, seen[1][tick].keypoints
        assert a.shape == b.shape == (2, NUM_KEYPOINTS, 3) and (a == b).all(), tick


def test_feet_at_says_where_the_looping_scenes_walkers_stand_at_a_capture_time() -> None:
    source = create_source("scene:3@20,320x240")
    source.open()
    frames = [source.read(1.0) for _ in range(3)]
    source.close()
    for frame in frames:
        assert frame is not None and len(frame) == 3
        feet = sorted(frame.normalized()[:, 15:17, :2].mean(axis=1).tolist(), key=lambda p: p[1])  # 0..1 (x, y)
        want = sorted(feet_at(frame.t_wall, 3, 20.0), key=lambda p: p[1])  # the walkers go at different heights
        assert np.allclose(feet, want, atol=0.02), (feet, want)


def _one(x: float, y: float) -> Poses:
    kp = skeleton(x, y, height=192.0)[None]
    return Poses(keypoints=kp, scores=kp[:, 0, 2].copy(), ids=kp[:, 0, 2].astype("int32"), frame_size=(640, 480))


def test_a_window_of_the_scene_maps_people_into_its_pixels_and_cuts_who_is_outside() -> None:
    right = (0.4, 1.0, 0.0, 1.0)
    inside = crop(_one(0.7 * 640, 240), right)  # hips at x 0.7 of the scene: 0.5 of the window
    assert len(inside) == 1 and abs(float(inside.keypoints[0, 11:13, 0].mean()) - 320) < 1
    assert float(inside.keypoints[0, 11, 1]) == float(_one(0.7 * 640, 240).keypoints[0, 11, 1])  # y as it was
    assert len(crop(_one(0.2 * 640, 240), right)) == 0  # wholly outside: not seen
    edge = crop(_one(0.4 * 640 + 10, 240), right)  # straddling the window's left side
    assert len(edge) == 1 and (edge.keypoints[0, :, 2] == 0).sum() >= 3
    assert (edge.keypoints[0, :, 2][edge.keypoints[0, :, 0] <= 0] == 0).all()
    assert float(edge.scores[0]) < float(inside.scores[0])
    assert len(crop(_one(0.4 * 640 - 20, 240), right)) == 0  # only an arm inside: no hip, no ankle


def test_the_floor_of_two_windows_agrees_on_a_person_in_their_overlap() -> None:
    """crop_floor: the scene's picture lies on 10 m x 7.5 m of floor; a point of the overlap, seen by
    each window's box at its own picture coordinates, lands on one floor point."""
    point = np.array([[0.5, 0.8]])  # 0..1 of the scene
    room = (10.0, 7.5)
    for win in ((0.0, 0.6, 0.0, 1.0), (0.4, 1.0, 0.2, 1.0)):
        section = crop_floor(parse_source("scene@x0={},x1={},y0={},y1={}".format(*win)), room)
        h = homography(np.array(section["image"]), np.array(section["floor"]))
        own = (point - [win[0], win[2]]) / [win[1] - win[0], win[3] - win[2]]
        assert np.allclose(project(h, own), [[5.0, 6.0]]), (win, project(h, own))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("scene@x0=0.7,x1=0.5", "window x0=0.7..x1=0.5 is empty"),
        ("scene@y0=0.5,y1=0.52", "narrower than 0.05"),
        ("scene@x1=1.5", "x1 = 1.5 out of range 0..1"),
        ("scene@x1=wide", "not a number"),
    ],
)
def test_bad_scene_windows_say_so(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):  # what the configuration checks: refused, not saved
        check_confined(parse_source(text))
    with pytest.raises(ConfigError, match=message):
        create_source(text)


def test_hold_belongs_to_still_images_and_device_rules_to_v4l2() -> None:
    with pytest.raises(ConfigError, match="for still images only"):
        parse_source("scene@hold=2s")
    with pytest.raises(ConfigError, match="camera device"):
        check_confined(parse_source("v4l2:/etc/passwd"))
    with pytest.raises(ConfigError, match="media folder"):
        check_confined(parse_source("video:../x.mp4"))
    assert check_confined(parse_source("scene:2@15")).arg == "2"
