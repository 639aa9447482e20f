"""Sources of frames and of poses: ``SOURCES`` (name -> ``SourceKind``), ``parse_source`` and
``create_source``.

Each source kind is one module ``appliance/capture/*_source.py`` declaring ``KIND = SourceKind(...)``:
its name, syntax, how it is built, how the doctor checks it and what the page offers; this package
finds them (sorted by ``order``, then name), and the factory, the doctor, the choices and the CLI
iterate them. Modules import their device libraries (picamera2, cv2) only when a source opens.

Source strings (``--source``): ``TYPE[:ARG][@OPTS]`` with OPTS comma-separated: a number is the
frame rate, ``WxH`` a size, ``loop`` / ``once`` for files, ``hold=SECONDS`` (``hold=2s``) how long
each still image is shown (0: the images are the frames of one continuous scene), and a kind's own
``NAME=NUMBER`` options (``SourceKind.params``: ``scene``, ``images`` and ``video`` take a window of
the picture, ``x0=,x1=,y0=,y1=``, 0..1, (x, y); ``replay`` a speed and times). Examples::

    picamera2            picamera2:1           (camera index)
    v4l2:/dev/video0     v4l2:/dev/v4l/by-id/usb-…-video-index0@30,640x480
    video:clip.mp4       video:clip.mp4@once
    images:*.jpg@15      (files in the media folder)     images:*.jpg@15,hold=5s
    synthetic            synthetic@30,640x480
    scene                scene:3@15,640x480    (poses of synthetic people: no model)
    images:a.jpg@3,x0=0.48,x1=1                (the right 52 % of the picture)

File sources (``images:``, ``video:``) read from the **media folder** only: a saved or network-made
configuration names files inside it (relative, no ``..``), never elsewhere; ``check_confined``
says so. Only the command line, run by the box's owner, may point the media folder elsewhere.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path, PurePosixPath

from appliance.capture.base import EndOfSource, FrameSource, Host, PoseSource, SourceCheck, SourceKind, SourceSpec
from appliance.capture.images import load_image
from appliance.errors import ConfigError

__all__ = [
    "SOURCES",
    "EndOfSource",
    "FrameSource",
    "Host",
    "PoseSource",
    "SourceCheck",
    "SourceKind",
    "SourceSpec",
    "check_confined",
    "create_source",
    "load_image",
    "parse_source",
    "source_kind",
]


def _discover() -> dict[str, SourceKind]:
    """Every ``*_source`` module's ``KIND``, by name, in ``order`` (then name)."""
    kinds = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.endswith("_source"):
            kind = getattr(importlib.import_module(f"{__name__}.{info.name}"), "KIND", None)
            if not isinstance(kind, SourceKind):
                raise TypeError(f"{__name__}.{info.name} declares no KIND = SourceKind(...)")
            kinds.append(kind)
    return {k.name: k for k in sorted(kinds, key=lambda k: (k.order, k.name))}


#: name -> SourceKind, every ``appliance/capture/*_source.py``.
SOURCES: dict[str, SourceKind] = _discover()
_SIZE = re.compile(r"^(\d+)x(\d+)$")
_HOLD = re.compile(r"^hold=(\d+(?:\.\d+)?)s?$")
#: Longest hold (seconds) a source accepts.
MAX_HOLD = 3600.0


def source_kind(text: str) -> SourceKind:
    """The kind of a source string (ConfigError as ``parse_source`` for a bad one)."""
    return SOURCES[parse_source(text).type]


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
    if SOURCES[kind].needs_arg and not arg:
        raise ConfigError(f"source {kind!r} needs an argument, e.g. {kind}:PATH")
    fps: float | None = None
    loop = True
    size: tuple[int, int] | None = None
    hold: float | None = None
    params: list[tuple[str, float]] = []
    for opt in filter(None, (o.strip() for o in opts.split(","))):
        if opt in ("loop", "once"):
            loop = opt == "loop"
        elif opt.startswith("hold="):
            hold = _hold(opt, kind, text)
        elif "=" in opt and opt.partition("=")[0] in SOURCES[kind].params:
            params.append(_param(opt, kind))
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
    return SourceSpec(kind, arg, fps, loop, size, raw, hold, tuple(params))


def _param(opt: str, kind: str) -> tuple[str, float]:
    """A kind's own ``NAME=NUMBER`` option, in its range; ConfigError otherwise."""
    name, _, value = opt.partition("=")
    low, high = SOURCES[kind].params[name]
    try:
        number = float(value.removesuffix("s"))
    except ValueError:
        raise ConfigError(f"source option {opt!r}: {value!r} is not a number") from None
    if not low <= number <= high:
        raise ConfigError(f"source option {name} = {number:g} out of range {low:g}..{high:g}")
    return name, number


def _hold(opt: str, kind: str, text: str) -> float:
    """Seconds of a ``hold=`` option (``hold=2s``, ``hold=0.5``, ``hold=0``); ConfigError otherwise."""
    if not SOURCES[kind].holds:
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
    folder (absolute paths, ``..``, ``~``), and what the kind's own rule refuses (``confine``: V4L2
    paths that are not camera devices).

    Raises:
        ConfigError: naming the rule (never whether some file exists).
    """
    kind = SOURCES[spec.type]
    if kind.files:
        p = PurePosixPath(spec.arg)
        if p.is_absolute() or ".." in p.parts or spec.arg.startswith("~") or "\\" in spec.arg:
            raise ConfigError(
                f"{spec.type} files are read from the media folder: name a file or pattern inside it, not a path"
            )
    kind.confine(spec)
    return spec


def create_source(
    spec: SourceSpec | str,
    *,
    media: Path | None = None,
    input_size: tuple[int, int] | None = None,
    recordings: Path | None = None,
    **kwargs: object,
) -> FrameSource | PoseSource:
    """Instantiate (not open) the source for ``spec``; file sources read only from inside ``media``
    (or ``recordings`` for the kinds that read recordings; None: paths as given, for programs and
    benchmarks), a camera sized for a model's ``input_size`` (height, width); other keyword
    arguments go to the class."""
    if isinstance(spec, str):
        spec = parse_source(spec)
    kind = SOURCES[spec.type]
    return kind.build(spec, recordings if kind.folder == "recordings" else media, input_size, **kwargs)
