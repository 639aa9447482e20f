"""Exporting a recording to the formats artists' tools already read.

* ``oscdump``: liblo's ``oscdump`` text, one message per line, ``SSSSSSSS.FFFFFFFF /address types
  args...`` with the frame's capture time as a hex NTP time tag. liblo's ``oscsendfile HOST PORT
  FILE [speed]`` replays it, regrouping the lines of one time tag into one bundle. The messages are
  exactly those the box sends live to a target of the chosen format (after the same stages, with
  the recorded settings; with the stages' messages such a target gets by default: zones, scene
  ...); floats are written with 9 significant digits, so they read back to the same float32.
  ``oscsendfile`` reads at most 1023 characters and 63 arguments per line (it overflows beyond):
  longer messages (``arr`` or ``wekinator`` with many people) are left out and counted.
* ``csv``: one row per keypoint: ``frame,time,id,keypoint,x,y,score`` (``time`` in Unix seconds on
  the box's clock; x, y in source pixels or 0..1, as ``coords`` says, order (x, y)).
"""

from __future__ import annotations

import csv
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from appliance.output.osc.base import Coords, OutputOptions
from appliance.output.osc.extras import encode_target
from appliance.output.osc.formats import FORMATS
from appliance.output.osc.wire import frame_timetag, parse_message, split_packet
from appliance.playback.player import recorded_stages, replayed, window
from appliance.recording.fileformat import Recording
from appliance.stages import extras_for
from appliance.types import KEYPOINT_NAMES

__all__ = ["ExportStats", "oscdump_lines", "write_csv", "write_oscdump"]

#: What liblo's oscsendfile reads in one line (``fgets`` of 1024) and in arguments (``args[64]``).
OSCSENDFILE_LINE = 1023
OSCSENDFILE_ARGS = 63


@dataclass(frozen=True, slots=True)
class ExportStats:
    """Frames exported, lines (messages or rows) written, and messages left out as too long."""

    frames: int
    lines: int
    skipped: int


def _typetags(message: bytes) -> str:
    end = message.index(b"\x00")
    start = end + 4 - end % 4
    if start >= len(message):
        return ""
    return message[start + 1 : message.index(b"\x00", start)].decode("ascii")


def _arg(tag: str, value: int | float | str) -> str:
    if tag == "f":
        return f"{struct.unpack('>f', struct.pack('>f', value))[0]:.9g}"
    if tag in "sS":
        return f'"{value}"'
    return str(value)


def oscdump_lines(datagram: bytes, timetag: int) -> Iterator[str]:
    """The messages of one datagram as oscdump lines under ``timetag`` (64-bit NTP)."""
    tt = f"{timetag >> 32:08x}.{timetag & 0xFFFFFFFF:08x}"
    for message in split_packet(datagram):
        address, args = parse_message(message)
        tags = _typetags(message)
        values = [_arg(t, v) for t, v in zip((t for t in tags if t not in "NI"), args, strict=True)]
        yield " ".join([tt, address, tags, *values]) if tags else f"{tt} {address}"


def write_oscdump(
    recording: Recording,
    out: IO[str],
    fmt: str,
    coords: Coords | None = None,
    start: float = 0.0,
    end: float | None = None,
) -> ExportStats:
    """Write the recording as oscdump text in format ``fmt`` (coordinates: ``coords`` or the
    format's default)."""
    options = OutputOptions(coords or FORMATS[fmt].default_coords, timetag="capture")
    extras = extras_for(fmt)  # what a target of this format gets by default (zones, scene ...)
    frames = lines = skipped = 0
    for _, poses in replayed(window(recording, start, end), recorded_stages(recording)):
        frames += 1
        timetag = frame_timetag(poses.t_wall)
        for datagram in encode_target(FORMATS[fmt], poses, options, extras):
            for line in oscdump_lines(datagram, timetag):
                if len(line) > OSCSENDFILE_LINE or line.count(" ") - 2 > OSCSENDFILE_ARGS:
                    skipped += 1
                    continue
                out.write(line + "\n")
                lines += 1
    return ExportStats(frames, lines, skipped)


def write_csv(
    recording: Recording, out: IO[str], coords: Coords = "pixels", start: float = 0.0, end: float | None = None
) -> ExportStats:
    """Write one CSV row per keypoint of every tracked person (after the recorded stages)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["frame", "time", "id", "keypoint", "x", "y", "score"])
    frames = rows = 0
    for _, poses in replayed(window(recording, start, end), recorded_stages(recording)):
        frames += 1
        kp = poses.normalized() if coords == "normalized" else poses.keypoints
        for i, pid in enumerate(poses.ids.tolist()):
            if pid < 0:
                continue  # not confirmed yet: the live formats do not send it either
            for k, name in enumerate(KEYPOINT_NAMES):
                x, y, s = (float(v) for v in kp[i, k])
                t = f"{poses.t_wall:.6f}"
                writer.writerow([poses.frame_index, t, pid, name, f"{x:.6g}", f"{y:.6g}", f"{s:.4g}"])
                rows += 1
    return ExportStats(frames, rows, 0)
