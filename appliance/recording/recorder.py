"""Recorder: writes the poses of a running pipeline to a recording file, never blocking it.

It sees each frame twice on the "send" thread: through ``RecordingTap`` (a pose stage placed first,
so it gets the poses as decoded, before tracking and smoothing) and as a pose listener (the same
frame after the stages: the live ids and events). Both are only handed to a writer thread through a
bounded queue; when the disk is slower than the frames, a frame is dropped and counted, and the
pipeline never waits.

Bounds, checked by the writer thread: ``max_bytes`` per recording (``DEFAULT_MAX_BYTES``), a floor
of free space on the disk (``DEFAULT_MIN_FREE``), and optionally a duration. Reaching one stops the
recording with a status saying which. Each line is written whole and flushed, and the file is
fsynced every second and at the end: a power cut loses at most the last second and leaves a file
that reads up to its last whole line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import queue
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from appliance.recording.fileformat import Header, RecordingError, encode_frame, encode_header
from appliance.recording.video import VideoWriter, shrink
from appliance.types import Frame, Poses

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MIN_FREE", "Recorder", "RecorderStatus", "RecordingTap"]

logger = logging.getLogger(__name__)

#: A recording stops at this size (about 4 hours of 3 people at 15 fps).
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
#: ... or when the disk has less free space than this.
DEFAULT_MIN_FREE = 200 * 1024 * 1024
#: Frames waiting for the writer, at most (then frames are dropped and counted).
QUEUE_FRAMES = 256
_SYNC_EVERY = 1.0  # seconds between fsyncs (and free-space checks)

State = Literal["recording", "stopped", "failed"]


@dataclass(frozen=True, slots=True)
class RecorderStatus:
    """A recording's state: ``reason`` says why it stopped ("" while recording)."""

    state: State
    path: str
    frames: int
    bytes: int
    seconds: float
    dropped: int
    reason: str


