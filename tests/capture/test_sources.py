"""Frame sources: spec parsing, files, generators, and picamera2 against a fake camera object."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from appliance.capture import check_confined, create_source, parse_source
from appliance.capture.base import EndOfSource
from appliance.capture.image_source import DEFAULT_HOLD
from appliance.capture.images import load_image
from appliance.capture.picamera2_source import Picamera2Source, lores_size
from appliance.capture.yuv import bgr_to_rgb, yuv420_to_rgb
from appliance.errors import ConfigError, HardwareUnavailable, SourceError
from appliance.types import Frame


@pytest.mark.parametrize(
    ("text", "kind", "arg", "fps", "loop", "size"),
    [
        ("picamera2", "picamera2", "", None, True, None),
        ("picamera2:1@30", "picamera2", "1", 30.0, True, None),
        ("images:../shared/images/*.jpg@15", "images", "../shared/images/*.jpg", 15.0, True, None),
        ("video:clip.mp4@once", "video", "clip.mp4", None, False, None),
        ("v4l2:/dev/video0@30,640x480", "v4l2", "/dev/video0", 30.0, True, (640, 480)),
        ("synthetic@60,320x240", "synthetic", "", 60.0, True, (320, 240)),
    ],
)
def test_parse_source(text: str, kind: str, arg: str, fps: float | None, loop: bool, size: Any) -> None:
    s = parse_source(text)
    assert (s.type, s.arg, s.fps, s.loop, s.size, s.hold) == (kind, arg, fps, loop, size, None)


@pytest.mark.parametrize(
    ("text", "hold"),
    [("images:*.jpg@15,hold=2s", 2.0), ("images:*.jpg@hold=0.5", 0.5), ("images:*.jpg@once,hold=0", 0.0)],
)
def test_hold_is_an_option_of_still_images(text: str, hold: float) -> None:
    assert parse_source(text).hold == hold


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("webcam", "unknown source type 'webcam'"),
        ("video", "needs an argument"),
        ("images:*.jpg@fast", "is not a frame rate"),
        ("images:*.jpg@0", "out of range"),
        ("synthetic@5x5", "size 5x5 out of range"),
        ("images:*.jpg@hold=2 s", "is not a time"),
        ("images:*.jpg@hold=-1s", "is not a time"),
        ("images:*.jpg@hold=", "is not a time"),
        ("images:*.jpg@hold=2h", "is not a time"),
        ("images:*.jpg@hold=4000s", "hold 4000 s out of range"),
        ("video:clip.mp4@hold=2s", "for still images only"),
    ],
)
def test_bad_source_specs(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_source(text)


def _frames(spec: str, n: int) -> list[Frame]:
    src = create_source(spec)
    src.open()
    frames = [src.read(1.0) for _ in range(n)]
    src.close()
    assert all(f is not None for f in frames)
    return [f for f in frames if f is not None]


def _photos(frames: list[Frame], images_dir: Path) -> list[int]:
    """Which of the folder's .jpg photos (in glob order) each frame shows."""
    photos = [load_image(str(p)) for p in sorted(images_dir.glob("*.jpg"))]
    return [
        next(i for i, p in enumerate(photos) if p.shape == f.image.shape and np.array_equal(p, f.image)) for f in frames
    ]


def test_image_source_holds_each_image_as_a_scene_and_loops(images_dir: Path) -> None:
    """A slideshow: each of the 3 photos for hold x fps frames, one scene each; back to the first
    photo after the last is a cut too."""
    frames = _frames(f"images:{images_dir}/*.jpg@50,hold=0.06s", 10)  # 3 frames per photo
    assert [f.index for f in frames] == list(range(1, 11))
    assert _photos(frames, images_dir) == [0, 0, 0, 1, 1, 1, 2, 2, 2, 0]
    scenes = [f.scene for f in frames]
    assert scenes[0:3] == [scenes[0]] * 3 and len(set(scenes)) == 4
    assert all(b > a for a, b in zip(scenes[::3], scenes[3::3], strict=False))
    t = [f.t_capture for f in frames]
    assert 0.01 < np.median(np.diff(t)) < 0.04  # 50 fps: held images are still delivered at the rate


def test_image_source_holds_two_seconds_unless_told(images_dir: Path) -> None:
    frames = _frames(f"images:{images_dir}/*.jpg@1000", 31)
    assert len({f.scene for f in frames[:30]}) == 1  # 2 s at 15 fps would be 30 frames: at 1000 fps, 2000
    assert DEFAULT_HOLD == 2.0


