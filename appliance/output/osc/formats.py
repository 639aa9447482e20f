"""The OSC output formats. Each is a pure function ``(poses, options) -> list[bytes]``.

* ``individual`` (p5-poses-osc): ``/poses/amount ,i N``, then for each pose i (0-based, best first)
  and each of the 17 keypoints in PoseNet order ``/poses/{i}/{part} ,fff score x y``. Every
  message is its own datagram, as the original Node bridge sends them.
* ``individual-bundle``: the same messages in one bundle per frame (time tag = capture time).
* ``wekinator``: one ``/wek/inputs`` with exactly 51 floats (score, x, y for each keypoint) of the
  most prominent person (highest pose score); zeros when nobody is seen.
* ``arr`` (PoseOSC / VisionOSC): ``/poses/arr`` with ``width, height, n`` as ints, then per pose its
  score and 17 x ``x, y, score`` as floats.
* ``bundle`` (ours): one bundle per frame, time tag = capture time, so no receiver mixes frames::

      /posenet/frame  ,iiii  frame_index width height count
      /posenet/person ,iif + 51 f   id index score  then 17 x (x, y, score)   (one per person)

  ``[route frame person]`` in Max or ``[oscparse] -> [list split 1] -> [route posenet]`` in Pd
  separate the two; ``[list split 3]`` then splits a person's header from its 51 keypoint values.

Counts and indices are ``i``; every coordinate and score is ``f``, even when it is whole.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from functools import lru_cache

import numpy as np

from appliance.output.osc.base import OutputOptions, output_keypoints
from appliance.output.osc.wire import IMMEDIATELY, bundle, message_prefix, ntp_timetag
from appliance.types import KEYPOINT_NAMES, NUM_KEYPOINTS, Poses

__all__ = ["FORMATS", "FormatName", "encode_arr", "encode_bundle", "encode_individual", "encode_wekinator"]

_BE_F32 = np.dtype(">f4")
_AMOUNT = message_prefix("/poses/amount", "i")
_WEK = message_prefix("/wek/inputs", "f" * 51)
_FRAME = message_prefix("/posenet/frame", "iiii")
_PERSON = message_prefix("/posenet/person", "iif" + "f" * 51)
_ZEROS_51 = bytes(51 * 4)


@lru_cache(maxsize=64)
def _individual_prefixes(index: int) -> tuple[bytes, ...]:
    return tuple(message_prefix(f"/poses/{index}/{name}", "fff") for name in KEYPOINT_NAMES)


@lru_cache(maxsize=64)
def _arr_prefix(n: int) -> bytes:
    return message_prefix("/poses/arr", "iii" + "f" * (n * (1 + 3 * NUM_KEYPOINTS)))


def _timetag(poses: Poses) -> int:
    return ntp_timetag(poses.t_wall) if poses.t_wall > 0 else IMMEDIATELY


def _individual_messages(poses: Poses, options: OutputOptions) -> list[bytes]:
    kp = output_keypoints(poses, options)
    # (score, x, y) per keypoint, big-endian, 12 bytes each.
    payload = kp[:, :, [2, 0, 1]].astype(_BE_F32).tobytes()
    out = [_AMOUNT + struct.pack(">i", len(poses))]
    for i in range(len(poses)):
        base = i * NUM_KEYPOINTS * 12
        out.extend(
            prefix + payload[base + 12 * k : base + 12 * k + 12] for k, prefix in enumerate(_individual_prefixes(i))
        )
    return out


def encode_individual(poses: Poses, options: OutputOptions) -> list[bytes]:
    """p5-poses-osc: 1 + 17 N datagrams."""
    return _individual_messages(poses, options)


def encode_individual_bundle(poses: Poses, options: OutputOptions) -> list[bytes]:
    """p5-poses-osc messages in one bundle (one datagram) timetagged with the capture time."""
    return [bundle(_timetag(poses), _individual_messages(poses, options))]


def encode_wekinator(poses: Poses, options: OutputOptions) -> list[bytes]:
    """``/wek/inputs`` with 51 floats (score, x, y) of the highest-scoring person, zeros if none."""
    if len(poses) == 0:
        return [_WEK + _ZEROS_51]
    best = int(np.argmax(poses.scores))
    kp = output_keypoints(poses, options)[best]
    return [_WEK + kp[:, [2, 0, 1]].astype(_BE_F32).tobytes()]


def encode_arr(poses: Poses, options: OutputOptions) -> list[bytes]:
    """PoseOSC ``/poses/arr``: w, h, n (int) then per pose score + 17 x (x, y, score) (float)."""
    n = len(poses)
    kp = output_keypoints(poses, options).reshape(n, 3 * NUM_KEYPOINTS)
    values = np.concatenate([poses.scores.reshape(n, 1).astype(np.float32), kp], axis=1)
    w, h = poses.frame_size
    return [_arr_prefix(n) + struct.pack(">iii", w, h, n) + values.astype(_BE_F32).tobytes()]


def encode_bundle(poses: Poses, options: OutputOptions) -> list[bytes]:
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
    return [bundle(_timetag(poses), elements)]


FormatName = str
#: The explicit registry of output formats.
FORMATS: dict[str, Callable[[Poses, OutputOptions], list[bytes]]] = {
    "individual": encode_individual,
    "individual-bundle": encode_individual_bundle,
    "wekinator": encode_wekinator,
    "arr": encode_arr,
    "bundle": encode_bundle,
}
