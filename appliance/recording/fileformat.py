"""The recording file: decoded poses with their capture times, one JSON object per line (JSON Lines).

Format version 1 (``FORMAT_VERSION``), documented in the README ("Rehearsing"):

* line 1, the header: ``{"posenet_recording": 1, "box": NAME, "version": APPLIANCE_VERSION,
  "model": MODEL, "source": SOURCE, "width": W, "height": H, "started": UNIX_SECONDS,
  "settings": {...}}`` (the settings in force when recording started, secrets removed);
* then one line per frame: ``{"f": FRAME, "t": UNIX_SECONDS, "m": SECONDS_SINCE_START,
  "c": MONOTONIC, "scene": S, "people": [{"score": P, "kp": [x0, y0, s0, x1, y1, s1, ...]}, ...],
  "live": {"ids": [...], "entered": [...], "left": [...]}}``, plus ``"size": [W, H]`` where the
  frame's image size differs from the header's (a slideshow of photos of several sizes), and
  ``"v": K`` when the recording has a video (the header's ``"video": FILE``): the video frame that
  shows it.

``people`` are the poses as decoded, **before** the stages (tracking, smoothing): 17 keypoints each
as (x, y, score), x and y in **source pixels** (origin top-left, y down), in PoseNet order. ``m``
is the capture time on the monotonic clock, relative to the first frame (a replay is scheduled by
it: wall-clock steps do not disturb it); ``c`` the same monotonic time as the stages saw it (they
see it again in a replay); ``t`` is the capture time on the box's wall clock. ``live`` keeps the
ids and events the live run gave after its stages, for comparison with a replay. Numbers are written
as the shortest decimals that read back to the same float32: a replay through the same stages with
the same settings gives the live run's output exactly.

A power cut can only damage the last line (each line is written whole, then flushed): the reader
stops at a last line that does not parse and says so (``Recording.truncated``). A damaged line
elsewhere is skipped and counted. Lines are capped at ``MAX_LINE`` bytes and people per frame at
``MAX_PEOPLE``: a hostile file costs bounded memory.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from appliance.errors import ApplianceError
from appliance.types import NUM_KEYPOINTS, Poses

__all__ = [
    "FORMAT_VERSION",
    "MAX_GAP",
    "MAX_LINE",
    "MAX_PEOPLE",
    "Header",
    "LiveResult",
    "RecordedFrame",
    "Recording",
    "RecordingError",
    "encode_frame",
    "encode_header",
    "open_recording",
]

FORMAT_VERSION = 1
#: Bytes in one line, at most (64 people of 51 numbers take about 40 KB).
MAX_LINE = 1 << 20
#: What a damaged or hostile line raises while read: bad JSON or values, numbers too large for a
#: float (``1`` and 400 zeros), a wrong type where a number belongs, nesting too deep for the parser.
_DAMAGED = (ValueError, TypeError, OverflowError, RecursionError)
#: People in one frame, at most.
MAX_PEOPLE = 64
#: Seconds between two frames, at most (a longer pause, or a frame back in time, is skipped and
#: counted: a hostile file must not make a replay wait for ever, nor loop at full speed).
MAX_GAP = 60.0
_VALUES = NUM_KEYPOINTS * 3


class RecordingError(ApplianceError):
    """A file that is not a recording this version can read (the message says why)."""


@dataclass(frozen=True, slots=True)
class Header:
    """A recording's first line. ``width``/``height``: the source image in pixels."""

    box: str
    version: str
    model: str
    source: str
    width: int
    height: int
    started: float
    settings: dict[str, Any] = field(default_factory=dict)
    video: str = ""  # the file name of the video beside it ("" without)

    def to_json(self) -> dict[str, Any]:
        """The header line's object."""
        return {
            "posenet_recording": FORMAT_VERSION,
            "box": self.box,
            "version": self.version,
            "model": self.model,
            "source": self.source,
            "width": self.width,
            "height": self.height,
            "started": self.started,
            "settings": self.settings,
            **({"video": self.video} if self.video else {}),
        }


