"""Frame sources: ``create_source(spec)`` with an explicit registry and lazy imports.

Source strings (``--source``): ``TYPE[:ARG][@OPTS]`` with OPTS comma-separated: a number is the
frame rate, ``WxH`` a size, ``loop`` / ``once`` for files, ``hold=SECONDS`` (``hold=2s``) how long
each still image is shown (0: the images are the frames of one continuous scene). Examples::

    picamera2            picamera2:1           (camera index)
    v4l2:/dev/video0     v4l2:/dev/v4l/by-id/usb-…-video-index0@30,640x480
    video:clip.mp4       video:clip.mp4@once
    images:*.jpg@15      (files in the media folder)     images:*.jpg@15,hold=5s
    synthetic            synthetic@30,640x480

File sources (``images:``, ``video:``) read from the **media folder** only: a saved or network-made
configuration names files inside it (relative, no ``..``), never elsewhere; ``check_confined``
says so. Only the command line, run by the box's owner, may point the media folder elsewhere.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path, PurePosixPath

from appliance.capture.base import EndOfSource, FrameSource, SourceSpec
from appliance.capture.images import load_image
from appliance.errors import ConfigError

__all__ = [
    "SOURCES",
    "EndOfSource",
    "FrameSource",
    "SourceSpec",
    "check_confined",
    "create_source",
    "load_image",
    "parse_source",
]

#: type -> "module:Class"; only the chosen module is imported (picamera2 and cv2 stay optional).
SOURCES: dict[str, str] = {
    "picamera2": "appliance.capture.picamera2_source:Picamera2Source",
    "v4l2": "appliance.capture.v4l2_source:V4l2Source",
    "video": "appliance.capture.video_source:VideoFileSource",
    "images": "appliance.capture.image_source:ImageSource",
    "synthetic": "appliance.capture.synthetic_source:SyntheticSource",
}
_NEEDS_ARG = {"v4l2", "video", "images"}
_FILES = {"video", "images"}
_SIZE = re.compile(r"^(\d+)x(\d+)$")
_HOLD = re.compile(r"^hold=(\d+(?:\.\d+)?)s?$")
#: Longest hold (seconds) a source accepts.
MAX_HOLD = 3600.0
_DEVICE = re.compile(r"/dev/video\d{1,3}|/dev/v4l/by-(?:id|path)/[A-Za-z0-9._:+-]{1,200}|\d{1,3}")


def parse_source(text: str) -> SourceSpec:
    """Parse a source string (see the module docstring).

    Raises:
        ConfigError: unknown type, missing argument, or a bad option, naming it.
    """
    raw = text.strip()
    kind, _, rest = raw.partition(":")
    arg, opts = rest, ""
    if "@" in rest:
        arg, _, opts = rest.rpartition("@")
    elif "@" in kind:
        kind, _, opts = kind.partition("@")
    if kind not in SOURCES:
        raise ConfigError(f"unknown source type {kind!r} in {text!r}; choose one of {', '.join(SOURCES)}")
    if kind in _NEEDS_ARG and not arg:
        raise ConfigError(f"source {kind!r} needs an argument, e.g. {kind}:PATH")
    fps: float | None = None
    loop = True
    size: tuple[int, int] | None = None
    hold: float | None = None
    for opt in filter(None, (o.strip() for o in opts.split(","))):
        if opt in ("loop", "once"):
            loop = opt == "loop"
        elif opt.startswith("hold="):
            hold = _hold(opt, kind, text)
        elif m := _SIZE.match(opt):
            size = (int(m.group(1)), int(m.group(2)))
            if not (16 <= size[0] <= 8192 and 16 <= size[1] <= 8192):
                raise ConfigError(f"source size {opt} out of range 16..8192")
        else:
            try:
                fps = float(opt)
            except ValueError:
                raise ConfigError(f"source option {opt!r} in {text!r} is not a frame rate, WxH, loop or once") from None
            if not 0 < fps <= 1000:
                raise ConfigError(f"source frame rate {opt} out of range (0, 1000]")
    return SourceSpec(kind, arg, fps, loop, size, raw, hold)


def _hold(opt: str, kind: str, text: str) -> float:
    """Seconds of a ``hold=`` option (``hold=2s``, ``hold=0.5``, ``hold=0``); ConfigError otherwise."""
    if kind != "images":
        raise ConfigError(f"source option {opt!r} is for still images only (images:GLOB@...,hold=2s)")
    m = _HOLD.match(opt)
    if m is None:
        raise ConfigError(f"source option {opt!r} in {text!r} is not a time: use hold=SECONDS, e.g. hold=2s")
    seconds = float(m.group(1))
    if seconds > MAX_HOLD:
        raise ConfigError(f"source hold {seconds:g} s out of range 0..{MAX_HOLD:g}")
    return seconds


def check_confined(spec: SourceSpec) -> SourceSpec:
    """Refuse what a saved or network-made configuration may not name: files outside the media
    folder (absolute paths, ``..``, ``~``), and V4L2 paths that are not camera devices.

    Raises:
        ConfigError: naming the rule (never whether some file exists).
    """
    if spec.type in _FILES:
        p = PurePosixPath(spec.arg)
        if p.is_absolute() or ".." in p.parts or spec.arg.startswith("~") or "\\" in spec.arg:
            raise ConfigError(
                f"{spec.type} files are read from the media folder: name a file or pattern inside it, not a path"
            )
    elif spec.type == "v4l2" and not _DEVICE.fullmatch(spec.arg):
        raise ConfigError("v4l2 takes a camera device: /dev/videoN, /dev/v4l/by-id/... or /dev/v4l/by-path/...")
    return spec


def create_source(spec: SourceSpec | str, *, media: Path | None = None, **kwargs: object) -> FrameSource:
    """Instantiate (not open) the source for ``spec``; file sources read only from inside ``media``
    (None: paths as given, for programs and benchmarks); other keyword arguments go to the class."""
    if isinstance(spec, str):
        spec = parse_source(spec)
    module_name, _, cls_name = SOURCES[spec.type].partition(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    if spec.type in _FILES:
        kwargs["folder"] = media
    source: FrameSource = cls(spec, **kwargs)
    return source
