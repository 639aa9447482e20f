"""``bundle`` (ours): one bundle per frame, time tag = capture time, so no receiver mixes frames::

    /posenet/frame  ,iiii  frame_index width height count
    /posenet/person ,iif + 51 f   id index score  then 17 x (x, y, score)   (one per person)

``[route frame person]`` in Max or ``[oscparse] -> [list split 1] -> [route posenet]`` in Pd
separate the two; ``[list split 3]`` then splits a person's header from its 51 keypoint values.
"""

from __future__ import annotations

import struct

import numpy as np

from appliance.output.osc.base import KEYPOINTS_XYS, OscAddress, OscFormat, OutputOptions, output_keypoints
from appliance.output.osc.wire import bundle, frame_timetag, message_prefix
from appliance.types import NUM_KEYPOINTS, Poses

__all__ = ["FORMAT"]

_BE_F32 = np.dtype(">f4")
_FRAME = message_prefix("/posenet/frame", "iiii")
_PERSON = message_prefix("/posenet/person", "iif" + "f" * 51)


def encode(poses: Poses, options: OutputOptions) -> list[bytes]:
    """Our format: one bundle per frame (see the module docstring for the addresses)."""
    n = len(poses)
    w, h = poses.frame_size
    elements = [_FRAME + struct.pack(">iiii", poses.frame_index, w, h, n)]
    if n:
        kp = output_keypoints(poses, options).reshape(n, 3 * NUM_KEYPOINTS).astype(_BE_F32).tobytes()
        scores = poses.scores.astype(_BE_F32).tobytes()
        ids = poses.ids if poses.ids.shape[0] == n else np.full(n, -1, np.int32)
        row = 51 * 4
        elements.extend(
            _PERSON + struct.pack(">ii", int(ids[i]), i) + scores[4 * i : 4 * i + 4] + kp[row * i : row * (i + 1)]
            for i in range(n)
        )
    return [bundle(frame_timetag(poses.t_wall), elements)]


FORMAT = OscFormat(
    name="bundle",
    description="ours: one bundle per frame, /posenet/frame then /posenet/person per person (stable ids)",
    encode=encode,
    addresses=(
        OscAddress("/posenet/frame", ("frame", "width", "height", "count"), "frame index, width, height, people"),
        OscAddress(
            "/posenet/person",
            ("id", "index", "score", *KEYPOINTS_XYS),
            "id, index, score, then 17 x (x, y, score)",
        ),
    ),
    order=50,
)
