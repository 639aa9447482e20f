"""``arr`` (PoseOSC / VisionOSC): ``/poses/arr`` with ``width, height, n`` as ints, then per pose its
score and 17 x ``x, y, score`` as floats. Camera pixels by default, as PoseOSC draws them.

One message by definition, so it cannot be split: ``12 + 4 * ceil((5 + 52 n) / 4) + 12 + 208 n``
bytes for n people (552 for 2, 1,332 for 5). It carries the best people that fit in ``max_datagram``
(5 at 1,472 bytes), and n says how many it carries.
"""

from __future__ import annotations

import struct
from functools import lru_cache

import numpy as np

from appliance.output.osc.base import KEYPOINTS_XYS, OscAddress, OscFormat, OutputOptions, output_keypoints
from appliance.output.osc.wire import message_prefix
from appliance.types import NUM_KEYPOINTS, Poses

__all__ = ["FORMAT", "arr_size"]

_BE_F32 = np.dtype(">f4")
_PER_PERSON = 1 + 3 * NUM_KEYPOINTS


@lru_cache(maxsize=64)
def _prefix(n: int) -> bytes:
    return message_prefix("/poses/arr", "iii" + "f" * (n * _PER_PERSON))


def arr_size(n: int) -> int:
    """Bytes of the message for n people."""
    return len(_prefix(n)) + 12 + 4 * _PER_PERSON * n


def encode(poses: Poses, options: OutputOptions) -> list[bytes]:
    """PoseOSC ``/poses/arr``: w, h, n (int) then per pose score + 17 x (x, y, score) (float)."""
    n = len(poses)
    while n and arr_size(n) > options.max_datagram:
        n -= 1
    kp = output_keypoints(poses, options)[:n].reshape(n, 3 * NUM_KEYPOINTS)
    values = np.concatenate([poses.scores[:n].reshape(n, 1).astype(np.float32), kp], axis=1)
    w, h = poses.frame_size
    return [_prefix(n) + struct.pack(">iii", w, h, n) + values.astype(_BE_F32).tobytes()]


FORMAT = OscFormat(
    name="arr",
    description="PoseOSC / VisionOSC: /poses/arr w h n, then per person score and 17 x (x, y, score)",
    encode=encode,
    addresses=(
        OscAddress(
            "/poses/arr",
            ("width", "height", "count"),
            "width, height, n, then per person score + 17 x (x, y, score)",
            repeat=("score", *KEYPOINTS_XYS),
        ),
    ),
    order=40,
    default_coords="pixels",
)
