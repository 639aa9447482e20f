"""FrameSource and PoseSource: the interfaces every camera, file and generator implements, and
SourceKind: what one source module declares (its name, syntax, how it is built, checked and offered)."""

from __future__ import annotations

import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from appliance.errors import ConfigError, SourceError
from appliance.types import Frame, Poses

__all__ = [
    "MAX_FILE_BYTES",
    "MIN_WINDOW",
    "WINDOW_PARAMS",
    "EndOfSource",
    "FrameSource",
    "Host",
    "Pacer",
    "PoseSource",
    "SourceCheck",
    "SourceKind",
    "SourceSpec",
    "confined_files",
    "crop_floor",
    "cut",
    "window",
]

#: Largest media file a source reads (an image is decoded whole into memory).
MAX_FILE_BYTES = 256 * 1024 * 1024


class EndOfSource(SourceError):
    """A non-looping file source has delivered everything."""


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """A parsed ``--source``: type, its argument, and options (fps, loop, size as (w, h), and for
    still images ``hold``: seconds each image is shown, None for the source's default)."""

    type: str
    arg: str = ""
    fps: float | None = None
    loop: bool = True
    size: tuple[int, int] | None = None
    text: str = ""
    hold: float | None = None
    params: tuple[tuple[str, float], ...] = ()  # the kind's own NAME=NUMBER options (``SourceKind.params``)

    def param(self, name: str, default: float) -> float:
        """The value of the option ``name=...`` given in the spec, else ``default``."""
        return next((v for k, v in self.params if k == name), default)


#: The options of a window of the picture (``x0``, ``x1``, ``y0``, ``y1``: 0..1, x right, y down),
#: for a kind's ``params``; the narrowest window allowed (0..1 of the picture, either side).
WINDOW_PARAMS: dict[str, tuple[float, float]] = {"x0": (0.0, 1.0), "x1": (0.0, 1.0), "y0": (0.0, 1.0), "y1": (0.0, 1.0)}
MIN_WINDOW = 0.05
Window = tuple[float, float, float, float]


def window(spec: SourceSpec) -> Window:
    """The window ``(x0, x1, y0, y1)`` of the source's picture (0..1, x right, y down) the spec asks
    for (default the whole picture); ConfigError when a side is not after the other by at least
    ``MIN_WINDOW``. Also a kind's ``confine`` rule, so a bad window is refused, not saved."""
    x0, x1 = spec.param("x0", 0.0), spec.param("x1", 1.0)
    y0, y1 = spec.param("y0", 0.0), spec.param("y1", 1.0)
    for low, high, axis in ((x0, x1, "x"), (y0, y1, "y")):
        if high - low < MIN_WINDOW:
            raise ConfigError(
                f"{spec.type} source: window {axis}0={low:g}..{axis}1={high:g} is empty or narrower than {MIN_WINDOW:g}"
            )
    return x0, x1, y0, y1


def cut(pixels: NDArray[np.uint8], win: Window) -> NDArray[np.uint8]:
    """The window ``win`` = (x0, x1, y0, y1), 0..1 of the picture (x right, y down), of an (H, W, 3)
    picture: its pixels (sides rounded half up to whole source pixels, at least one each way),
    contiguous; the picture itself when the window is all of it."""
    if win == (0.0, 1.0, 0.0, 1.0):
        return pixels
    h, w = pixels.shape[:2]
    x0, x1, y0, y1 = (int(v * n + 0.5) for v, n in zip(win, (w, w, h, h), strict=True))
    return np.ascontiguousarray(pixels[y0 : max(y1, y0 + 1), x0 : max(x1, x0 + 1)])


def crop_floor(spec: SourceSpec | Window, room: tuple[float, float]) -> dict[str, list[list[float]]]:
    """The ``floor`` section of a box seeing a window of a picture when the whole picture (0..1)
    lies linearly on ``room`` = (width, depth) metres of floor, (x, y): its four marks are its own
    picture's corners (0..1, (x, y)), their floor points the window's corners on that floor (metres,
    (x, y)), so that every window's box places a person at the same floor point."""
    x0, x1, y0, y1 = window(spec) if isinstance(spec, SourceSpec) else spec
    w, d = room
    corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    return {
        "image": [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]],
        "floor": [[round(x * w, 6), round(y * d, 6)] for x, y in corners],
    }


def confined_files(paths: Iterable[str], folder: Path | None) -> list[Path]:
    """The paths that are regular files inside ``folder`` (links resolved; None: anywhere) and not
    over the size limit, sorted; everything else (devices, /proc, escapes through links) is left out."""
    root = folder.resolve() if folder is not None else None
    out = []
    for p in paths:
        real = Path(p).resolve()
        if root is not None and not real.is_relative_to(root):
            continue
        try:
            st = real.stat()
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_size <= MAX_FILE_BYTES:
            out.append(real)
    return sorted(out)


class FrameSource(Protocol):
    """Produces RGB frames. ``read`` blocks at most ``timeout`` seconds and returns None on timeout.

    ``read`` raises ``SourceError`` when the device is gone or the file ended (for a non-looping
    source, ``EndOfSource``); the capture thread then closes, waits and reopens. Sources own colour
    conversion: frames are always RGB.
    """

    name: str

    def open(self) -> None:
        """Acquire the device or file; raises SourceError with what to do."""
        ...

    def read(self, timeout: float) -> Frame | None:
        """Next frame, or None when none arrived within ``timeout`` seconds."""
        ...

    def close(self) -> None:
        """Release everything; idempotent."""
        ...