def test_hold_0_plays_the_images_as_one_continuous_scene(images_dir: Path) -> None:
    frames = _frames(f"images:{images_dir}/*.jpg@50,hold=0", 7)
    assert _photos(frames, images_dir) == [0, 1, 2, 0, 1, 2, 0]
    scenes = [f.scene for f in frames]
    assert scenes[:3] == [scenes[0]] * 3 and scenes[3:6] == [scenes[3]] * 3 and scenes[3] != scenes[0]  # start over


def test_one_image_is_one_scene(images_dir: Path) -> None:
    frames = _frames(f"images:{images_dir}/face.jpg@100,hold=0.02s", 6)
    assert len({f.scene for f in frames}) == 1


def test_image_source_once_ends_after_the_last_hold(images_dir: Path) -> None:
    src = create_source(f"images:{images_dir}/*.jpg@100,once,hold=0.02s")  # 2 frames per photo
    src.open()
    assert all(src.read(1.0) is not None for _ in range(6))
    with pytest.raises(EndOfSource):
        src.read(1.0)
    with pytest.raises(EndOfSource):  # and stays ended
        src.read(1.0)


def test_image_source_once_ends(images_dir: Path) -> None:
    src = create_source(f"images:{images_dir}/face.jpg@100,once")
    src.open()
    assert src.read(1.0) is not None
    with pytest.raises(EndOfSource):
        src.read(1.0)


def test_image_source_without_matches_says_so(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no image matches"):
        create_source(f"images:{tmp_path}/*.png").open()


def test_image_source_window_is_cut_before_inference(images_dir: Path) -> None:
    """``x0=,x1=,y0=,y1=`` (0..1 of the picture, (x, y)): the frame is that window's source pixels."""
    whole = load_image(str(images_dir / "test_couple.jpg"))  # 1920x1278
    frames = _frames(f"images:{images_dir}/test_couple.jpg@100,x0=0.48,y0=0.25,y1=0.75", 1)
    assert frames[0].image.shape == (639, 998, 3) and frames[0].image.flags["C_CONTIGUOUS"]
    assert np.array_equal(frames[0].image, whole[320:959, 922:1920])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("images:a.jpg@x0=0.6,x1=0.4", "images source: window x0=0.6..x1=0.4 is empty"),
        ("video:a.mp4@y0=0.5,y1=0.52", "video source: window y0=0.5..y1=0.52 is empty or narrower than 0.05"),
        ("images:a.jpg@x1=2", "x1 = 2 out of range 0..1"),
    ],
)
def test_bad_picture_windows_say_so(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):  # refused by the configuration's check, not saved
        check_confined(parse_source(text))


def test_synthetic_frames_are_rgb_of_the_asked_size() -> None:
    src = create_source("synthetic@100,320x240")
    src.open()
    f = src.read(1.0)
    assert f is not None and f.image.shape == (240, 320, 3) and f.image.dtype == np.uint8
    assert f.image.flags["C_CONTIGUOUS"]


def test_video_file_source_reads_loops_and_converts_colour(tmp_path: Path) -> None:
    cv2 = pytest.importorskip("cv2")
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 48))
    for i in range(3):
        bgr = np.zeros((48, 64, 3), np.uint8)
        bgr[:, :, 2] = 200  # red in BGR
        bgr[0, 0, 1] = i
        writer.write(bgr)
    writer.release()
    src = create_source(f"video:{path}@200")
    src.open()
    frames = [src.read(1.0) for _ in range(5)]  # 3 frames, then it loops
    src.close()
    cut = create_source(f"video:{path}@200,x0=0.5,y1=0.5")  # a window: the right half of the top half
    cut.open()
    part = cut.read(1.0)
    cut.close()
    assert part is not None and part.image.shape == (24, 32, 3)
    src.close()
    assert all(f is not None for f in frames)
    f0 = frames[0]
    assert f0 is not None and f0.image.shape == (48, 64, 3)
    assert f0.image[24, 32, 0] > 150 and f0.image[24, 32, 2] < 60  # red stays red: RGB out
    once = create_source(f"video:{path}@200,once")
    once.open()
    for _ in range(3):
        assert once.read(1.0) is not None
    with pytest.raises(EndOfSource):
        once.read(1.0)


def test_video_file_missing_is_a_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("cv2")
    with pytest.raises(SourceError, match="video file not found"):
        create_source(f"video:{tmp_path}/nope.mp4").open()


