"""What every OSC format shares: per-target output options, the coordinate mapping, and the
declaration a format module makes of itself (``OscFormat`` with its ``OscAddress`` list)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from appliance.types import Poses

__all__ = [
    "KEYPOINTS_XYS",
    "ArgKind",
    "Coords",
    "Encoder",
    "OscAddress",
    "OscFormat",
    "OutputOptions",
    "output_keypoints",
]

Coords = Literal["pixels", "normalized"]

#: What an OSC argument means; OSCQuery derives TYPE and RANGE from it. Integers: ``count`` (people
#: in the frame), ``index`` (0-based position, best first), ``id`` (stable person id), ``frame``
#: (frame number), ``width``/``height`` (source pixels). Floats: ``score`` (0..1), ``x``/``y`` (a
#: coordinate in the target's space: source pixels or 0..1).
ArgKind = Literal["count", "index", "id", "frame", "width", "height", "score", "x", "y"]
_INT_KINDS = frozenset({"count", "index", "id", "frame", "width", "height"})
#: The arguments of 17 keypoints as (x, y, score) triplets, in PoseNet order.
KEYPOINTS_XYS: tuple[ArgKind, ...] = ("x", "y", "score") * 17

#: A pure function from one frame's poses to OSC datagrams (each ``bytes`` is one UDP packet).
Encoder = Callable[[Poses, "OutputOptions"], list[bytes]]


@dataclass(frozen=True, slots=True)
class OutputOptions:
    """How coordinates leave the box: source ``pixels`` or ``normalized`` 0..1, optionally mirrored.

    ``mirror`` flips x (x -> width - x, or 1 - x) so the output matches a selfie view.
    """

    coords: Coords = "normalized"
    mirror: bool = False


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

    @property
    def typetags(self) -> str:
        """OSC type tags of the fixed arguments (``i`` for counts and indices, ``f`` otherwise)."""
        return _tags(self.args)

    @property
    def repeat_typetags(self) -> str:
        """OSC type tags of one repeated group ("" for fixed-length messages)."""
        return _tags(self.repeat)


def _tags(kinds: tuple[ArgKind, ...]) -> str:
    return "".join("i" if k in _INT_KINDS else "f" for k in kinds)


@dataclass(frozen=True, slots=True)
class OscFormat:
    """An output format as its module declares it; calling it encodes (``FORMATS[name](poses, opts)``).

    ``order`` places it in lists shown to people (config choices, CLI, page).
    """

    name: str
    description: str
    encode: Encoder
    addresses: tuple[OscAddress, ...]
    order: int = 100

    def __call__(self, poses: Poses, options: OutputOptions) -> list[bytes]:
        return self.encode(poses, options)


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
