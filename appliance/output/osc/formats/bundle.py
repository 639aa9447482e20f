"""``bundle`` (ours): bundles that never mix frames, each starting with the frame header::

    /posenet/frame  ,iiiiii  frame_index width height count seconds microseconds
    /posenet/person ,iif + 51 f   id index score  then 17 x (x, y, score)   (one per person)

The capture time is Unix time on the box's clock (seconds, microseconds). As many whole people as
fit in one datagram (``max_datagram``: 4 at 1,472 bytes) go in each bundle; receivers gather a
frame's people by frame number until they have ``count``. ``[route frame person]`` in Max or
``[oscparse] -> [list split 1] -> [route posenet]`` in Pd separate the two; ``[list split 3]`` then
splits a person's header from its 51 keypoint values. 0..1 coordinates by default.
"""

from __future__ import annotations

import struct

import numpy as np

from appliance.output.osc.base import KEYPOINTS_XYS, OscAddress, OscFormat, OutputOptions, output_keypoints
from appliance.output.osc.wire import bundles, message_prefix, time_args
from appliance.types import NUM_KEYPOINTS, Poses

__all__ = ["FORMAT"]

_BE_F32 = np.dtype(">f4")
_FRAME = message_prefix("/posenet/frame", "iiiiii")
_PERSON = message_prefix("/posenet/person", "iif" + "f" * 51)


def encode(poses: Poses, options: OutputOptions) -> list[bytes]:
    """Our format (see the module docstring for the addresses)."""
    n = len(poses)
    w, h = poses.frame_size
    header = [_FRAME + struct.pack(">iiiiii", poses.frame_index, w, h, n, *time_args(poses.t_wall))]
    people = []
    if n:
        kp = output_keypoints(poses, options).reshape(n, 3 * NUM_KEYPOINTS).astype(_BE_F32).tobytes()
        scores = poses.scores.astype(_BE_F32).tobytes()
        ids = poses.ids if poses.ids.shape[0] == n else np.full(n, -1, np.int32)
        row = 51 * 4
        people = [
            [_PERSON + struct.pack(">ii", int(ids[i]), i) + scores[4 * i : 4 * i + 4] + kp[row * i : row * (i + 1)]]
            for i in range(n)
        ]
    return bundles(options.bundle_timetag(poses.t_wall), header, people, options.max_datagram)


FORMAT = OscFormat(
    name="bundle",
    description="ours: bundles that never mix frames, /posenet/frame then /posenet/person per person (stable ids)",
    encode=encode,
    addresses=(
        OscAddress(
            "/posenet/frame",
            ("frame", "width", "height", "count", "seconds", "microseconds"),
            "frame index, width, height, people, capture time (Unix seconds, microseconds)",
        ),
        OscAddress(
            "/posenet/person",
            ("id", "index", "score", *KEYPOINTS_XYS),
            "id, index, score, then 17 x (x, y, score)",
        ),
    ),
    order=50,
)