def _yuv_of(rgb: tuple[int, int, int], w: int, h: int, stride: int) -> np.ndarray:
    r, g, b = rgb
    y = 0.299 * r + 0.587 * g + 0.114 * b
    u = 128 + (b - y) / 1.772
    v = 128 + (r - y) / 1.402
    buf = np.zeros((h * 3 // 2, stride), np.uint8)
    buf[:h, :w] = min(round(y), 255)
    flat = buf.reshape(-1)
    c = (stride // 2) * (h // 2)
    flat[stride * h : stride * h + c] = min(round(u), 255)
    flat[stride * h + c : stride * h + 2 * c] = min(round(v), 255)
    return buf


@pytest.mark.parametrize("rgb", [(255, 0, 0), (0, 255, 0), (0, 0, 255), (128, 128, 128), (250, 200, 30)])
def test_yuv420_with_stride_padding_converts_to_rgb(rgb: tuple[int, int, int]) -> None:
    out = yuv420_to_rgb(_yuv_of(rgb, 640, 480, 704), 640, 480)
    assert out.shape == (480, 640, 3)
    np.testing.assert_allclose(out[100, 100], rgb, atol=3)


def test_bgr_and_xbgr_become_rgb() -> None:
    bgrx = np.zeros((2, 2, 4), np.uint8)
    bgrx[..., 0], bgrx[..., 1], bgrx[..., 2], bgrx[..., 3] = 10, 20, 30, 255
    assert bgr_to_rgb(bgrx)[0, 0].tolist() == [30, 20, 10]
    assert bgr_to_rgb(bgrx[..., :3]).shape == (2, 2, 3)


class FakePicamera2:
    """Stands in for picamera2.Picamera2: records configuration, serves planned frames."""

    instances: ClassVar[list[FakePicamera2]] = []

    def __init__(self, index: int = 0, *, frames: list[np.ndarray | None] | None = None) -> None:
        self.index = index
        self.frames = list(frames or [])
        self.config: dict[str, Any] = {}
        self.started = self.closed = False
        self.jobs = 0
        FakePicamera2.instances.append(self)

    def create_video_configuration(self, **kwargs: Any) -> dict[str, Any]:
        return kwargs

    def configure(self, config: dict[str, Any]) -> None:
        self.config = config

    def start(self) -> None:
        self.started = True

    def capture_array(self, name: str, wait: bool) -> str:
        assert name == "lores" and wait is False
        self.jobs += 1
        return f"job{self.jobs}"

    def wait(self, job: str, timeout: float) -> np.ndarray:
        frame = self.frames.pop(0) if self.frames else None
        if frame is None:
            time.sleep(min(timeout, 0.01))
            raise TimeoutError
        return frame

    def stop(self) -> None:
        self.started = False

    def close(self) -> None:
        self.closed = True


def test_picamera2_lores_yuv_stream_at_the_model_size() -> None:
    yuv = _yuv_of((255, 0, 0), 640, 480, 640)
    cams: list[FakePicamera2] = []

    def factory(index: int) -> FakePicamera2:
        cam = FakePicamera2(index, frames=[None, yuv])
        cams.append(cam)
        return cam

    src = Picamera2Source(parse_source("picamera2@30"), input_size=(481, 641), factory=factory)
    src.open()
    cam = cams[0]
    assert cam.started and cam.config["lores"] == {"size": (640, 480), "format": "YUV420"}
    assert cam.config["controls"] == {"FrameRate": 30.0}
    assert src.read(0.05) is None  # timed out ...
    frame = src.read(0.05)  # ... and the same job delivers the next frame
    assert cam.jobs == 1
    assert frame is not None and frame.image.shape == (480, 640, 3)
    np.testing.assert_allclose(frame.image[10, 10], (255, 0, 0), atol=3)
    src.close()
    src.close()
    assert cam.closed


def test_picamera2_rgb888_is_bgr_in_memory() -> None:
    bgr = np.zeros((480, 640, 3), np.uint8)
    bgr[..., 0] = 255  # blue in B,G,R memory order
    src = Picamera2Source(
        parse_source("picamera2"), lores_format="RGB888", factory=lambda i: FakePicamera2(i, frames=[bgr])
    )
    src.open()
    frame = src.read(0.1)
    assert frame is not None and frame.image[0, 0].tolist() == [0, 0, 255]


def test_picamera2_missing_camera_is_hardware_unavailable() -> None:
    def no_camera(index: int) -> FakePicamera2:
        raise IndexError("list index out of range")

    with pytest.raises(HardwareUnavailable, match="no camera 0"):
        Picamera2Source(parse_source("picamera2"), factory=no_camera).open()


def test_picamera2_not_installed_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "picamera2", None)  # not installed, also on a Pi where it is
    with pytest.raises(HardwareUnavailable, match="python3-picamera2"):
        Picamera2Source(parse_source("picamera2")).open()


def test_lores_size_is_even() -> None:
    assert lores_size((481, 641)) == (640, 480)
    assert lores_size((353, 481)) == (480, 352)
    assert lores_size(None) == (640, 480)
