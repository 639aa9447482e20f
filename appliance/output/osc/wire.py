"""OSC 1.0 wire primitives: padded strings, big-endian arguments, bundles and NTP time tags.

Pure functions over bytes. Strings are NUL-terminated and padded to 4 bytes; numbers are
big-endian int32 / float32; a bundle is ``#bundle\\0``, an 8-byte NTP time tag, then each element
as an int32 size followed by its bytes (OSC 1.0 specification).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from functools import lru_cache

__all__ = [
    "BUNDLE_HEADER",
    "IMMEDIATELY",
    "bundle",
    "bundles",
    "frame_timetag",
    "message",
    "message_prefix",
    "ntp_timetag",
    "osc_string",
    "parse_message",
    "parse_packet",
    "split_packet",
    "time_args",
]

BUNDLE_HEADER = b"#bundle\x00"
#: The special time tag meaning "process now" (OSC 1.0).
IMMEDIATELY = 1
_NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 to 1970-01-01


def osc_string(s: str) -> bytes:
    """ASCII string, NUL-terminated, padded with NULs to a multiple of 4 bytes."""
    raw = s.encode("ascii")
    return raw + b"\x00" * (4 - len(raw) % 4)


@lru_cache(maxsize=4096)
def message_prefix(address: str, typetags: str) -> bytes:
    """Address and type-tag string of a message (cached: pose addresses repeat every frame)."""
    return osc_string(address) + osc_string("," + typetags)


def message(address: str, typetags: str, args: Sequence[int | float | str]) -> bytes:
    """One OSC message with int32 ``i``, float32 ``f`` and string ``s`` arguments."""
    out = [message_prefix(address, typetags)]
    for tag, value in zip(typetags, args, strict=True):
        if tag == "i":
            out.append(struct.pack(">i", int(value)))
        elif tag == "f":
            out.append(struct.pack(">f", float(value)))
        elif tag == "s":
            out.append(osc_string(str(value)))
        else:
            raise ValueError(f"unsupported OSC type tag {tag!r}")
    return b"".join(out)


def ntp_timetag(unix_time: float) -> int:
    """64-bit NTP time tag (seconds since 1900 << 32 | fraction) for a Unix time in seconds."""
    seconds = int(unix_time)
    fraction = int((unix_time - seconds) * (1 << 32)) & 0xFFFFFFFF
    return ((seconds + _NTP_EPOCH_OFFSET) << 32) | fraction


def frame_timetag(t_wall: float) -> int:
    """The time tag of a frame captured at Unix time ``t_wall``; IMMEDIATELY when it has none."""
    return ntp_timetag(t_wall) if t_wall > 0 else IMMEDIATELY


def bundle(timetag: int, elements: Iterable[bytes]) -> bytes:
    """An OSC bundle of already-encoded messages (or bundles)."""
    parts = [BUNDLE_HEADER, struct.pack(">Q", timetag)]
    for el in elements:
        parts.append(struct.pack(">i", len(el)))
        parts.append(el)
    return b"".join(parts)


def bundles(timetag: int, header: Sequence[bytes], groups: Sequence[Sequence[bytes]], limit: int) -> list[bytes]:
    """Bundles of at most ``limit`` bytes (one UDP datagram each), ``header`` first in every one.

    ``groups`` (one person's messages each) keep their order and are never split across bundles; a
    group too big for any bundle travels alone with the header. Receivers reassemble a frame by its
    header (frame number, count).
    """
    head = 16 + sum(4 + len(h) for h in header)
    out: list[bytes] = []
    batch: list[bytes] = []
    size = head
    for group in groups:
        need = sum(4 + len(m) for m in group)
        if batch and size + need > limit:
            out.append(bundle(timetag, [*header, *batch]))
            batch, size = [], head
        batch.extend(group)
        size += need
    if batch or not out:
        out.append(bundle(timetag, [*header, *batch]))
    return out


def time_args(t_wall: float) -> tuple[int, int]:
    """A Unix time in seconds as (whole seconds, microseconds): two OSC int32s every receiver reads
    (seconds fit an int32 until 2038)."""
    seconds, micro = divmod(round(t_wall * 1e6), 1_000_000)
    return seconds, micro


def _read_string(data: bytes, pos: int) -> tuple[str, int]:
    end = data.find(b"\x00", pos)
    if end < 0:
        raise ValueError("unterminated OSC string")
    text = data[pos:end].decode("ascii")  # UnicodeDecodeError is a ValueError
    return text, end + 4 - (end - pos) % 4


def parse_message(data: bytes) -> tuple[str, list[int | float | str]]:
    """Decode one OSC message: ``i``, ``h`` (ints), ``f``, ``d`` (floats), ``s``, ``S`` (strings),
    ``T``/``F`` (1/0); ``N`` (nil) and ``I`` (impulse) carry no value and add no argument.

    Raises:
        ValueError: anything malformed (truncated, bad padding, unknown type tag, non-ASCII).
    """
    if len(data) % 4 or not data.startswith(b"/"):
        raise ValueError("not an OSC message")
    address, pos = _read_string(data, 0)
    if pos >= len(data):
        return address, []
    tags, pos = _read_string(data, pos)
    if not tags.startswith(","):
        raise ValueError("missing type tag string")
    args: list[int | float | str] = []
    for tag in tags[1:]:
        if tag in "if":
            if pos + 4 > len(data):
                raise ValueError("truncated argument")
            args.append(struct.unpack_from(">i" if tag == "i" else ">f", data, pos)[0])
            pos += 4
        elif tag in "hd":
            if pos + 8 > len(data):
                raise ValueError("truncated argument")
            args.append(struct.unpack_from(">q" if tag == "h" else ">d", data, pos)[0])
            pos += 8
        elif tag in "sS":
            value, pos = _read_string(data, pos)
            args.append(value)
        elif tag in "TF":
            args.append(int(tag == "T"))
        elif tag in "NI":
            continue
        else:
            raise ValueError(f"unsupported OSC type tag {tag!r}")
        if pos > len(data):
            raise ValueError("truncated argument")
    if pos != len(data):
        raise ValueError("trailing bytes after the arguments")
    return address, args


#: Deepest nesting of bundles accepted, and most messages in one packet.
MAX_BUNDLE_DEPTH = 8
MAX_PACKET_MESSAGES = 256


def split_packet(data: bytes) -> list[bytes]:
    """The messages of a packet, as bytes: one message, or every message of a (nested) bundle, in
    order. Iterative (a hostile packet of nested bundles cannot exhaust the stack).

    Raises:
        ValueError: a malformed bundle, nested deeper than ``MAX_BUNDLE_DEPTH`` or holding more
            than ``MAX_PACKET_MESSAGES`` messages.
    """
    out: list[bytes] = []
    stack: list[tuple[memoryview, int]] = [(memoryview(data), 0)]  # (element, depth), last first
    while stack:
        element, depth = stack.pop()
        if bytes(element[:8]) != BUNDLE_HEADER:
            out.append(bytes(element))
            if len(out) > MAX_PACKET_MESSAGES:
                raise ValueError(f"more than {MAX_PACKET_MESSAGES} messages in one packet")
            continue
        if depth >= MAX_BUNDLE_DEPTH:
            raise ValueError(f"bundles nested deeper than {MAX_BUNDLE_DEPTH}")
        if len(element) < 16:
            raise ValueError("truncated bundle")
        children, pos = [], 16
        while pos < len(element):
            if pos + 4 > len(element):
                raise ValueError("truncated bundle element")
            size = struct.unpack_from(">i", element, pos)[0]
            if size <= 0 or pos + 4 + size > len(element):
                raise ValueError("bad bundle element size")
            children.append((element[pos + 4 : pos + 4 + size], depth + 1))
            pos += 4 + size
        stack.extend(reversed(children))
    return out


def parse_packet(data: bytes) -> list[tuple[str, list[int | float | str]]]:
    """The messages of a packet, decoded (see ``split_packet`` and ``parse_message``).

    Raises:
        ValueError: anything malformed.
    """
    return [parse_message(m) for m in split_packet(data)]