class PoseSource(Protocol):
    """Produces decoded poses instead of frames (a replay, a generator): the pipeline skips preparing
    and inference for it, and the application loads no model.

    ``read`` returns the next frame's ``Poses``: keypoints in **source pixels (x, y, score)**, with
    ``frame_size`` (width, height) of the image they were seen in, ``t_capture`` (monotonic seconds),
    ``t_wall``, ``frame_index`` and ``scene``; None on timeout; it raises ``EndOfSource`` when a
    non-looping source has delivered everything (``SourceError`` otherwise, as a ``FrameSource``).
    Ids, ``entered`` and ``left`` are left to the tracking stage.
    """

    name: str

    def open(self) -> None:
        """Acquire what the poses come from; raises SourceError with what to do."""
        ...

    def read(self, timeout: float) -> Poses | None:
        """Next frame's poses, or None when none was due within ``timeout`` seconds."""
        ...

    def close(self) -> None:
        """Release everything; idempotent."""
        ...


@dataclass(frozen=True, slots=True)
class Host:
    """What a source kind may look at on this box to check or offer itself: the media folder, the
    filesystem root (tests give a fake one) and the Pi cameras (None: ask libcamera)."""

    media: Path | None = None
    root: Path = Path("/")
    cameras: Callable[[], list[str] | None] | None = None

    def media_files(self) -> list[Path]:
        """The media folder's files, sorted (none without a folder)."""
        media = self.media
        return sorted(p for p in media.glob("*") if p.is_file()) if media is not None and media.is_dir() else []


@dataclass(frozen=True, slots=True)
class SourceCheck:
    """What the doctor's camera check says of a source: usable or not, in a line, and what to do."""

    ok: bool
    detail: str
    fix: str = ""


def _no_camera(spec: SourceSpec, host: Host) -> SourceCheck:
    return SourceCheck(True, f"source is {spec.type} ({spec.text}): no camera needed")


def _offers_nothing(host: Host) -> list[dict[str, str]]:
    return []


def _no_rule(spec: SourceSpec) -> None:
    return None


@dataclass(frozen=True, slots=True)
class SourceKind:
    """One kind of source, declared by its module as ``KIND`` (``appliance.capture.SOURCES`` finds it).

    * ``name``: the type before the colon in a source string; ``syntax``: its form, for help texts;
    * ``factory(spec, **kwargs)``: the (not yet opened) ``FrameSource``, or ``PoseSource`` when
      ``poses`` (then no model is loaded: the pipeline is fed decoded poses);
    * ``needs_arg``: ``TYPE:ARG`` is required; ``files``: ARG names files of the media folder (the
      factory gets ``folder=``); ``sized``: the factory gets the model's ``input_size=`` (height,
      width); ``holds``: the ``hold=`` option of still images applies;
    * ``folder``: which folder ARG names files of (``media``, or ``recordings``: the recordings
      folder of the state directory); ``params``: the kind's own ``NAME=NUMBER`` options and their
      ranges (``replay:FILE@speed=2,start=60``);
    * ``confine(spec)``: raises ConfigError for what a saved configuration may not name;
    * ``check(spec, host)``: the doctor's camera check; ``offer(host)``: the choices the page shows
      (``{"source": ..., "label": ...}``), listed by ``order`` (cameras first).
    """

    name: str
    syntax: str
    factory: Callable[..., FrameSource | PoseSource]
    poses: bool = False
    needs_arg: bool = False
    files: bool = False
    sized: bool = False
    holds: bool = False
    folder: str = "media"
    params: dict[str, tuple[float, float]] = field(default_factory=dict)
    order: int = 50
    confine: Callable[[SourceSpec], object] = field(default=_no_rule)  # its value is not used
    check: Callable[[SourceSpec, Host], SourceCheck] = field(default=_no_camera)
    offer: Callable[[Host], list[dict[str, str]]] = field(default=_offers_nothing)

    def build(
        self, spec: SourceSpec, media: Path | None = None, input_size: tuple[int, int] | None = None, **kwargs: object
    ) -> FrameSource | PoseSource:
        """The source for ``spec``, not opened: files from ``media`` (None: paths as given), sized
        for a model's ``input_size`` (height, width) when the kind is ``sized``."""
        if self.files:
            kwargs["folder"] = media
        if self.sized and input_size is not None:
            kwargs["input_size"] = input_size
        return self.factory(spec, **kwargs)


class Pacer:
    """Releases frames at a fixed rate against the monotonic clock (for files and generators)."""

    def __init__(self, fps: float | None) -> None:
        self.period = 1.0 / fps if fps else 0.0
        self._next = time.monotonic()

    def wait(self, timeout: float) -> bool:
        """Sleep until the next frame is due; False if that is further than ``timeout`` away."""
        if not self.period:
            return True
        now = time.monotonic()
        delay = self._next - now
        if delay > timeout:
            time.sleep(max(timeout, 0))
            return False
        if delay > 0:
            time.sleep(delay)
        # Do not try to catch up after a stall: schedule from now.
        self._next = max(self._next + self.period, time.monotonic())
        return True