@dataclass(frozen=True, slots=True)
class LiveResult:
    """What the live run's stages made of a frame: its people's ids (in the live output's order)
    and the frame's events."""

    ids: tuple[int, ...] = ()
    entered: tuple[int, ...] = ()
    left: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class RecordedFrame:
    """One frame read back: ``poses`` as decoded (before the stages; source pixels, (x, y, score),
    ids -1), ``at`` its capture time in seconds since the recording's first frame (monotonic)."""

    poses: Poses
    at: float
    live: LiveResult
    video: int | None = None  # the video frame that shows it (``"v"``), if the recording has a video


def encode_header(header: Header) -> bytes:
    """The header as one line (with its newline)."""
    return (json.dumps(header.to_json(), separators=(",", ":"), allow_nan=False) + "\n").encode()


def _float32s(values: np.ndarray) -> str:
    """float32 values as JSON numbers, each the shortest decimal that reads back to the same float32
    (so a replay feeds the stages exactly what the live run decoded)."""
    v = np.ascontiguousarray(values, np.float32).reshape(-1)
    out = np.char.mod("%.9g", v)
    for digits in (8, 7, 6):
        shorter = np.char.mod(f"%.{digits}g", v)
        same = shorter.astype(np.float64).astype(np.float32) == v
        out = np.where(same, shorter, out)
    return "[" + ",".join(out.tolist()) + "]"


def encode_frame(
    raw: Poses, at: float, final: Poses | None = None, size: tuple[int, int] | None = None, video: int | None = None
) -> bytes:
    """One frame as one line (with its newline). ``raw``: the decoded poses before the stages;
    ``final``: the same frame after them (for ``live``); ``at``: seconds since the first frame;
    ``size``: the header's (width, height): a frame of another size says its own; ``video``: the
    number of the video frame that shows it."""
    if not (np.isfinite(raw.keypoints).all() and np.isfinite(raw.scores).all()):
        raise ValueError("poses with non-finite numbers cannot be recorded")
    people = ",".join(
        f'{{"score":{_float32s(raw.scores[i : i + 1])[1:-1]},"kp":{_float32s(raw.keypoints[i])}}}'
        for i in range(min(len(raw), MAX_PEOPLE))
    )
    head: dict[str, Any] = {"f": raw.frame_index, "t": raw.t_wall, "m": at, "c": raw.t_capture, "scene": raw.scene}
    if size is not None and tuple(raw.frame_size) != tuple(size):
        head["size"] = list(raw.frame_size)
    if video is not None:
        head["v"] = video
    text = json.dumps(head, separators=(",", ":"), allow_nan=False)[:-1] + f',"people":[{people}]'
    if final is not None:
        live = {"ids": final.ids.tolist(), "entered": final.entered.tolist(), "left": final.left.tolist()}
        text += ',"live":' + json.dumps(live, separators=(",", ":"))
    return (text + "}\n").encode()


def _ints(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, list) or len(value) > MAX_PEOPLE * 4 or not all(type(v) is int for v in value):
        raise ValueError(f"{what} must be a list of integers")
    return tuple(value)


def _parse_frame(obj: Any, header: Header) -> RecordedFrame:
    if not isinstance(obj, dict):
        raise ValueError("a frame line must be a JSON object")
    people = obj.get("people")
    if not isinstance(people, list) or len(people) > MAX_PEOPLE:
        raise ValueError(f"people must be a list of at most {MAX_PEOPLE}")
    kp = np.zeros((len(people), NUM_KEYPOINTS, 3), np.float32)
    scores = np.zeros((len(people),), np.float32)
    for i, person in enumerate(people):
        values = person.get("kp") if isinstance(person, dict) else None
        if not isinstance(values, list) or len(values) != _VALUES:
            raise ValueError(f"person {i}: kp must hold {_VALUES} numbers")
        kp[i] = np.asarray(values, np.float32).reshape(NUM_KEYPOINTS, 3)
        scores[i] = float(person.get("score", 0.0))
    frame, at, t_wall, scene = obj.get("f"), obj.get("m"), obj.get("t"), obj.get("scene", 0)
    t_capture = obj.get("c", at)
    if type(frame) is not int or not isinstance(at, int | float) or not isinstance(t_wall, int | float):
        raise ValueError("a frame needs f (integer), m and t (seconds)")
    if not isinstance(t_capture, int | float) or not math.isfinite(t_capture) or not math.isfinite(t_wall):
        raise ValueError("c and t must be finite numbers of seconds")
    if type(scene) is not int or not math.isfinite(at) or not np.isfinite(kp).all() or not np.isfinite(scores).all():
        raise ValueError("a frame's numbers must be finite")
    size = obj.get("size", [header.width, header.height])
    if not isinstance(size, list) or len(size) != 2 or not all(type(v) is int and 0 < v <= 16384 for v in size):
        raise ValueError("size must be [width, height] in pixels")
    live_obj = obj.get("live") or {}
    if not isinstance(live_obj, dict):
        raise ValueError("live must be an object")
    live = LiveResult(*(_ints(live_obj.get(k, []), k) for k in ("ids", "entered", "left")))
    poses = Poses(
        keypoints=kp,
        scores=scores,
        ids=np.full(len(people), -1, np.int32),
        frame_size=(size[0], size[1]),
        frame_index=frame,
        t_capture=float(t_capture),
        t_wall=float(t_wall),
        scene=scene,
    )
    shown = obj.get("v")
    video = shown if type(shown) is int and 0 <= shown < 1 << 31 else None
    return RecordedFrame(poses, float(at), live, video)


