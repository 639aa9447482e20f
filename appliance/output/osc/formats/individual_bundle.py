"""``individual-bundle``: the ``individual`` messages in bundles: each starts with
``/poses/frame ,iii frame seconds microseconds`` (frame number and capture time, Unix time on the
box's clock) and ``/poses/amount``, then as many whole people as fit in one datagram
(``max_datagram``; about one person per 1,472 bytes). Camera pixels by default."""

from __future__ import annotations

import struct

from appliance.output.osc.base import OscAddress, OscFormat, OutputOptions
from appliance.output.osc.formats.individual import ADDRESSES, amount_message, people_messages
from appliance.output.osc.wire import bundles, message_prefix, time_args
from appliance.types import Poses

__all__ = ["FORMAT"]

_FRAME = message_prefix("/poses/frame", "iii")


def encode(poses: Poses, options: OutputOptions) -> list[bytes]:
    """One or more bundles per frame, whole people in each, the frame header repeated."""
    header = [_FRAME + struct.pack(">iii", poses.frame_index, *time_args(poses.t_wall)), amount_message(poses)]
    timetag = options.bundle_timetag(poses.t_wall)
    return bundles(timetag, header, people_messages(poses, options), options.max_datagram)


FORMAT = OscFormat(
    name="individual-bundle",
    description="the individual messages in bundles, /poses/frame first, whole people per datagram",
    encode=encode,
    addresses=(
        OscAddress("/poses/frame", ("frame", "seconds", "microseconds"), "frame number, capture time (Unix s, us)"),
        *ADDRESSES,
    ),
    order=20,
    default_coords="pixels",
)
