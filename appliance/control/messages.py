"""The OSC control port's messages, declared once: the port dispatches on them and OSCQuery publishes
them (TYPE, RANGE, a placeholder VALUE, DESCRIPTION)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from appliance.output.osc import FORMAT_NAMES
from appliance.output.osc.presets import PRESETS

__all__ = ["CONTROL_METHODS", "SAVED_SETTINGS", "ControlMethod", "matching"]

_PORT = {"MIN": 1, "MAX": 65535}


@dataclass(frozen=True, slots=True)
class ControlMethod:
    """One control address: its OSC type tags ("N": no argument needed; N, I or none are accepted),
    a one-line description, OSCQuery RANGE, a placeholder VALUE, and whether it changes something
    (then it carries the access token when one is set)."""

    address: str
    typetags: str
    description: str
    range: list[Any] | None
    value: list[Any]
    changes: bool


CONTROL_METHODS: tuple[ControlMethod, ...] = (
    ControlMethod(
        "/posenet/listeners/add",
        "is",
        "Subscribe: poses to the sender's address at this port, in this format or preset; answered by "
        "/posenet/listeners/confirm s at that port, to be sent back here",
        [_PORT, {"VALS": [*FORMAT_NAMES, *PRESETS]}],
        [9000, "individual"],
        True,
    ),
    ControlMethod(
        "/posenet/listeners/confirm",
        "s",
        "The nonce of the confirmation, sent back: the subscription starts",
        None,
        [""],
        False,
    ),
    ControlMethod("/posenet/listeners/remove", "i", "End your subscriptions (only this port)", [_PORT], [9000], True),
    ControlMethod("/posenet/listeners/clear", "N", "End every subscription", None, [None], True),
    ControlMethod(
        "/posenet/format", "s", "Format of your subscriptions", [{"VALS": list(FORMAT_NAMES)}], ["individual"], True
    ),
    ControlMethod(
        "/posenet/coords",
        "s",
        "Coordinates of your subscriptions",
        [{"VALS": ["pixels", "normalized"]}],
        ["pixels"],
        True,
    ),
    ControlMethod("/posenet/mirror", "i", "Mirror x for your subscriptions", [{"MIN": 0, "MAX": 1}], [0], True),
    ControlMethod("/posenet/info", "N", "Ask for /posenet/info name state backend targets", None, [None], False),
    ControlMethod(
        "/posenet/smoothing/enabled",
        "i",
        "Saved setting: One Euro smoothing of keypoints on (1) or off (0), for every target",
        [{"MIN": 0, "MAX": 1}],
        [1],
        True,
    ),
    ControlMethod(
        "/posenet/smoothing/min_cutoff",
        "f",
        "Saved setting: smoothing cutoff when still (Hz): lower is steadier",
        [{"MIN": 0.01, "MAX": 30.0}],
        [0.8],
        True,
    ),
    ControlMethod(
        "/posenet/smoothing/beta",
        "f",
        "Saved setting: how much faster smoothing follows per person-height per second of speed",
        [{"MIN": 0.0, "MAX": 100.0}],
        [6.0],
        True,
    ),
)

#: Control methods that change a saved setting: address -> (section, key).
SAVED_SETTINGS: dict[str, tuple[str, str]] = {
    "/posenet/smoothing/enabled": ("smoothing", "enabled"),
    "/posenet/smoothing/min_cutoff": ("smoothing", "min_cutoff"),
    "/posenet/smoothing/beta": ("smoothing", "beta"),
}

_SPECIAL = re.compile(r"[*?\[\]{}]")


def _pattern(address: str) -> re.Pattern[str]:
    """OSC 1.0 address pattern -> regex: ``?`` one character, ``*`` any run (not across ``/``),
    ``[abc]`` / ``[a-z]`` / ``[!abc]`` one of (not of), ``{foo,bar}`` one of the strings."""
    out, i = [], 0
    while i < len(address):
        c = address[i]
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = address.find("]", i)
            if end < 0:
                raise ValueError("unclosed [ in the address pattern")
            body = address[i + 1 : end]
            negate = body.startswith("!")
            body = body[1:] if negate else body
            out.append("[" + ("^" if negate else "") + re.escape(body).replace("\\-", "-") + "]")
            i = end
        elif c == "{":
            end = address.find("}", i)
            if end < 0:
                raise ValueError("unclosed { in the address pattern")
            out.append("(?:" + "|".join(re.escape(p) for p in address[i + 1 : end].split(",")) + ")")
            i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out))


@lru_cache(maxsize=256)
def matching(address: str) -> tuple[str, ...]:
    """The control addresses an incoming address (or OSC pattern) names, in declaration order.

    Raises:
        ValueError: a malformed pattern.
    """
    if not _SPECIAL.search(address):
        return (address,) if any(m.address == address for m in CONTROL_METHODS) else ()
    regex = _pattern(address)
    return tuple(m.address for m in CONTROL_METHODS if regex.fullmatch(m.address))
