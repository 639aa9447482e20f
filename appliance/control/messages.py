"""The OSC control port's messages, declared once: the port dispatches on their ``kind`` and OSCQuery
publishes them (TYPE, RANGE, a placeholder VALUE, DESCRIPTION). ``control_methods()`` adds, for every
stage with settings (``appliance.stages``), one saved-setting message per number or switch of its
section: ``/posenet/<stage>/<setting>``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import Any, Literal, get_args, get_origin

from annotated_types import Ge, Le

from appliance.output.osc import COORDS, DEFAULT_FORMAT, FORMAT_NAMES, FORMATS
from appliance.output.osc.pattern import compile_pattern, is_pattern
from appliance.output.osc.presets import PRESETS
from appliance.stages import STAGES, StageKind, on_register

__all__ = [
    "CONTROL_METHODS",
    "COORDS",
    "SAVED_SETTINGS",
    "ControlMethod",
    "Kind",
    "control_methods",
    "matching",
    "saved_settings",
]

_PORT = {"MIN": 1, "MAX": 65535}


class Kind(Enum):
    """What a control message does, which decides its handler and its rules."""

    INFO = "info"  # a read, open to anyone: answered to the sender
    DISCOVER = "discover"  # who is there (unicast or broadcast): answered to senders on the box's subnets only
    ADD = "add"  # subscribe or renew: confirmed by the stream address (the subscribe key, if set)
    CONFIRM = "confirm"  # a confirmation's nonce coming back
    REMOVE = "remove"  # end the sender's own subscriptions (confirmed by the stream address)
    CLEAR = "clear"  # the sender's own (confirmed), or with the access token every subscription
    OPTION = "option"  # an option of the sender's own subscriptions (confirmed): format, coords, mirror
    SETTING = "setting"  # a saved setting, for everyone: the owner's (access token, or the box itself)
    RECORD = "record"  # start or stop recording the poses: the owner's (access token, or the box itself)
    SECTION = "section"  # a whole saved section as JSON (zones, the floor): the owner's, like SETTING


@dataclass(frozen=True, slots=True)
class ControlMethod:
    """One control address: its OSC type tags ("N": no argument needed; N, I or none are accepted),
    a one-line description, OSCQuery RANGE, a placeholder VALUE, its ``kind``, and ``key``: the
    subscription option (``format``, ``coords``, ``mirror``) or saved setting (``section.key``)."""

    address: str
    typetags: str
    description: str
    range: list[Any] | None
    value: list[Any]
    kind: Kind
    key: str = ""

    @property
    def changes(self) -> bool:
        """Whether the message changes something (then every rule of the control port applies)."""
        return self.kind not in (Kind.INFO, Kind.DISCOVER, Kind.CONFIRM)


CONTROL_METHODS: tuple[ControlMethod, ...] = (
    ControlMethod(
        "/posenet/listeners/add",
        "is",
        "Subscribe: poses to the sender's address at this port, in this format or preset (then the subscribe "
        "key, if the owner set one); answered by /posenet/listeners/confirm s at that port, to be sent back here",
        [_PORT, {"VALS": [*FORMAT_NAMES, *PRESETS]}],
        [9000, DEFAULT_FORMAT],
        Kind.ADD,
    ),
    ControlMethod(
        "/posenet/listeners/confirm",
        "s",
        "The nonce of a confirmation, sent back from the port that asked: the subscription (or change) happens",
        None,
        [""],
        Kind.CONFIRM,
    ),
    ControlMethod(
        "/posenet/listeners/remove",
        "i",
        "End your subscriptions (only this port); confirmed like add",
        [_PORT],
        [9000],
        Kind.REMOVE,
    ),
    ControlMethod(
        "/posenet/listeners/clear",
        "N",
        "End your subscriptions (confirmed like add); with the access token as argument, every subscription",
        None,
        [None],
        Kind.CLEAR,
    ),
    ControlMethod(
        "/posenet/format",
        "s",
        "Format of your subscriptions; confirmed like add",
        [{"VALS": list(FORMAT_NAMES)}],
        [DEFAULT_FORMAT],
        Kind.OPTION,
        "format",
    ),
    ControlMethod(
        "/posenet/coords",
        "s",
        "Coordinates of your subscriptions; confirmed like add",
        [{"VALS": list(COORDS)}],
        [FORMATS[DEFAULT_FORMAT].default_coords],
        Kind.OPTION,
        "coords",
    ),
    ControlMethod(
        "/posenet/mirror",
        "i",
        "Mirror x for your subscriptions; confirmed like add",
        [{"MIN": 0, "MAX": 1}],
        [0],
        Kind.OPTION,
        "mirror",
    ),
    ControlMethod(
        "/posenet/zones",
        "s",
        "Saved setting (the owner's: access token last): every zone, as the JSON list of the configuration's "
        "zones; answered by /posenet/zones i (how many)",
        None,
        ["[]"],
        Kind.SECTION,
        "zones",
    ),
    ControlMethod(
        "/posenet/floor",
        "s",
        "Saved setting (the owner's: access token last): the floor calibration, as the JSON object of the "
        'configuration\'s floor ({"image": [], "floor": []} for none); answered by /posenet/floor i (1: calibrated)',
        None,
        ['{"image": [], "floor": []}'],
        Kind.SECTION,
        "floor",
    ),
    ControlMethod(
        "/posenet/record/start",
        "f",
        "Start recording the poses (the owner's: access token last), optionally for this many seconds; "
        "answered by /posenet/record s state s name",
        [{"MIN": 0.0, "MAX": 86400.0}],
        [0.0],
        Kind.RECORD,
        "start",
    ),
    ControlMethod(
        "/posenet/record/stop",
        "N",
        "Stop recording (the owner's: access token as argument); answered by /posenet/record s state s name",
        None,
        [None],
        Kind.RECORD,
        "stop",
    ),
    ControlMethod(
        "/posenet/discover",
        "i",
        "Who is there (send it to the broadcast address 255.255.255.255 too): every box answers "
        "/posenet/here ssiii name address control_port http_port oscquery_port to the sender, at this port "
        "(optional: default the sender's); only senders on the box's own subnets, rate-limited",
        [_PORT],
        [9000],
        Kind.DISCOVER,
    ),
    ControlMethod("/posenet/info", "N", "Ask for /posenet/info name state backend targets", None, [None], Kind.INFO),
    ControlMethod(
        "/posenet/smoothing/enabled",
        "i",
        "Saved setting (the owner's: access token last): One Euro smoothing of keypoints on (1) or off (0)",
        [{"MIN": 0, "MAX": 1}],
        [1],
        Kind.SETTING,
        "smoothing.enabled",
    ),
    ControlMethod(
        "/posenet/smoothing/min_cutoff",
        "f",
        "Saved setting (the owner's: access token last): smoothing cutoff when still (Hz): lower is steadier",
        [{"MIN": 0.01, "MAX": 30.0}],
        [0.8],
        Kind.SETTING,
        "smoothing.min_cutoff",
    ),
    ControlMethod(
        "/posenet/smoothing/beta",
        "f",
        "Saved setting (the owner's: access token last): how much faster smoothing follows per person-height "
        "per second of speed",
        [{"MIN": 0.0, "MAX": 100.0}],
        [6.0],
        Kind.SETTING,
        "smoothing.beta",
    ),
)

_SAVED = "Saved setting (the owner's: access token last): "
_TAGS: dict[Any, str] = {bool: "i", int: "i", float: "f"}  # a setting's type -> its OSC type tag


def _stage_methods(kind: StageKind) -> list[ControlMethod]:
    """A saved-setting message for each number, switch or word of a stage's section; never for a
    write-only one (``writeOnly`` in its schema: a secret, which an answer would show)."""
    out = []
    for key, info in kind.fields().items():
        if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("writeOnly"):
            continue
        words = _words(info.annotation)
        tag = "s" if words is not None else _TAGS.get(info.annotation)
        if tag is None:
            continue
        low = next((m.ge for m in info.metadata if isinstance(m, Ge)), 0 if info.annotation is bool else None)
        high = next((m.le for m in info.metadata if isinstance(m, Le)), 1 if info.annotation is bool else None)
        bounds: dict[str, Any] = {k: v for k, v in (("MIN", low), ("MAX", high)) if v is not None}
        if words:
            bounds = {"VALS": list(words)}
        default = info.get_default(call_default_factory=True)
        out.append(
            ControlMethod(
                f"/posenet/{kind.name}/{key}",
                tag,
                _SAVED + (info.description or key),
                [bounds] if bounds else None,
                [int(default) if isinstance(default, bool) else default],
                Kind.SETTING,
                f"{kind.name}.{key}",
            )
        )
    return out


def _words(annotation: Any) -> tuple[str, ...] | None:
    """A setting that is a word: its choices (a Literal of strings), () for any word (``str``), None
    for anything else."""
    if annotation is str:
        return ()
    if get_origin(annotation) is Literal and all(isinstance(a, str) for a in get_args(annotation)):
        return get_args(annotation)
    return None


_BY_ADDRESS: dict[str, ControlMethod] = {}


def _by_address() -> dict[str, ControlMethod]:
    """Every control method by address: the fixed ones, then the stages' settings."""
    if not _BY_ADDRESS:
        methods = [*CONTROL_METHODS, *(m for kind in STAGES.values() for m in _stage_methods(kind))]
        _BY_ADDRESS.update((m.address, m) for m in methods)
    return _BY_ADDRESS