def _parse_header(line: bytes, path: Path) -> Header:
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):  # RecursionError: nested too deep
        raise RecordingError(f"{path}: not a recording (its first line is not JSON)") from None
    if not isinstance(obj, dict) or "posenet_recording" not in obj:
        raise RecordingError(f"{path}: not a recording (no posenet_recording in its first line)")
    if obj["posenet_recording"] != FORMAT_VERSION:
        version = obj["posenet_recording"]
        raise RecordingError(f"{path}: recording format {repr(version)[:40]}; this version reads {FORMAT_VERSION}")
    try:
        width, height = int(obj["width"]), int(obj["height"])
        if not (0 < width <= 16384 and 0 < height <= 16384):
            raise ValueError("width and height must be 1..16384")
        settings = obj.get("settings") or {}
        if not isinstance(settings, dict):
            raise ValueError("settings must be an object")
        return Header(
            str(obj.get("box", "")),
            str(obj.get("version", "")),
            str(obj.get("model", "")),
            str(obj.get("source", "")),
            width,
            height,
            float(obj.get("started", 0.0)),
            settings,
            str(obj.get("video", ""))[:80],
        )
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise RecordingError(f"{path}: bad header: {str(exc)[:120]}") from None


class Recording:
    """A recording opened for reading: ``header`` now, ``frames()`` lazily (each call starts over).

    ``skipped`` counts damaged lines skipped, ``truncated`` is true when the last line was cut (a
    power cut while recording); both are up to date after ``frames()`` has been read to the end.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.skipped = 0
        self.truncated = False
        with path.open("rb") as f:
            first = f.readline(MAX_LINE)
        if not first.endswith(b"\n"):
            raise RecordingError(f"{path}: not a recording (no whole first line)")
        self.header = _parse_header(first, path)

    def frames(self) -> Iterator[RecordedFrame]:
        """Every readable frame in file order."""
        self.skipped, self.truncated = 0, False
        with self.path.open("rb") as f:
            f.readline(MAX_LINE)
            yield from self._read(f)

    def _read(self, f: IO[bytes]) -> Iterator[RecordedFrame]:
        last = -math.inf  # the previous frame's time since the first (``m``)
        while line := f.readline(MAX_LINE):
            whole = line.endswith(b"\n")
            if not whole and len(line) >= MAX_LINE:
                while (rest := f.readline(MAX_LINE)) and not rest.endswith(b"\n"):
                    pass  # an over-long line: skip to its end
                self.skipped += 1
                continue
            try:
                frame = _parse_frame(json.loads(line), self.header)
            except _DAMAGED:
                if whole:
                    self.skipped += 1
                    continue
                self.truncated = True  # the last line, cut short
                return
            if not last <= frame.at <= last + MAX_GAP and last != -math.inf:
                self.skipped += 1  # back in time, or a pause no recorder makes: a replay would stall or race
                continue
            last = frame.at
            yield frame
            if not whole:
                self.truncated = True  # a last line that parses but lost its newline
                return


def open_recording(path: str | Path) -> Recording:
    """Open a recording, reading its header now.

    Raises:
        RecordingError: the file is missing, unreadable or not a recording of this version.
    """
    p = Path(path)
    try:
        return Recording(p)
    except OSError as exc:
        raise RecordingError(f"{p}: {exc.strerror or exc}") from None
