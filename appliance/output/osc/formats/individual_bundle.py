"""``individual-bundle``: the ``individual`` messages in one bundle per frame (time tag = capture time)."""

from __future__ import annotations

from appliance.output.osc.base import OscFormat, OutputOptions
from appliance.output.osc.formats.individual import ADDRESSES, individual_messages
from appliance.output.osc.wire import bundle, frame_timetag
from appliance.types import Poses

__all__ = ["FORMAT"]


def encode(poses: Poses, options: OutputOptions) -> list[bytes]:
    """p5-poses-osc messages in one bundle (one datagram)."""
    return [bundle(frame_timetag(poses.t_wall), individual_messages(poses, options))]


FORMAT = OscFormat(
    name="individual-bundle",
    description="the individual messages in one bundle per frame",
    encode=encode,
    addresses=ADDRESSES,
    order=20,
)
