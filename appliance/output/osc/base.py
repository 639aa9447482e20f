"""The Encoder contract and the per-target output options every format shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from appliance.types import Poses

__all__ = ["Coords", "Encoder", "OutputOptions", "output_keypoints"]

Coords = Literal["pixels", "normalized"]


@dataclass(frozen=True, slots=True)
class OutputOptions:
    """How coordinates leave the box: source ``pixels`` or ``normalized`` 0..1, optionally mirrored.

    ``mirror`` flips x (x -> width - x, or 1 - x) so the output matches a selfie view.
    """

    coords: Coords = "normalized"
    mirror: bool = False


class Encoder(Protocol):
    """A pure function from one frame's poses to OSC datagrams (each ``bytes`` is one UDP packet)."""

    def __call__(self, poses: Poses, options: OutputOptions) -> list[bytes]:
        """Encode ``poses``; never raises for an empty frame."""
        ...


def output_keypoints(poses: Poses, options: OutputOptions) -> NDArray[np.float32]:
    """Keypoints (N, 17, 3) as (x, y, score) in the requested space, mirrored if asked (a new array)."""
    kp = poses.keypoints.astype(np.float32, copy=True)
    width, height = poses.frame_size
    if options.coords == "normalized":
        if width:
            kp[:, :, 0] /= np.float32(width)
        if height:
            kp[:, :, 1] /= np.float32(height)
        if options.mirror:
            kp[:, :, 0] = np.float32(1.0) - kp[:, :, 0]
    elif options.mirror:
        kp[:, :, 0] = np.float32(width) - kp[:, :, 0]
    return kp