def control_methods() -> tuple[ControlMethod, ...]:
    """Every control method, in declaration order (the stages' settings last)."""
    return tuple(_by_address().values())


def saved_settings() -> dict[str, tuple[str, str]]:
    """Control methods that change a saved setting: address -> (section, key)."""
    return {a: (m.key.split(".")[0], m.key.split(".")[1]) for a, m in _by_address().items() if m.kind is Kind.SETTING}


#: The fixed control methods that change a saved setting: address -> (section, key).
SAVED_SETTINGS: dict[str, tuple[str, str]] = {
    m.address: (m.key.split(".")[0], m.key.split(".")[1]) for m in CONTROL_METHODS if m.kind is Kind.SETTING
}


@lru_cache(maxsize=256)
def matching(address: str) -> tuple[ControlMethod, ...]:
    """The control methods an incoming address (or OSC 1.0 address pattern) names, in declaration
    order; linear time in the pattern and the addresses (``appliance.output.osc.pattern``).

    Raises:
        PatternError: a malformed or over-cap pattern (a ``ValueError``).
    """
    by_address = _by_address()
    if not is_pattern(address):
        method = by_address.get(address)
        return (method,) if method is not None else ()
    return tuple(by_address[a] for a in compile_pattern(address).select(by_address))


def _stages_changed(name: str, kind: StageKind | None) -> None:
    """A stage came or went: its settings' messages with it."""
    _BY_ADDRESS.clear()
    matching.cache_clear()


on_register(_stages_changed)
