"""What every OSC format shares: per-target output options, the coordinate mapping, and the
declaration a format module makes of itself (``OscFormat`` with its ``OscAddress`` list)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from numpy.typing import NDArray

from appliance.output.osc.wire import IMMEDIATELY, frame_timetag
from appliance.types import Poses, confident_boxes

__all__ = [
    "COORDS",
    "DEFAULT_COORDS",
    "DEFAULT_TIMETAG",
    "KEYPOINTS_XYS",
    "MAX_DATAGRAM",
    "TIMETAGS",
    "ArgKind",
    "Coords",
    "Encoder",
    "OscAddress",
    "OscExtra",
    "OscFormat",
    "OutputOptions",
    "TimeTag",
    "output_keypoints",
    "person_boxes",
    "typetags",
]

#: The coordinates vocabulary (the one place it is spelled): source ``pixels`` or ``normalized`` 0..1.
Coords = Literal["pixels", "normalized"]
COORDS: tuple[Coords, ...] = get_args(Coords)
#: What an encoder sends when nobody said (a target of the configuration gets its format's default).
DEFAULT_COORDS: Coords = "normalized"
#: "immediate": bundles carry time tag 1 (process on arrival); "capture": the frame's capture time
#: (for receivers whose clock is synchronised with the box's: liblo and SuperCollider hold a bundle
#: until its time). The one place the time-tag vocabulary is spelled.
TimeTag = Literal["immediate", "capture"]
TIMETAGS: tuple[TimeTag, ...] = get_args(TimeTag)
DEFAULT_TIMETAG: TimeTag = "immediate"
#: One UDP datagram that fits an Ethernet frame (1500 - 20 IPv4 - 8 UDP): no IP fragmentation.
MAX_DATAGRAM = 1472

#: What an OSC argument means; OSCQuery derives TYPE and RANGE from it. Integers: ``count`` (people
#: in the frame), ``index`` (0-based position, best first), ``id`` (stable person id), ``frame``
#: (frame number), ``width``/``height`` (source pixels), ``seconds``/``microseconds`` (the capture
#: time, Unix time on the box's clock). Floats: ``score`` (0..1), ``x``/``y`` (a coordinate in the
#: target's space: source pixels or 0..1). The room's (``appliance.stages``): ``flag`` (integer 0|1),
#: ``unit`` (a float 0..1 whatever the target's coordinates), ``metres`` (on the floor), ``speed``
#: (person heights per second).
ArgKind = Literal[
    "count",
    "index",
    "id",
    "frame",
    "width",
    "height",
    "seconds",
    "microseconds",
    "score",
    "x",
    "y",
    "flag",
    "unit",
    "metres",
    "speed",
    "milliseconds",
]
_INT_KINDS = frozenset({"count", "index", "id", "frame", "width", "height", "seconds", "microseconds", "flag"})
#: The arguments of 17 keypoints as (x, y, score) triplets, in PoseNet order.
KEYPOINTS_XYS: tuple[ArgKind, ...] = ("x", "y", "score") * 17

#: A pure function from one frame's poses to OSC datagrams (each ``bytes`` is one UDP packet).
Encoder = Callable[[Poses, "OutputOptions"], list[bytes]]


@dataclass(frozen=True, slots=True)
class OutputOptions:
    """How poses leave the box for one target.

    ``coords``: source ``pixels`` or ``normalized`` 0..1; ``mirror`` flips x (x -> width - x, or
    1 - x) for a selfie view; ``timetag`` of bundles; ``max_datagram``: formats that can be split
    send no datagram over this many bytes.
    """

    coords: Coords = DEFAULT_COORDS
    mirror: bool = False
    timetag: TimeTag = DEFAULT_TIMETAG
    max_datagram: int = MAX_DATAGRAM

    def bundle_timetag(self, t_wall: float) -> int:
        """The time tag of a frame captured at Unix time ``t_wall`` for this target."""
        return frame_timetag(t_wall) if self.timetag == "capture" else IMMEDIATELY


@dataclass(frozen=True, slots=True)
class OscAddress:
    """One OSC address a format emits, with the meaning of each argument.

    ``path`` may hold ``{person}`` (0-based index, best first) and ``{part}`` (a keypoint name, as
    in ``appliance.types.KEYPOINT_NAMES``). ``args`` are the fixed arguments; ``repeat`` is a group
    of arguments sent once per person after them (variable-length messages such as ``/poses/arr``).
    """

    path: str
    args: tuple[ArgKind, ...]
    description: str
    repeat: tuple[ArgKind, ...] = ()


def typetags(kinds: Sequence[ArgKind]) -> str:
    """OSC type tags of arguments of these kinds (``i`` for counts, indices, ids, frames, sizes and
    times, ``f`` for scores and coordinates)."""
    return "".join("i" if k in _INT_KINDS else "f" for k in kinds)


@dataclass(frozen=True, slots=True)
class OscFormat:
    """An output format as its module declares it; calling it encodes (``FORMATS[name](poses, opts)``).

    ``order`` places it in lists shown to people (config choices, CLI, page); ``default_coords`` is
    what targets of this format get unless they say otherwise (the tools a format imitates decide);
    ``extras``: its targets get every stage's messages (``OscExtra``) unless they say otherwise
    (our own format does; formats imitating a tool send only what that tool sends).
    """

    name: str
    description: str
    encode: Encoder
    addresses: tuple[OscAddress, ...]
    order: int = 100
    default_coords: Coords = DEFAULT_COORDS
    extras: bool = False
    #: The same encoder with messages put in the frame's first bundle, right after the header and
    #: the events (``lead(poses, options, messages)``), for a format whose frames have one.
    lead: Callable[[Poses, OutputOptions, Sequence[bytes]], list[bytes]] | None = None

    def __call__(self, poses: Poses, options: OutputOptions) -> list[bytes]:
        return self.encode(poses, options)


@dataclass(frozen=True, slots=True)
class OscExtra:
    """The OSC messages of one stage (``appliance.stages``), for the targets that ask for them (a
    target's ``extras``): ``encode(poses, options)`` returns OSC *messages* (not bundles: they go in
    bundles of their own, after the frame's, each starting with the frame header, within
    ``max_datagram``), reading what the stage left in ``Poses.extras[name]``; ``addresses`` are
    published by OSCQuery like a format's.

    ``lead``, when given, are messages for *every* frame's first bundle (``OscFormat.lead``: the
    ``bundle`` format), sent there instead of ``encode``'s to the targets of such a format (the scene:
    every frame in the first bundle, twice a second in a bundle of its own for the others).
    ``values``: the messages that say the stage's current state every frame (OSCQuery's values),
    when ``encode`` sends some only when they change (a zone's count); ``encode`` when None."""

    name: str
    encode: Encoder
    addresses: tuple[OscAddress, ...]
    lead: Encoder | None = None
    values: Encoder | None = None


def output_keypoints(poses: Poses, options: OutputOptions) -> NDArray[np.float32]:
    """Keypoints (N, 17, 3) as (x, y, score) in the requested space, mirrored if asked (a new array).

    ``pixels``: source pixels; ``normalized``: 0..1 of the frame (``Poses.normalized``).
    """
    if options.coords == "normalized":
        kp = poses.normalized()
        if options.mirror:
            kp[:, :, 0] = np.float32(1.0) - kp[:, :, 0]
        return kp
    kp = poses.keypoints.astype(np.float32, copy=True)
    if options.mirror:
        kp[:, :, 0] = np.float32(poses.frame_size[0]) - kp[:, :, 0]
    return kp


#: Keypoints at least this confident make a person's box and centre (all of them if fewer than two are).
BOX_MIN_SCORE = 0.2
_TORSO = [5, 6, 11, 12]  # shoulders and hips (a list: it indexes arrays)
_BOX_MIN = np.float32(BOX_MIN_SCORE)
_ZERO, _ONE = np.float32(0.0), np.float32(1.0)


def person_boxes(kp: NDArray[np.float32]) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Each person's bounding box (N, 4) = (x0, y0, x1, y1) and centre (N, 2) = (x, y), in the space
    of ``kp`` ((N, 17, 3) = (x, y, score) from ``output_keypoints``: already in the target's
    coordinates and mirrored). The box spans the confident keypoints; the centre is the mean of the
    confident shoulders and hips (where the body is, steadier than the box's middle), else of the
    confident keypoints. (A person with fewer than two confident keypoints uses all 17.)"""
    boxes = confident_boxes(kp, BOX_MIN_SCORE)
    xy = kp[:, :, :2].transpose(0, 2, 1)  # (N, 2, 17)
    confident = kp[:, :, 2] >= _BOX_MIN
    torso = confident[:, _TORSO]
    centres = _mean_of(xy[:, :, _TORSO], torso)
    lost = ~torso.any(axis=1)  # nobody's shoulders or hips: the mean of the box's keypoints
    if lost.any():
        used = confident[lost] | (confident[lost].sum(axis=1) < 2)[:, None]
        centres[lost] = _mean_of(xy[lost], used)
    return boxes, centres


def _mean_of(xy: NDArray[np.float32], use: NDArray[np.bool_]) -> NDArray[np.float32]:
    """Per person, the mean (2,) of the points of ``xy`` (N, 2, K) that ``use`` (N, K) selects (0 if
    none): a float32 sum in index order (a cumulative sum, the others as 0), as ``ndarray.mean`` sums
    a few points, so the bytes sent are those of the per-person loop this replaced."""
    sums = np.where(use[:, None, :], xy, _ZERO).cumsum(axis=2, dtype=np.float32)[..., -1]
    out: NDArray[np.float32] = sums / np.maximum(use.sum(axis=1, dtype=np.float32), _ONE)[:, None]
    return out
