"""``wekinator``: one ``/wek/inputs`` with exactly 51 floats (score, x, y for each keypoint) of the
most prominent person (highest pose score); zeros when nobody is seen. Wekinator listens on 6448."""

from __future__ import annotations

import numpy as np

from appliance.output.osc.base import OscAddress, OscFormat, OutputOptions, output_keypoints
from appliance.output.osc.wire import message_prefix
from appliance.types import Poses

__all__ = ["FORMAT"]

_BE_F32 = np.dtype(">f4")
_WEK = message_prefix("/wek/inputs", "f" * 51)
_ZEROS_51 = bytes(51 * 4)


def encode(poses: Poses, options: OutputOptions) -> list[bytes]:
    """``/wek/inputs`` with 51 floats (score, x, y) of the highest-scoring person, zeros if none."""
    if len(poses) == 0:
        return [_WEK + _ZEROS_51]
    best = int(np.argmax(poses.scores))
    kp = output_keypoints(poses, options)[best]
    return [_WEK + kp[:, [2, 0, 1]].astype(_BE_F32).tobytes()]


FORMAT = OscFormat(
    name="wekinator",
    description="Wekinator: /wek/inputs with 51 floats (score, x, y) of the best person",
    encode=encode,
    addresses=(OscAddress("/wek/inputs", ("score", "x", "y") * 17, "Best person: score, x, y of the 17 keypoints"),),
    order=30,
)
