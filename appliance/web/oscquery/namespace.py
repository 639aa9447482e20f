"""The box's OSC address space as an OSCQuery node tree, built once per change of what it shows.

The tree (every node's FULL_PATH, ACCESS, DESCRIPTION, TYPE, RANGE, and placeholder VALUEs) depends
on the configuration, the control port's subscriptions and the frame size only: it is rebuilt when
one of them changes, never per request. Live values come from one encoding per frame
(``FrameValues``), shared by every request and every LISTEN socket of that frame.

One node per OSC address, however many formats emit it (``individual`` and ``individual-bundle``
both send ``/poses/{i}/{part}``): its DESCRIPTION names them all, and its coordinates are the ones
every target and subscription of those formats uses (the formats' default when none does). RANGE
of x and y is 0..1 (normalized) or 0..width / 0..height (source pixels), null when they mix both;
VALUE is in the same coordinates (0..1 when mixed).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from appliance.config.models import AppConfig
from appliance.control.messages import control_methods, saved_settings
from appliance.core.facade import Reading
from appliance.output.osc import FORMAT_NAMES, FORMATS, OscAddress, OutputOptions
from appliance.output.osc.base import Coords, typetags
from appliance.output.osc.wire import parse_message, split_packet
from appliance.stages import STAGES
from appliance.types import KEYPOINT_NAMES, Poses

__all__ = ["FrameValues", "Namespace", "Output", "Tree", "find"]

Node = dict[str, Any]
_COORDINATES = frozenset({"x", "y"})


@dataclass(frozen=True, slots=True)
class Output:
    """One output address pattern (``/poses/{person}/{part}``...): what its arguments mean, the
    formats that emit it, and the coordinates its x and y are in (None: targets mix both)."""

    address: OscAddress
    formats: tuple[str, ...]
    coords: Coords | None


@dataclass(frozen=True, slots=True)
class Tree:
    """One build of the namespace: the root node, every method's node by path, each output path's
    ``Output``, and the encodings a frame needs: (format, coordinates, address patterns taken from it)."""

    root: Node
    methods: dict[str, Node]
    outputs: dict[str, Output]
    encodings: tuple[tuple[str, Coords, frozenset[str]], ...]
    frame_size: tuple[int, int]
    max_people: int
    stages: tuple[tuple[str, Coords], ...] = ()  # stages with messages, and the coordinates to encode them in


def _container(path: str, description: str) -> Node:
    return {"FULL_PATH": path, "ACCESS": 0, "DESCRIPTION": description, "CONTENTS": {}}


def _insert(root: Node, node: Node) -> None:
    """Put ``node`` at its FULL_PATH, making the containers above it. OSC's address space is a tree
    whose leaves are the methods: no method has another below it (python-oscquery refuses that)."""
    parts = [p for p in node["FULL_PATH"].split("/") if p]
    here = root
    for i, part in enumerate(parts[:-1]):
        here = here["CONTENTS"].setdefault(part, _container("/" + "/".join(parts[: i + 1]), part))
    here["CONTENTS"][parts[-1]] = node


def find(root: Node, path: str) -> Node | None:
    """The node at ``path`` ("/" or "" is the root); None when there is none."""
    node = root
    for part in [p for p in path.split("/") if p]:
        contents = node.get("CONTENTS")
        if not contents or part not in contents:
            return None
        node = contents[part]
    return node


def _paths(
    address: OscAddress, max_people: int, names: Mapping[str, Sequence[str]] | None = None
) -> Iterator[tuple[str, str]]:
    """Every concrete path of ``address`` with its description; a stage's placeholders (``{zone}``)
    take each of their ``names`` (none: no path)."""
    people = range(max_people) if "{person}" in address.path else range(1)
    parts = KEYPOINT_NAMES if "{part}" in address.path else ("",)
    keys = [k for k in names or {} if "{" + k + "}" in address.path]
    for combo in itertools.product(*((names or {})[k] for k in keys)):
        fill = dict(zip(keys, combo, strict=True))
        for i in people:
            for part in parts:
                what = f"Person {i} {part}: " if part else ""
                yield address.path.format(person=i, part=part, **fill), what + address.description


def _range(kind: str, coords: Coords | None, size: tuple[int, int], max_people: int) -> dict[str, Any] | None:
    if kind in ("score", "unit"):
        return {"MIN": 0.0, "MAX": 1.0}
    if kind == "flag":
        return {"MIN": 0, "MAX": 1}
    if kind in _COORDINATES:
        if coords is None:
            return None
        top = 1.0 if coords == "normalized" else float(size[0] if kind == "x" else size[1])
        return {"MIN": 0.0, "MAX": top} if top else None
    if kind == "count":
        return {"MIN": 0, "MAX": max_people}
    if kind == "index":
        return {"MIN": 0, "MAX": max_people - 1}
    return None


def method_facts(output: Output, kinds: list[Any], size: tuple[int, int], max_people: int) -> Node:
    """TYPE and (when any is known) RANGE of an output method whose arguments have these ``kinds``."""
    facts: Node = {"TYPE": typetags(kinds)}
    ranges = [_range(k, output.coords, size, max_people) for k in kinds]
    if any(r is not None for r in ranges):
        facts["RANGE"] = ranges
    return facts


def _coords_of(formats: Iterable[str], config: AppConfig, subscriptions: Iterable[Any]) -> Coords | None:
    """The coordinates every target and subscription of ``formats`` uses (the formats' default when
    none does); None when they mix pixels and 0..1."""
    names = set(formats)
    used = {t.coords for t in config.targets if t.format in names}
    used |= {s.coords for s in subscriptions if s.format in names}
    used = used or {FORMATS[f].default_coords for f in names}
    return next(iter(used)) if len(used) == 1 else None


def _outputs(config: AppConfig, subscriptions: Iterable[Any]) -> dict[str, Output]:
    """Every output address pattern once, with all the formats that emit it (in display order)."""
    found: dict[str, tuple[OscAddress, list[str]]] = {}
    for name in FORMAT_NAMES:
        for address in FORMATS[name].addresses:
            found.setdefault(address.path, (address, []))[1].append(name)
    subs = tuple(subscriptions)
    return {
        pattern: Output(
            address,
            tuple(names),
            _coords_of(names, config, subs) if _COORDINATES & {*address.args, *address.repeat} else "normalized",
        )
        for pattern, (address, names) in found.items()
    }


def _stage_outputs(config: AppConfig, subscriptions: Iterable[Any]) -> dict[str, Output]:
    """The stages' own addresses (``appliance.stages``), in the coordinates of the formats that send
    them by default."""
    sending = [f for f in FORMAT_NAMES if FORMATS[f].extras]
    coords = _coords_of(sending, config, subscriptions) if sending else "normalized"
    return {
        address.path: Output(address, (f"{name} stage",), coords)
        for name, kind in STAGES.items()
        if kind.extra is not None
        for address in kind.extra.addresses
    }


def _stage_names(config: AppConfig) -> dict[str, Mapping[str, Sequence[str]]]:
    """Address pattern -> what its stage's placeholders stand for in this configuration (``{zone}``:
    the zones' names)."""
    return {
        address.path: kind.names(getattr(config, name))
        for name, kind in STAGES.items()
        if kind.extra is not None and kind.names is not None
        for address in kind.extra.addresses
    }


