"""Sources of poses and the source registry: every kind is one module that declares itself."""

from __future__ import annotations

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
from appliance.capture.scene_source import SceneSource
from appliance.errors import ConfigError
from appliance.types import NUM_KEYPOINTS


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
    scenes = {p.scene for p in (source.read(1.0) for _ in range(201)) if p is not None}
    source.close()
    assert len(scenes) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [("scene:many", "not a number of people"), ("scene:0", "out of range 1..10"), ("scene:11", "out of range")],
)
def test_bad_scene_specs_say_so(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        create_source(text)
    with pytest.raises(ConfigError, match=message):  # what the configuration checks: refused, not saved
        check_confined(parse_source(text))


def test_hold_belongs_to_still_images_and_device_rules_to_v4l2() -> None:
    with pytest.raises(ConfigError, match="for still images only"):
        parse_source("scene@hold=2s")
    with pytest.raises(ConfigError, match="camera device"):
        check_confined(parse_source("v4l2:/etc/passwd"))
    with pytest.raises(ConfigError, match="media folder"):
        check_confined(parse_source("video:../x.mp4"))
    assert check_confined(parse_source("scene:2@15")).arg == "2"
