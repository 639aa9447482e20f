"""OSCQuery (Vidvox OSCQueryProposal, HTTP/JSON and WebSocket): the box's OSC namespace for patches
and tools (ossia score, Chataigne, TouchDesigner, python-oscquery) to read and to LISTEN to.

``GET /`` (or any node path) returns the node: FULL_PATH, DESCRIPTION and ACCESS always (0 for
containers, 1 read-only outputs, 2 write-only control messages), CONTENTS for containers, and for
methods TYPE, VALUE and RANGE. ``?HOST_INFO`` returns NAME, OSC_IP (this box's address on the
interface the request came in on), OSC_PORT, OSC_TRANSPORT and EXTENSIONS. ``?ATTRIBUTE`` returns
``{"ATTRIBUTE": value}``: ``{}`` when a container has no TYPE or a method has no value yet, 204 for
the VALUE of a write-only method, 400 for an unknown attribute, 404 for an unknown path. Answers
carry ``Access-Control-Allow-Origin: *`` (browser-based tools on another origin may read; the Host
check against DNS rebinding stays).

The outputs are every format's addresses (``appliance.output.osc.formats``): TYPE and VALUE are
those of the newest frame (so ``/poses/arr``'s TYPE grows by 52 ``f`` per person), coordinates in
the space the targets of that format use (RANGE 0..1, or 0..width / 0..height for pixels; null when
targets of one format use both), absent people as zeros. The control messages come from
``appliance.control.messages``.

LISTEN (the proposal's streaming extension) on the same port: a WebSocket client sends text
``{"COMMAND": "LISTEN", "DATA": "/poses/amount"}`` and receives every OSC message sent to that
method as a binary WebSocket message, each frame, until ``IGNORE`` or it disconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from appliance.control.messages import CONTROL_METHODS, SAVED_SETTINGS
from appliance.core.facade import Control
from appliance.output.osc import FORMAT_NAMES, FORMATS, OscAddress, OutputOptions
from appliance.output.osc.base import Coords, typetags
from appliance.output.osc.wire import parse_message, split_packet
from appliance.sysinfo import machine_id
from appliance.types import KEYPOINT_NAMES, Poses
from appliance.web.security import SecurityMiddleware
from appliance.web.stream import StreamListener

__all__ = ["ATTRIBUTES", "build_namespace", "create_oscquery_app", "frame_messages"]

logger = logging.getLogger(__name__)

ATTRIBUTES = ("FULL_PATH", "CONTENTS", "TYPE", "VALUE", "RANGE", "ACCESS", "DESCRIPTION")
EXTENSIONS = {
    "ACCESS": True,
    "VALUE": True,
    "RANGE": True,
    "DESCRIPTION": True,
    "TYPE": True,
    "CONTENTS": True,
    "LISTEN": True,
    "PATH_CHANGED": False,
}
#: Most LISTEN clients at once, and paths one client may listen to.
MAX_LISTENERS, MAX_PATHS = 32, 512
_CORS = {"Access-Control-Allow-Origin": "*"}


def _coords(control: Control, fmt: str) -> Coords | None:
    """The coordinates targets of ``fmt`` use (the format's default without targets; None if mixed)."""
    used = {t.coords for t in control.config.targets if t.format == fmt}
    used |= {s.coords for s in control.subscriptions if s.format == fmt}
    if len(used) > 1:
        return None
    return next(iter(used)) if used else FORMATS[fmt].default_coords


def frame_messages(control: Control, poses: Poses) -> dict[str, list[bytes]]:
    """Every OSC message each format would send for ``poses``, by address (in order)."""
    out: dict[str, list[bytes]] = {}
    for name in FORMAT_NAMES:
        options = OutputOptions(coords=_coords(control, name) or "normalized", max_datagram=65000)
        for datagram in FORMATS[name](poses, options):
            for message in split_packet(datagram):
                address = message[: message.index(b"\0")].decode("ascii")
                out.setdefault(address, []).append(message)
    return out


def _range(kind: str, coords: Coords | None, size: tuple[int, int], max_people: int) -> dict[str, Any] | None:
    if kind == "score":
        return {"MIN": 0.0, "MAX": 1.0}
    if kind in ("x", "y"):
        if coords is None:
            return None
        top = 1.0 if coords == "normalized" else float(size[0] if kind == "x" else size[1])
        return {"MIN": 0.0, "MAX": top} if top else None
    if kind == "count":
        return {"MIN": 0, "MAX": max_people}
    if kind == "index":
        return {"MIN": 0, "MAX": max_people - 1}
    return None


def _container(path: str, description: str) -> dict[str, Any]:
    return {"FULL_PATH": path, "ACCESS": 0, "DESCRIPTION": description, "CONTENTS": {}}


def _insert(root: dict[str, Any], node: dict[str, Any]) -> None:
    """Put ``node`` at its FULL_PATH, making the containers above it. OSC's address space is a tree
    whose leaves are the methods: no method has another below it (python-oscquery refuses that)."""
    parts = [p for p in node["FULL_PATH"].split("/") if p]
    here = root
    for i, part in enumerate(parts[:-1]):
        here = here["CONTENTS"].setdefault(part, _container("/" + "/".join(parts[: i + 1]), part))
    here["CONTENTS"][parts[-1]] = node


def _paths(address: OscAddress, max_people: int) -> Iterable[tuple[str, str]]:
    people = range(max_people) if "{person}" in address.path else range(1)
    parts = KEYPOINT_NAMES if "{part}" in address.path else ("",)
    for i in people:
        for part in parts:
            what = f"Person {i} {part}: " if part else ""
            yield address.path.format(person=i, part=part), what + address.description


def _values(args: list[Any], typetags: str) -> list[Any]:
    return [float(a) if t == "f" else int(a) for a, t in zip(args, typetags, strict=False)]


def build_namespace(control: Control) -> dict[str, Any]:
    """The whole OSC address space as an OSCQuery node tree."""
    cfg = control.config
    latest = control.latest()
    size = latest.frame_size
    have_frame = size != (0, 0)
    sent = {a: parse_message(m[0])[1] for a, m in frame_messages(control, latest).items()} if have_frame else {}
    max_people = cfg.decoder.max_poses
    root = _container("/", f"{cfg.device_name}: PoseNet poses as OSC")
    for m in CONTROL_METHODS:
        node = {"FULL_PATH": m.address, "ACCESS": 2, "DESCRIPTION": m.description, "TYPE": m.typetags}
        node["VALUE"] = m.value  # a placeholder: the type of what to send (python-oscquery reads types from it)
        saved = SAVED_SETTINGS.get(m.address)
        if saved is not None:  # a saved setting: readable too, its value the one in force
            current = getattr(getattr(cfg, saved[0]), saved[1])
            node["ACCESS"], node["VALUE"] = 3, [int(current) if isinstance(current, bool) else current]
        if m.range is not None:
            node["RANGE"] = m.range
        _insert(root, node)
    for name in FORMAT_NAMES:
        coords = _coords(control, name)
        for address in FORMATS[name].addresses:
            for path, description in _paths(address, max_people):
                kinds = list(address.args)
                args = sent.get(path)
                if args is not None and address.repeat:  # variable length: this frame's people
                    kinds += list(address.repeat) * ((len(args) - len(kinds)) // len(address.repeat))
                tags = typetags(kinds)
                node = {"FULL_PATH": path, "ACCESS": 1, "DESCRIPTION": f"{description} ({name})", "TYPE": tags}
                # Zeros until a frame has them (before the first frame, or for people not in view):
                # python-oscquery refuses a readable method without a VALUE.
                node["VALUE"] = _values(args, tags) if args is not None else [0] * len(tags)
                ranges = [_range(k, coords, size, max_people) for k in kinds]
                if any(r is not None for r in ranges):
                    node["RANGE"] = ranges
                _insert(root, node)
    return root


def _find(root: dict[str, Any], path: str) -> dict[str, Any] | None:
    node = root
    for part in [p for p in path.split("/") if p]:
        contents = node.get("CONTENTS")
        if not contents or part not in contents:
            return None
        node = contents[part]
    return node


def _name(control: Control) -> str:
    """The mDNS instance name: the advertised one, else the one it will be (stable from the start)."""
    discovery = control.status().servers.get("discovery")
    if discovery is not None and discovery.name:
        return discovery.name
    return f"{control.config.device_name} ({machine_id()})"


class _Listener(StreamListener):
    """One LISTEN client: the page's stream listener (newest frames win) at every frame, fed only
    while it listens to some path."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop, max_fps=float("inf"))
        self.paths: set[str] = set()

    def on_poses(self, poses: Poses) -> None:
        """On the "send" thread: hand the frame to the loop, never wait."""
        if self.paths:
            super().on_poses(poses)


def create_oscquery_app(control: Control) -> Any:
    """The OSCQuery app: read-only HTTP and LISTEN over WebSocket, behind the same Host check as the
    HTTP API (a page on another site cannot read it through DNS rebinding)."""
    listeners: set[_Listener] = set()
    encoded: list[tuple[Poses, dict[str, list[bytes]]]] = []  # the newest frame's messages, for every listener

    def messages_of(poses: Poses) -> dict[str, list[bytes]]:
        """``frame_messages`` once per frame however many clients listen (all on the event loop)."""
        if not encoded or encoded[0][0] is not poses:
            encoded[:] = [(poses, frame_messages(control, poses))]
        return encoded[0][1]

    async def handle(request: Request) -> Response:
        query = request.url.query
        if query == "HOST_INFO":
            cfg = control.config
            local = request.scope.get("server") or ("", 0)
            info: dict[str, Any] = {
                "NAME": _name(control),
                "OSC_PORT": cfg.osc_control.port,
                "OSC_TRANSPORT": "UDP",
                "EXTENSIONS": EXTENSIONS,
            }
            if local[0] and local[0] not in ("0.0.0.0", "::"):
                info["OSC_IP"] = local[0]
            return JSONResponse(info, headers=_CORS)
        node = _find(build_namespace(control), request.url.path)
        if node is None:
            return JSONResponse({"error": f"no OSC node at {request.url.path}"}, status_code=404, headers=_CORS)
        if not query:
            return JSONResponse(node, headers=_CORS)
        if query not in ATTRIBUTES:
            return JSONResponse({"error": f"unknown attribute {query}"}, status_code=400, headers=_CORS)
        if query == "VALUE" and not node["ACCESS"] & 1:
            return Response(status_code=204, headers=_CORS)
        if query == "VALUE" and "TYPE" in node and control.latest().frame_size == (0, 0):
            return JSONResponse({}, headers=_CORS)  # no value yet: the tree's zeros are placeholders
        if query not in node:
            return JSONResponse({}, headers=_CORS)  # a container's TYPE, a value not there yet
        return JSONResponse({query: node[query]}, headers=_CORS)

    async def stream(websocket: WebSocket) -> None:
        if len(listeners) >= MAX_LISTENERS:
            await websocket.close(code=1013)  # try again later
            return
        await websocket.accept()
        listener = _Listener(asyncio.get_running_loop())
        listeners.add(listener)
        unsubscribe = control.subscribe(listener)
        sender = asyncio.create_task(_send(websocket, listener))
        try:
            while True:
                try:
                    command = json.loads(await websocket.receive_text())
                except (ValueError, KeyError):
                    continue  # not JSON text: ignored, as the proposal leaves it
                if not isinstance(command, dict) or not isinstance(command.get("DATA"), str):
                    continue
                if command.get("COMMAND") == "LISTEN" and len(listener.paths) < MAX_PATHS:
                    listener.paths.add(command["DATA"])
                elif command.get("COMMAND") == "IGNORE":
                    listener.paths.discard(command["DATA"])
        except WebSocketDisconnect:
            pass
        finally:
            unsubscribe()
            listeners.discard(listener)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender

    async def _send(websocket: WebSocket, listener: _Listener) -> None:
        while True:
            poses = await listener.queue.get()
            wanted = set(listener.paths)
            for address, messages in messages_of(poses).items():
                if address in wanted:
                    for message in messages:
                        await websocket.send_bytes(message)

    app = Starlette(
        routes=[WebSocketRoute("/", stream), Route("/{path:path}", handle, methods=["GET"])],
    )
    return SecurityMiddleware(
        app,
        token=lambda: "",
        extra_hosts=lambda: [*control.config.http.allowed_hosts, control.config.device_name.lower() + ".local"],
        read_only=True,
    )
