"""Stages' own OSC messages (``OscExtra``) for the targets that ask for them: in bundles of their
own, sent after the format's, each starting with the frame header (``/posenet/frame``, so a receiver
knows which frame they belong to), never over the target's ``max_datagram``."""

from __future__ import annotations

from collections.abc import Sequence

from appliance.output.osc.base import OscExtra, OscFormat, OutputOptions
from appliance.output.osc.formats.bundle import frame_header
from appliance.output.osc.wire import bundles
from appliance.types import Poses

__all__ = ["encode_extras", "encode_target"]


def encode_target(fmt: OscFormat, poses: Poses, options: OutputOptions, extras: Sequence[OscExtra]) -> list[bytes]:
    """A target's datagrams for this frame: its format's, with the extras that lead (``OscExtra.lead``)
    in the frame's first bundle when the format has one (``OscFormat.lead``), then the others'
    bundles (``encode_extras``)."""
    if fmt.lead is None:
        return fmt(poses, options) + encode_extras(poses, options, extras)
    leading = [m for x in extras if x.lead is not None for m in x.lead(poses, options)]
    datagrams = fmt.lead(poses, options, leading) if leading else fmt(poses, options)
    return datagrams + encode_extras(poses, options, [x for x in extras if x.lead is None])


def encode_extras(poses: Poses, options: OutputOptions, extras: Sequence[OscExtra]) -> list[bytes]:
    """The datagrams of ``extras`` for this frame (none when no extra has anything to say); one
    extra's messages stay together in one bundle when they fit in one, else they are spread over
    several (one message each at least: no datagram over ``max_datagram`` unless a single message is)."""
    header = frame_header(poses)
    room = options.max_datagram - 16 - (4 + len(header))  # a bundle's header, time tag and frame header
    groups: list[list[bytes]] = []
    for extra in extras:
        messages = extra.encode(poses, options)
        if sum(4 + len(m) for m in messages) <= room:
            groups.append(messages)
        else:
            groups.extend([m] for m in messages)
    groups = [g for g in groups if g]
    if not groups:
        return []
    return bundles(options.bundle_timetag(poses.t_wall), [header], groups, options.max_datagram)