def _encodings(outputs: dict[str, Output]) -> tuple[tuple[str, Coords, frozenset[str]], ...]:
    """Which format to encode in which coordinates for each pattern: the first format emitting it,
    one encoding per (format, coordinates); a pattern without coordinates joins any encoding of its
    format."""
    plan: dict[tuple[str, Coords], set[str]] = {}
    plain = []
    for pattern, output in outputs.items():
        if _COORDINATES & {*output.address.args, *output.address.repeat}:
            plan.setdefault((output.formats[0], output.coords or "normalized"), set()).add(pattern)
        else:
            plain.append((pattern, output.formats[0]))
    for pattern, fmt in plain:
        key = next((k for k in plan if k[0] == fmt), (fmt, "normalized"))
        plan.setdefault(key, set()).add(pattern)
    return tuple((fmt, coords, frozenset(patterns)) for (fmt, coords), patterns in plan.items())


def build(config: AppConfig, subscriptions: Iterable[Any], frame_size: tuple[int, int]) -> Tree:
    """The namespace for this configuration, these subscriptions and this frame size (placeholder
    VALUEs: zeros, the shape python-oscquery needs on every readable method)."""
    max_people = config.decoder.max_poses
    root = _container("/", f"{config.device_name}: PoseNet poses as OSC")
    methods: dict[str, Node] = {}
    settings = saved_settings()
    for m in control_methods():
        node: Node = {"FULL_PATH": m.address, "ACCESS": 2, "DESCRIPTION": m.description, "TYPE": m.typetags}
        node["VALUE"] = m.value  # a placeholder: the type of what to send (python-oscquery reads types from it)
        saved = settings.get(m.address)
        if saved is not None:  # a saved setting: readable too, its value the one in force
            current = getattr(getattr(config, saved[0]), saved[1])
            node["ACCESS"], node["VALUE"] = 3, [int(current) if isinstance(current, bool) else current]
        if m.range is not None:
            node["RANGE"] = m.range
        methods[m.address] = node
    subs = tuple(subscriptions)
    patterns = _outputs(config, subs)
    staged = _stage_outputs(config, subs)
    names = _stage_names(config)
    outputs: dict[str, Output] = {}
    for output in [*patterns.values(), *staged.values()]:
        kinds = list(output.address.args)
        facts = method_facts(output, kinds, frame_size, max_people)
        for path, description in _paths(output.address, max_people, names.get(output.address.path)):
            node = {"FULL_PATH": path, "ACCESS": 1, "DESCRIPTION": f"{description} ({', '.join(output.formats)})"}
            node |= facts | {"VALUE": [0] * len(kinds)}  # zeros until a frame has them
            methods[path] = node
            outputs[path] = output
    for node in methods.values():
        _insert(root, node)
    coords: Coords = next((o.coords or "normalized" for o in staged.values()), "normalized")
    stages = tuple((name, coords) for name, kind in STAGES.items() if kind.extra is not None)
    return Tree(root, methods, outputs, _encodings(patterns), frame_size, max_people, stages)