class Recorder:
    """One recording in progress; ``see`` (before the stages) and ``on_poses`` (after) from the
    "send" thread, ``stop`` and ``status`` from anywhere.

    Raises ``RecordingError`` at once when the file exists or cannot be created, or the disk is
    already below the free-space floor.
    """

    def __init__(
        self,
        path: Path,
        header: Header,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        min_free: int = DEFAULT_MIN_FREE,
        max_seconds: float | None = None,
        free_bytes: Callable[[Path], int] = lambda p: shutil.disk_usage(p).free,
        video: bool = False,
    ) -> None:
        self.path = path
        self.video = VideoWriter(path.with_suffix(".mp4")) if video else None
        if self.video is not None:
            header = dataclasses.replace(header, video=self.video.path.name)
        self._header = header
        self.max_bytes, self.min_free, self.max_seconds = max_bytes, min_free, max_seconds
        self._free_bytes = free_bytes
        if self.video is not None and (self.video.path.exists() or self.video.path.is_symlink()):
            raise RecordingError(f"{self.video.path.name} exists already")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if free_bytes(path.parent) < min_free:
                raise RecordingError(f"not recording: less than {min_free // 2**20} MB free on the disk")
            self._file = path.open("xb")
        except FileExistsError:
            raise RecordingError(f"{path.name} exists already") from None
        except OSError as exc:
            raise RecordingError(f"cannot record to {path}: {exc.strerror or exc}") from None
        self._queue: queue.Queue[tuple[Poses, Poses, Any] | None] = queue.Queue(QUEUE_FRAMES)
        self._raw: Poses | None = None
        self._image: Any = None  # the frame's picture for the video (BGR, shrunk), or None
        self._first: float | None = None
        self._size: tuple[int, int] = (0, 0)  # the header's image size
        self.frames = self.bytes = self.dropped = 0  # dropped: written by the "send" thread only
        self.unrecordable = 0  # frames with non-finite numbers (the writer thread)
        self._started = time.monotonic()
        self._ended: float | None = None
        self._state: State = "recording"
        self._reason = ""
        self._stopping = ""  # set by stop(): the writer ends after what is queued
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._write_loop, name="recorder", daemon=True)
        self._thread.start()

    # -- the "send" thread ---------------------------------------------------------------------
    def see(self, raw: Poses, frame: Frame | None = None) -> None:
        """This frame's poses as decoded (before the stages), and its picture when recording video."""
        self._raw = raw
        if self.video is not None and frame is not None and frame.index == raw.frame_index:
            self._image = shrink(frame.image)

    def on_poses(self, poses: Poses) -> None:
        """This frame after the stages: queue the pair for the writer (drop when it is behind)."""
        raw, self._raw = self._raw, None
        image, self._image = self._image, None
        if raw is None or raw.frame_index != poses.frame_index or self._stopping or self._state != "recording":
            return
        try:
            self._queue.put_nowait((raw, poses, image))
        except queue.Full:
            self.dropped += 1

    # -- anyone ----------------------------------------------------------------------------------
    def stop(self, reason: str = "stopped", timeout: float = 5.0) -> RecorderStatus:
        """Stop (idempotent): the writer writes what is queued, fsyncs and closes the file."""
        self._stopping = self._stopping or reason
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout)
        self._thread.join(timeout)
        return self.status()

    def status(self) -> RecorderStatus:
        """A snapshot of the counters; ``seconds`` since the recording started."""
        end = self._ended if self._ended is not None else time.monotonic()
        return RecorderStatus(
            self._state,
            str(self.path),
            self.frames,
            self.bytes,
            round(end - self._started, 3),
            self.dropped + self.unrecordable,
            self._reason,
        )

    @property
    def active(self) -> bool:
        """Still recording (not stopped, not failed)."""
        return self._state == "recording" and not self._stopping

    # -- the writer thread -------------------------------------------------------------------------
    def _end(self, state: State, reason: str) -> None:
        with self._lock:
            if self._state == "recording":
                self._state, self._reason = state, reason
                log = logger.info if reason == "stopped" else logger.warning
                log("recording %s stopped: %s", self.path.name, reason)

    def _write(self, data: bytes) -> bool:
        if self.bytes + len(data) > self.max_bytes:
            self._end("stopped", f"size cap ({self.max_bytes // 2**20} MB) reached")
            return False
        self._file.write(data)
        self._file.flush()
        self.bytes += len(data)
        return True

    def _line(self, raw: Poses, final: Poses, image: Any) -> bool:
        if self._first is None:
            self._first = raw.t_capture
            w, h = self._size = raw.frame_size
            header = dataclasses.replace(self._header, width=w, height=h, started=raw.t_wall)
            if not self._write(encode_header(header)):
                return False
        shown = self.video.write(image) if self.video is not None and image is not None else None
        try:
            line = encode_frame(raw, raw.t_capture - self._first, final, self._size, shown)
        except ValueError:  # non-finite numbers (a decoder fault): not recordable, counted
            self.unrecordable += 1
            return False
        if self._write(line):
            self.frames += 1
            return True
        return False

    def _check(self, now: float) -> None:
        os.fsync(self._file.fileno())
        if self.video is not None and self.bytes + self.video.bytes > self.max_bytes:
            self._end("stopped", f"size cap ({self.max_bytes // 2**20} MB, with the video) reached")
        elif self._free_bytes(self.path.parent) < self.min_free:
            self._end("stopped", f"disk floor: less than {self.min_free // 2**20} MB free")
        elif self.max_seconds is not None and now - self._started >= self.max_seconds:
            self._end("stopped", f"duration ({self.max_seconds:g} s) reached")

    def _write_loop(self) -> None:
        synced = time.monotonic()
        try:
            while True:
                try:
                    item = self._queue.get(timeout=0.25)
                except queue.Empty:
                    item = False  # type: ignore[assignment]
                if item is None:
                    self._end("stopped", self._stopping or "stopped")
                    break
                if self._state != "recording":
                    break
                if item:
                    self._line(*item)
                now = time.monotonic()
                if now - synced >= _SYNC_EVERY:
                    self._check(now)
                    synced = now
        except OSError as exc:  # a full or failing disk: stop, keep what was written
            self._end("failed", f"write failed: {exc.strerror or exc}")
        finally:
            self._ended = time.monotonic()
            if self.video is not None:
                self.video.close()
            try:
                self._file.flush()
                os.fsync(self._file.fileno())
            except OSError:
                pass
            self._file.close()


class RecordingTap:
    """A pose stage (first in the chain) that shows the decoded poses to the active recorder, if
    any; it changes nothing. ``recorder`` is set and cleared from any thread."""

    name = "recording"

    def __init__(self, frame_of: Callable[[], Frame | None] = lambda: None) -> None:
        self.recorder: Recorder | None = None
        self.frame_of = frame_of  # the frame the "send" thread is working on (for a video)

    def __call__(self, poses: Poses) -> Poses:
        recorder = self.recorder
        if recorder is not None:
            recorder.see(poses, self.frame_of() if recorder.video is not None else None)
        return poses

    def reset(self) -> None:
        """Nothing to forget."""

    def on_poses(self, poses: Poses) -> None:
        """The listener half: the same frame after the stages."""
        recorder = self.recorder
        if recorder is not None:
            recorder.on_poses(poses)
