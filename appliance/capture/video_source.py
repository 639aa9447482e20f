"""Video files through OpenCV: ``video:PATH[@fps][,once][,x0=..,x1=..,y0=..,y1=..]``, paced in real
time, looping by default; a window of each frame (0..1 of the picture, (x, y)) cut before inference."""

from __future__ import annotations

from pathlib import Path

from appliance.capture.base import (
    WINDOW_PARAMS,
    EndOfSource,
    Host,
    Pacer,
    SourceKind,
    SourceSpec,
    confined_files,
    cut,
    window,
)
from appliance.capture.opencv_common import OpenCvSource, import_cv2
from appliance.errors import SourceError
from appliance.types import Frame

__all__ = ["KIND", "VIDEO_SUFFIXES", "VideoFileSource"]

#: File name endings the page offers as videos.
VIDEO_SUFFIXES = (".mp4", ".mkv", ".avi", ".mov", ".webm")


class VideoFileSource(OpenCvSource):
    """Frames of a file at its own frame rate (or ``@fps``); ``once`` ends instead of looping; each
    frame cut to the spec's window (``base.window``: 0..1 of the picture, x right, y down)."""

    def __init__(self, spec: SourceSpec, folder: Path | None = None) -> None:
        super().__init__(spec, f"video {spec.arg}")
        self.folder = folder
        self.window = window(spec)
        self._pacer = Pacer(spec.fps)

    def open(self) -> None:
        """Open the file (a regular file inside the folder); SourceError when missing or not a
        video OpenCV can read."""
        cv2 = import_cv2()
        path = self.folder / self.spec.arg if self.folder is not None else Path(self.spec.arg)
        found = confined_files([str(path)], self.folder)
        if not found:
            raise SourceError(f"video file not found: {self.spec.arg}")
        cap = cv2.VideoCapture(str(found[0]))
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"not a readable video: {self.spec.arg}")
        fps = self.spec.fps or cap.get(cv2.CAP_PROP_FPS) or 30.0
        self._pacer = Pacer(fps)
        self._cap = cap

    def read(self, timeout: float) -> Frame | None:
        """Next frame when due; rewinds at the end when looping."""
        if self._cap is None:
            raise SourceError("video is not open")
        if not self._pacer.wait(timeout):
            return None
        ok, bgr = self._cap.read()
        if not ok:
            if not self.spec.loop:
                raise EndOfSource(f"end of {self.spec.arg}")
            self._cap.set(0, 0)  # cv2.CAP_PROP_POS_MSEC = 0: rewind
            ok, bgr = self._cap.read()
            if not ok:
                raise SourceError(f"cannot rewind {self.spec.arg}")
        return self._frame(cut(bgr, self.window))


def _offer(host: Host) -> list[dict[str, str]]:
    """Every video file of the media folder."""
    videos = [p for p in host.media_files() if p.suffix.lower() in VIDEO_SUFFIXES]
    return [{"source": f"video:{p.name}", "label": f"video {p.name}"} for p in videos]


KIND = SourceKind(
    "video",
    "video:FILE[@fps][,once][,x0=0,x1=0.6,y0=0,y1=1]",
    VideoFileSource,
    needs_arg=True,
    files=True,
    order=21,
    params=WINDOW_PARAMS,
    confine=window,
    offer=_offer,
)