class FrameValues:
    """One frame's OSC messages for every output path (one encoding per format and coordinates, as
    the tree's plan says), and the nodes filled with them."""

    def __init__(self, tree: Tree, poses: Poses) -> None:
        self.tree, self.poses = tree, poses
        self.messages: dict[str, list[bytes]] = {}
        for fmt, coords, patterns in tree.encodings:
            options = OutputOptions(coords=coords, max_datagram=65000)
            for datagram in FORMATS[fmt](poses, options):
                for message in split_packet(datagram):
                    address = message[: message.index(b"\0")].decode("ascii")
                    output = tree.outputs.get(address)
                    if output is not None and output.address.path in patterns:
                        self.messages.setdefault(address, []).append(message)
        for name, coords in tree.stages:
            extra = STAGES[name].extra if name in STAGES else None
            encode = (extra.values or extra.encode) if extra is not None else None
            for message in encode(poses, OutputOptions(coords=coords)) if encode is not None else ():
                address = message[: message.index(b"\0")].decode("ascii")
                if address in tree.outputs:
                    self.messages.setdefault(address, []).append(message)
        self._filled: dict[str, Node] = {}

    def node(self, path: str) -> Node:
        """The method node at ``path`` with this frame's TYPE, RANGE and VALUE (a new dict; the
        tree's own when the frame did not send it, e.g. a person not in view)."""
        node = self._filled.get(path)
        if node is None:
            node = self.tree.methods[path]
            sent = self.messages.get(path)
            output = self.tree.outputs.get(path)
            if sent and output is not None:
                args = parse_message(sent[0])[1]
                kinds: list[Any] = list(output.address.args)
                if output.address.repeat:  # variable length: this frame's people
                    kinds += list(output.address.repeat) * ((len(args) - len(kinds)) // len(output.address.repeat))
                facts = method_facts(output, kinds, self.tree.frame_size, self.tree.max_people)
                values = [float(a) if t == "f" else int(a) for a, t in zip(args, facts["TYPE"], strict=False)]
                node = {k: v for k, v in node.items() if k != "RANGE"} | facts | {"VALUE": values}
            self._filled[path] = node
        return node

    def fill(self, node: Node) -> Node:
        """``node`` (a container or a method) with this frame's values throughout."""
        if "CONTENTS" in node:
            return {**node, "CONTENTS": {k: self.fill(child) for k, child in node["CONTENTS"].items()}}
        return self.node(node["FULL_PATH"]) if node["FULL_PATH"] in self.messages else node


class Namespace:
    """The namespace of one server: the tree rebuilt only when the configuration, the subscriptions
    or the frame size changed; one ``FrameValues`` per frame; rendered answers cached until either
    changes (all on the event loop)."""

    def __init__(self, control: Reading) -> None:
        self.control = control
        self._key: tuple[AppConfig, tuple[Any, ...], tuple[int, int]] | None = None
        self._tree: Tree | None = None
        self._values: FrameValues | None = None
        self._static: dict[str, bytes] = {}  # FULL_PATH -> JSON with placeholders, for this tree
        self._live: dict[str, bytes] = {}  # FULL_PATH -> JSON with this frame's values
        self.builds = 0  # trees built
        self.encodings = 0  # frames encoded

    def tree(self) -> Tree:
        """The tree for what is in force now."""
        config, subscriptions = self.control.config, tuple(self.control.subscriptions)
        size = self.control.latest().frame_size
        key = self._key
        if self._tree is None or key is None or key[0] is not config or key[1] != subscriptions or key[2] != size:
            self._tree = build(config, subscriptions, size)
            self._key, self._values = (config, subscriptions, size), None
            self._static.clear()
            self._live.clear()
            self.builds += 1
        return self._tree

    def values(self) -> FrameValues | None:
        """The newest frame's values; None before the first frame."""
        tree = self.tree()
        poses = self.control.latest()
        if poses.frame_size == (0, 0):
            return None
        values = self._values
        if values is None or values.poses is not poses or values.tree is not tree:
            values = self._values = FrameValues(tree, poses)
            self._live.clear()
            self.encodings += 1
        return values

    def readable(self, path: str) -> bool:
        """Whether ``path`` is a readable method (an output, or a saved setting)."""
        node = self.tree().methods.get(path)
        return node is not None and bool(node["ACCESS"] & 1)

    def render(self, path: str, live: bool) -> bytes | None:
        """The JSON of the node at ``path``: with the newest frame's values (``live``, once there is
        a frame), or with the tree's placeholders; None when there is no node there."""
        node = find(self.tree().root, path)
        if node is None:
            return None
        values = self.values() if live else None
        cache = self._live if values is not None else self._static
        data = cache.get(node["FULL_PATH"])
        if data is None:
            data = cache[node["FULL_PATH"]] = json.dumps(values.fill(node) if values is not None else node).encode()
        return data
