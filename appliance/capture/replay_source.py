"""A recording played back as the box's source: ``replay:FILE[@speed=S][,start=S][,end=S][,loop|once]``.

A source of decoded poses (``PoseSource``): the recorded poses (``appliance.recording``, before the
stages) are fed into the pipeline on their recorded schedule (``t0 + (m_i - m_0) / speed``, never
summed sleeps), so tracking, smoothing, every format and target, OSCQuery, the page and the events
behave as live, with the settings in force now. No model is loaded. FILE names a recording in the
recordings folder (``<state dir>/recordings``; the command line may give a path). Keypoints are
source pixels (x, y) of the recorded picture. Looping (the default) starts over one frame period
after the last frame, as a new scene (everybody leaves, then enters again); ``once`` ends.
"""

from __future__ import annotations

import collections
import dataclasses
import importlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from appliance.capture.base import EndOfSource, Host, SourceCheck, SourceKind, SourceSpec, confined_files
from appliance.errors import SourceError
from appliance.recording.fileformat import RecordedFrame, Recording, RecordingError, open_recording
from appliance.recording.schedule import Schedule
from appliance.types import Poses

__all__ = ["KIND", "ReplaySource"]

#: A loop pass starts a new scene this far from the last (the tracker treats it as a cut).
_PASS_SCENES = 1_000_000
#: Replayed frames whose video frame is remembered (for the camera view, which shows the newest).
_SHOWN = 64


class ReplaySource:
    """The poses of one recording, when due; ``name`` says plainly what is replayed."""

    def __init__(self, spec: SourceSpec, folder: Path | None = None) -> None:
        self.spec, self.folder = spec, folder
        self.speed = spec.param("speed", 1.0)
        self.start, self.end = spec.param("start", 0.0), spec.param("end", float("inf"))
        self.name = f"replay of {Path(spec.arg).name}"
        self.recording: Recording | None = None
        self._frames: Iterator[RecordedFrame] = iter(())
        self._pending: RecordedFrame | None = None
        self._schedule: Schedule | None = None
        self._last_at: float | None = None
        self._period = 1 / 15
        self._passes = 0
        self._index = 0
        # the recorded video, when there is one: shown by the camera view on request (``picture``)
        self._shown: collections.OrderedDict[int, int] = collections.OrderedDict()  # frame -> video frame
        self._video: Any = None
        self._video_at = -1  # the video frame the capture would read next
        self._video_lock = threading.Lock()

    def _path(self) -> Path:
        if self.folder is None:
            return Path(self.spec.arg).expanduser()
        found = confined_files([str(self.folder / self.spec.arg)], self.folder)
        if not found:
            raise SourceError(f"no recording {self.spec.arg!r} in the recordings folder {self.folder}")
        return found[0]

    def open(self) -> None:
        """Open the recording and start its schedule at its first frame (or ``start``)."""
        try:
            self.recording = open_recording(self._path())
        except RecordingError as exc:
            raise SourceError(str(exc)) from None
        h = self.recording.header
        self.name = f"replay of {self.recording.path.name} ({h.box or 'a box'}, {h.model or 'no model'})"
        if self.speed != 1.0:
            self.name += f" at speed {self.speed:g}"
        self._restart()
        self._schedule = None

    def _restart(self) -> None:
        assert self.recording is not None
        self._frames = (f for f in self.recording.frames() if self.start <= f.at < self.end)
        self._pending = None

    def _next(self) -> RecordedFrame:
        """The next frame to send (looping or ending at the end)."""
        if self._pending is None:
            self._pending = next(self._frames, None)
        if self._pending is None:
            if not self.spec.loop or self._schedule is None or self._last_at is None:
                raise EndOfSource("end of the recording")
            self._schedule.next_pass(self._last_at, self._period)
            self._passes += 1
            self._last_at = None
            self._restart()
            self._pending = next(self._frames, None)
            if self._pending is None:
                raise EndOfSource("the recording has no frames in the window")
        return self._pending

    def read(self, timeout: float) -> Poses | None:
        """The next recorded frame's poses when due (None if not within ``timeout``), with the times
        of now; EndOfSource at the end without looping."""
        if self.recording is None:
            raise SourceError("replay source is not open")
        frame = self._next()
        if self._schedule is None:
            self._schedule = Schedule(self.speed, frame.at)
        due = self._schedule.due(frame.at)
        if due - time.monotonic() > timeout:
            time.sleep(max(timeout, 0.0))
            return None
        self._schedule.wait(frame.at)  # in time: the stages see the recorded spacing (divided by speed)
        self._pending = None
        if self._last_at is not None and frame.at > self._last_at:
            self._period = frame.at - self._last_at
        self._last_at = frame.at
        self._index += 1
        if frame.video is not None and self.recording.header.video:
            self._shown[self._index] = frame.video
            while len(self._shown) > _SHOWN:
                self._shown.popitem(last=False)
        return dataclasses.replace(
            frame.poses,
            frame_index=self._index,
            t_capture=due,
            t_wall=time.time(),
            scene=frame.poses.scene + self._passes * _PASS_SCENES,
            extras={**frame.poses.extras, "replay": (frame.poses.frame_index, self._passes)},
        )

    def picture(self, poses: Poses) -> NDArray[np.uint8] | None:
        """The recorded video's frame for these replayed poses ((H, W, 3) uint8 RGB), or None without a
        video (or for a frame long past). Called only when someone looks (the camera view's thread)."""
        shown = self._shown.get(poses.frame_index)
        recording = self.recording
        if shown is None or recording is None:
            return None
        with self._video_lock:
            cv2 = importlib.import_module("cv2")
            if self._video is None:
                self._video = cv2.VideoCapture(str(recording.path.with_name(recording.header.video)))
            if shown != self._video_at:
                self._video.set(cv2.CAP_PROP_POS_FRAMES, shown)
            ok, bgr = self._video.read()
            self._video_at = shown + 1 if ok else -1
        if not ok:
            return None
        rgb: NDArray[np.uint8] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        return rgb

    def close(self) -> None:
        """Forget the recording (idempotent)."""
        self.recording = None
        self._frames = iter(())
        with self._video_lock:
            if self._video is not None:
                self._video.release()
                self._video = None


def _check(spec: SourceSpec, host: Host) -> SourceCheck:
    return SourceCheck(True, f"source is a replay ({spec.text}): no camera needed")


KIND = SourceKind(
    "replay",
    "replay:FILE[@speed=S][,start=S][,end=S][,loop|once]",
    ReplaySource,
    poses=True,
    needs_arg=True,
    files=True,
    folder="recordings",
    params={"speed": (0.01, 100.0), "start": (0.0, 1e7), "end": (0.0, 1e7)},
    order=32,
    check=_check,
)
