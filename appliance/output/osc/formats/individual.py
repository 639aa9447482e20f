"""``individual`` (p5-poses-osc / ml5.js): ``/poses/amount ,i N``, then for each pose i (0-based, best
first) and each of the 17 keypoints in PoseNet order ``/poses/{i}/{part} ,fff score x y``. Every
message is its own datagram, as the original Node bridge sends them. Camera pixels by default, as
p5-poses-osc sends them."""

from __future__ import annotations

import struct
from functools import lru_cache

import numpy as np

from appliance.output.osc.base import OscAddress, OscFormat, OutputOptions, output_keypoints
from appliance.output.osc.wire import message_prefix
from appliance.types import KEYPOINT_NAMES, NUM_KEYPOINTS, Poses

__all__ = ["ADDRESSES", "FORMAT", "individual_messages", "people_messages"]

_BE_F32 = np.dtype(">f4")
_AMOUNT = message_prefix("/poses/amount", "i")

ADDRESSES = (
    OscAddress("/poses/amount", ("count",), "Number of people in the frame"),
    OscAddress("/poses/{person}/{part}", ("score", "x", "y"), "One keypoint of one person: score, x, y"),
)


@lru_cache(maxsize=64)
def _prefixes(index: int) -> tuple[bytes, ...]:
    return tuple(message_prefix(f"/poses/{index}/{name}", "fff") for name in KEYPOINT_NAMES)


def amount_message(poses: Poses) -> bytes:
    """``/poses/amount ,i N``."""
    return _AMOUNT + struct.pack(">i", len(poses))


def people_messages(poses: Poses, options: OutputOptions) -> list[list[bytes]]:
    """Per person (best first) its 17 ``/poses/{i}/{part}`` messages."""
    kp = output_keypoints(poses, options)
    # (score, x, y) per keypoint, big-endian, 12 bytes each.
    payload = kp[:, :, [2, 0, 1]].astype(_BE_F32).tobytes()
    out = []
    for i in range(len(poses)):
        base = i * NUM_KEYPOINTS * 12
        out.append([prefix + payload[base + 12 * k : base + 12 * k + 12] for k, prefix in enumerate(_prefixes(i))])
    return out


def individual_messages(poses: Poses, options: OutputOptions) -> list[bytes]:
    """The 1 + 17 N messages, each its own datagram."""
    return [amount_message(poses), *(m for person in people_messages(poses, options) for m in person)]


FORMAT = OscFormat(
    name="individual",
    description="p5-poses-osc / ml5.js: /poses/amount, then /poses/{i}/{part} score x y, one datagram each",
    encode=individual_messages,
    addresses=ADDRESSES,
    order=10,
    default_coords="pixels",
)
