"""Recordings of the running box: the recordings folder, one recording at a time, started and stopped
from the command line, the API, the page or the control port.

Files live in ``<state dir>/recordings`` with names the box accepts from the network
(``NAME_PATTERN``: letters, digits, ``. _ -``, ending in ``.jsonl``; never a path). The folder is
listed with at most ``MAX_LISTED`` entries. Each recording has a size cap and stops above a floor of
free disk space (``appliance.recording.recorder``); the command line may also record to any path.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from appliance.errors import ConfigError
from appliance.recording.fileformat import Header, RecordingError
from appliance.recording.recorder import DEFAULT_MAX_BYTES, DEFAULT_MIN_FREE, Recorder, RecorderStatus, RecordingTap

__all__ = ["MAX_LISTED", "NAME_PATTERN", "RecordingInfo", "Recordings"]

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,58}\.jsonl")
#: A recording's video beside it (``--record-video``): the same name ending ``.mp4``.
VIDEO_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,58}\.mp4")
#: Recordings listed at most (newest first).
MAX_LISTED = 500
#: Longest recording started from the network, in seconds (the command line may ask for more).
MAX_SECONDS = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class RecordingInfo:
    """One file in the recordings folder: its name, size in bytes, last change (Unix seconds), and
    its video's name ("" without)."""

    name: str
    bytes: int
    modified: float
    video: str = ""


class Recordings:
    """The recordings folder and the one recording in progress (thread-safe).

    ``tap`` is the application's ``RecordingTap`` (a stage and a listener of every pipeline);
    ``header`` gives the header of a new recording (box, version, model, source, settings).
    """

    def __init__(
        self,
        folder: Path,
        tap: RecordingTap,
        header: Callable[[], Header],
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        min_free: int = DEFAULT_MIN_FREE,
    ) -> None:
        self.folder, self.tap, self._header = folder, tap, header
        self.max_bytes, self.min_free = max_bytes, min_free
        self._lock = threading.Lock()
        self._last: Recorder | None = None

    def checked_name(self, name: str) -> str:
        """``name`` if the box accepts it as a recording's file name.

        Raises:
            ConfigError: not a plain ``NAME.jsonl`` (letters, digits, ``. _ -``).
        """
        if not NAME_PATTERN.fullmatch(name) or ".." in name:
            raise ConfigError(f"name: {name[:80]!r} is not a recording name (letters, digits, . _ -, ending .jsonl)")
        return name

    def file(self, name: str) -> Path:
        """A recording (``NAME.jsonl``) or its video (``NAME.mp4``) to download.

        Raises:
            ConfigError: neither name. FileNotFoundError: no such file.
        """
        if VIDEO_PATTERN.fullmatch(name) and ".." not in name:
            return self._inside(self.folder / name)
        return self._inside(self.folder / self.checked_name(name))

    def _inside(self, p: Path) -> Path:
        """``p`` if it is a regular file in the folder once links are resolved (a link planted in the
        folder to a file elsewhere, say the saved settings, is no recording).

        Raises:
            FileNotFoundError: no such file, or not inside the folder.
        """
        if not p.is_file() or not p.resolve().is_relative_to(self.folder.resolve()):
            raise FileNotFoundError(f"no recording {p.name}")
        return p

    def list(self) -> list[RecordingInfo]:
        """The recordings in the folder, newest first (at most ``MAX_LISTED``)."""
        found: list[RecordingInfo] = []
        try:
            root = self.folder.resolve()
            entries = list(self.folder.iterdir())
        except OSError:
            return []
        for p in entries[: MAX_LISTED * 4]:
            if NAME_PATTERN.fullmatch(p.name) and p.is_file() and p.resolve().is_relative_to(root):
                st = p.stat()
                video = p.with_suffix(".mp4")
                shown = video.is_file() and video.resolve().is_relative_to(root)
                found.append(RecordingInfo(p.name, st.st_size, st.st_mtime, video.name if shown else ""))
        found.sort(key=lambda r: r.modified, reverse=True)
        return found[:MAX_LISTED]

    def path(self, name: str) -> Path:
        """The file of the recording ``name``.

        Raises:
            ConfigError: a bad name. FileNotFoundError: no such recording.
        """
        return self._inside(self.folder / self.checked_name(name))

    def delete(self, name: str) -> None:
        """Delete a recording (not the one in progress), or a link planted under its name (the link
        only: never what it points to).

        Raises:
            ConfigError: a bad name. FileNotFoundError: no such recording. RecordingError: in progress.
        """
        p = self.folder / self.checked_name(name)
        if not p.is_symlink():
            p = self.path(name)
        with self._lock:
            if self._last is not None and self._last.active and self._last.path == p:
                raise RecordingError(f"{name} is being recorded: stop it first")
            p.unlink()
            p.with_suffix(".mp4").unlink(missing_ok=True)

    def start(
        self, name: str | None = None, seconds: float | None = None, path: Path | None = None, video: bool = False
    ) -> RecorderStatus:
        """Start recording to ``name`` in the folder (default: the date and time), or to ``path``
        (the command line only); stop after ``seconds`` if given; with ``video``, the camera frames
        too (``NAME.mp4`` beside it).

        Raises:
            ConfigError: a bad name or duration. RecordingError: one is in progress, the file
                exists, or the disk is below the floor.
        """
        if seconds is not None and not 0 < seconds <= (MAX_SECONDS if path is None else float("inf")):
            raise ConfigError(f"seconds: must be > 0 and at most {MAX_SECONDS:g}")
        if path is None:
            name = self.checked_name(name or time.strftime("rec-%Y%m%d-%H%M%S.jsonl"))
            path = self.folder / name
        with self._lock:
            if self._last is not None and self._last.active:
                raise RecordingError(f"already recording to {self._last.path.name}: stop it first")
            recorder = Recorder(
                path, self._header(), max_bytes=self.max_bytes, min_free=self.min_free, max_seconds=seconds, video=video
            )
            self._last = recorder
            self.tap.recorder = recorder
        return recorder.status()

    def stop(self) -> RecorderStatus | None:
        """Stop the recording in progress (the file is complete when this returns); None if none."""
        with self._lock:
            recorder = self._last
            self.tap.recorder = None
        return recorder.stop() if recorder is not None else None

    def status(self) -> RecorderStatus | None:
        """The recording in progress, or the last one (with why it stopped); None before the first."""
        recorder = self._last
        return recorder.status() if recorder is not None else None
