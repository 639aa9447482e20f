"""``bundle`` (ours): bundles that never mix frames, each starting with the frame header::

    /posenet/frame          ,iiiiii  frame_index width height count seconds microseconds
    /posenet/person/leave   ,i       id     (a person gone longer than the grace time; once)
    /posenet/person/enter   ,i       id     (a person confirmed for the first time; once)
    /posenet/person/pose    ,iif + 51 f   id index score, then 17 x (x, y, score)   (per person)
    /posenet/person/box     ,iffff   id x0 y0 x1 y1   (the confident keypoints' bounding box)
    /posenet/person/centre  ,iff     id x y           (mean of confident shoulders and hips)

The capture time is Unix time on the box's clock (seconds, microseconds). Events go in the frame's
first bundle, right after the header. As many whole people (their three messages) as fit in one
datagram (``max_datagram``: 3 at 1,472 bytes) go in each bundle; receivers gather a frame's people
by frame number until they have ``count``. In Max, ``[route /posenet/frame /posenet/person/pose
...]``; in Pd, ``[oscparse] -> [list trim] -> [route posenet] -> [route frame person]``, then
``[route pose box centre enter leave]``, and ``[list split 3]`` splits a pose's id, index and
score from its 51 keypoint values. 0..1 coordinates by default.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

from appliance.output.osc.base import (
    KEYPOINTS_XYS,
    OscAddress,
    OscFormat,
    OutputOptions,
    output_keypoints,
    person_boxes,
)
from appliance.output.osc.wire import bundles, message_prefix, time_args
from appliance.types import NUM_KEYPOINTS, Poses

__all__ = ["FORMAT", "PERSON_PREFIXES", "encode_led", "frame_header", "person_groups"]

_BE_F32 = np.dtype(">f4")
_FRAME = message_prefix("/posenet/frame", "iiiiii")
_PERSON = message_prefix("/posenet/person/pose", "iif" + "f" * 51)
_BOX = message_prefix("/posenet/person/box", "iffff")
_CENTRE = message_prefix("/posenet/person/centre", "iff")
_ENTER = message_prefix("/posenet/person/enter", "i")
_LEAVE = message_prefix("/posenet/person/leave", "i")


def frame_header(poses: Poses) -> bytes:
    """The ``/posenet/frame`` message that starts every bundle of this frame."""
    w, h = poses.frame_size
    return _FRAME + struct.pack(">iiiiii", poses.frame_index, w, h, len(poses), *time_args(poses.t_wall))


#: The per-person messages' address prefixes (pose, box, centre), in ``person_groups``' order.
PERSON_PREFIXES = (_PERSON, _BOX, _CENTRE)


_last: tuple[Poses, OutputOptions, list[list[bytes]]] | None = None


def person_groups(poses: Poses, options: OutputOptions) -> list[list[bytes]]:
    """Each person's three messages (pose, box, centre), in the order of ``poses``. The last frame's
    are kept for the same poses and options (the slots stage re-addresses them): never change them."""
    global _last
    last = _last
    if (
        last is not None
        and last[0].keypoints is poses.keypoints
        and last[0].ids is poses.ids
        and last[0].scores is poses.scores
        and last[0].frame_size == poses.frame_size
        and last[1] == options
    ):
        return last[2]
    groups = _person_groups(poses, options)
    _last = (poses, options, groups)
    return groups


def _person_groups(poses: Poses, options: OutputOptions) -> list[list[bytes]]:
    n = len(poses)
    if not n:
        return []
    out = output_keypoints(poses, options)
    boxes, centres = person_boxes(out)
    kp = out.reshape(n, 3 * NUM_KEYPOINTS).astype(_BE_F32).tobytes()
    box_b, centre_b = boxes.astype(_BE_F32).tobytes(), centres.astype(_BE_F32).tobytes()
    scores = poses.scores.astype(_BE_F32).tobytes()
    ids = poses.ids if poses.ids.shape[0] == n else np.full(n, -1, np.int32)
    row = 51 * 4
    groups = []
    for i in range(n):
        pid = struct.pack(">i", int(ids[i]))
        groups.append(
            [
                _PERSON + pid + struct.pack(">i", i) + scores[4 * i : 4 * i + 4] + kp[row * i : row * (i + 1)],
                _BOX + pid + box_b[16 * i : 16 * (i + 1)],
                _CENTRE + pid + centre_b[8 * i : 8 * (i + 1)],
            ]
        )
    return groups


def encode_led(poses: Poses, options: OutputOptions, leading: Sequence[bytes]) -> list[bytes]:
    """Our format with ``leading`` messages in the frame's first bundle, after the events."""
    header = [frame_header(poses)]
    events = [_LEAVE + struct.pack(">i", int(i)) for i in poses.left.tolist()]
    events += [_ENTER + struct.pack(">i", int(i)) for i in poses.entered.tolist()]
    events += leading
    groups = [events] if events else []
    groups += person_groups(poses, options)
    return bundles(options.bundle_timetag(poses.t_wall), header, groups, options.max_datagram)


def encode(poses: Poses, options: OutputOptions) -> list[bytes]:
    """Our format (see the module docstring for the addresses)."""
    return encode_led(poses, options, ())


FORMAT = OscFormat(
    name="bundle",
    description="ours: bundles that never mix frames: /posenet/frame, enter/leave events, then per person "
    "/posenet/person/pose, box and centre (stable ids)",
    encode=encode,
    addresses=(
        OscAddress(
            "/posenet/frame",
            ("frame", "width", "height", "count", "seconds", "microseconds"),
            "frame index, width, height, people, capture time (Unix seconds, microseconds)",
        ),
        OscAddress(
            "/posenet/person/pose",
            ("id", "index", "score", *KEYPOINTS_XYS),
            "id, index, score, then 17 x (x, y, score)",
        ),
        OscAddress("/posenet/person/box", ("id", "x", "y", "x", "y"), "id, bounding box x0 y0 x1 y1"),
        OscAddress("/posenet/person/centre", ("id", "x", "y"), "id, body centre x y (shoulders and hips)"),
        OscAddress("/posenet/person/enter", ("id",), "a person confirmed for the first time (once per id)"),
        OscAddress("/posenet/person/leave", ("id",), "a person gone longer than the grace time (once per id)"),
    ),
    order=50,
    extras=True,
    lead=encode_led,
)
