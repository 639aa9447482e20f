"""The OSCQuery server: the namespace over HTTP, HOST_INFO, and LISTEN over a WebSocket.

Who sees what:

* The namespace's structure (every node, TYPE, RANGE, DESCRIPTION, ACCESS) and ``HOST_INFO`` are
  public and carry ``Access-Control-Allow-Origin: *``: browser-based tools on another origin may
  read them.
* Live values are not for pages of other sites: a request whose ``Origin`` is not this server's
  own gets the tree with placeholder VALUEs (zeros, the tree before the first frame; ``/poses/arr``
  typed for nobody), and ``?VALUE`` answers never carry CORS headers (a cross-origin ``?VALUE`` is
  403). WebSockets from another origin are refused by ``SecurityMiddleware``.
* With ``http.poses_need_token`` the pose values and LISTEN are the owner's only (from the box
  itself, or with ``Authorization: Bearer <token>``, also in a WebSocket's handshake): others get
  placeholders, 401 for ``?VALUE`` of an output, and WebSockets closed with 1008.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable
from typing import Any
from urllib.parse import urlsplit

import anyio
from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from appliance.control.discover import instance_name
from appliance.core.facade import Watching
from appliance.guards import Backoff
from appliance.web.deps import is_owner
from appliance.web.oscquery.listen import Listener, ListenHub
from appliance.web.oscquery.namespace import Namespace, find

__all__ = ["ATTRIBUTES", "EXTENSIONS", "OscQueryApp"]

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
#: Headers of answers about the structure, which any origin may read.
SHARED = {"Access-Control-Allow-Origin": "*", "Vary": "Origin"}
_JSON = "application/json"


def cross_origin(conn: HTTPConnection) -> bool:
    """The request comes from a page of another origin (its ``Origin`` is not this server's)."""
    origin = conn.headers.get("origin")
    if origin is None:
        return False
    return origin == "null" or urlsplit(origin).netloc.lower() != conn.headers.get("host", "").lower()


class OscQueryApp:
    """The OSCQuery ASGI app of one server: HTTP GETs and LISTEN WebSockets (Host and Origin are
    checked by the ``SecurityMiddleware`` around it)."""

    def __init__(self, control: Watching) -> None:
        self.control = control
        self.namespace = Namespace(control)
        self.listeners = ListenHub()
        self.token_misses = Backoff()
        self._app = Starlette(routes=[WebSocketRoute("/", self.listen), Route("/{path:path}", self.get)])

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self._app(scope, receive, send)

    def may_see_values(self, conn: HTTPConnection) -> bool:
        """Whether this requester may have live pose values (always, unless ``http.poses_need_token``)."""
        http = self.control.config.http
        if not http.poses_need_token:
            return True
        client = conn.client.host if conn.client else ""
        return is_owner(client, conn.headers.get("authorization", ""), http.token, self.token_misses)

    def name(self) -> str:
        """The mDNS instance name: the advertised one, else the one it will be (stable from the start)."""
        return instance_name(self.control.status(), self.control.config.device_name)

    def host_info(self, request: Request) -> dict[str, Any]:
        """``?HOST_INFO``; OSC_IP is this box's address on the interface the request came in on."""
        local = request.scope.get("server") or ("", 0)
        info: dict[str, Any] = {
            "NAME": self.name(),
            "OSC_PORT": self.control.config.osc_control.port,
            "OSC_TRANSPORT": "UDP",
            "EXTENSIONS": EXTENSIONS,
        }
        if local[0] and local[0] not in ("0.0.0.0", "::"):
            info["OSC_IP"] = local[0]
        return info

    async def get(self, request: Request) -> Response:
        """``GET /path[?ATTRIBUTE]``: a node, one of its attributes, or ``?HOST_INFO``."""
        query, path = request.url.query, request.url.path
        if query == "HOST_INFO":
            return JSONResponse(self.host_info(request), headers=SHARED)
        live = not cross_origin(request) and self.may_see_values(request)
        if not query:
            data = self.namespace.render(path, live)
            if data is None:
                return JSONResponse({"error": f"no OSC node at {path[:200]}"}, status_code=404, headers=SHARED)
            return Response(data, media_type=_JSON, headers=SHARED)
        node = find(self.namespace.tree().root, path)
        if node is None:
            return JSONResponse({"error": f"no OSC node at {path[:200]}"}, status_code=404, headers=SHARED)
        if query not in ATTRIBUTES:
            return JSONResponse({"error": f"unknown attribute {query[:50]}"}, status_code=400, headers=SHARED)
        if query == "VALUE":
            return self.value(request, node, live)
        values = self.namespace.values() if live else None
        node = values.fill(node) if values is not None else node
        return JSONResponse({query: node[query]} if query in node else {}, headers=SHARED)

    def value(self, request: Request, node: dict[str, Any], live: bool) -> Response:
        """``?VALUE``: never with CORS headers (values are not for pages of other sites)."""
        private = {"Cache-Control": "no-store"}
        if cross_origin(request):
            return JSONResponse({"error": "values are not shared with pages of other sites"}, 403, headers=private)
        if not node.get("ACCESS", 0) & 1:
            return Response(status_code=204, headers=private)
        path = node["FULL_PATH"]
        if path not in self.namespace.tree().outputs:  # a saved setting: the configuration's value
            return JSONResponse({"VALUE": node["VALUE"]}, headers=private)
        if not live:
            return JSONResponse({"error": "the pose values of this box need its access token"}, 401, headers=private)
        values = self.namespace.values()
        if values is None:
            return JSONResponse({}, headers=private)  # no value yet: the tree's zeros are placeholders
        return JSONResponse({"VALUE": values.node(path)["VALUE"]}, headers=private)

    async def listen(self, websocket: WebSocket) -> None:
        """One LISTEN client, from accept to close: 1013 when evicted for a newcomer, 1008 when it
        may no longer have values."""
        if not self.may_see_values(websocket):
            await websocket.close(code=1008)
            return
        await websocket.accept()
        client = websocket.client.host if websocket.client else ""
        listener = Listener(asyncio.get_running_loop(), client, websocket.headers.get("authorization", ""))
        self.listeners.join(listener)
        unsubscribe = self.control.subscribe(listener)
        ended: list[int] = []  # the close code, when the server ends it

        async def first_done(part: Awaitable[int], scope: anyio.CancelScope) -> None:
            ended.append(await part)
            scope.cancel()

        try:
            async with anyio.create_task_group() as parts:
                parts.start_soon(first_done, self._commands(websocket, listener), parts.cancel_scope)
                parts.start_soon(first_done, self._send(websocket, listener), parts.cancel_scope)
                parts.start_soon(first_done, _evicted(listener), parts.cancel_scope)
        finally:
            unsubscribe()
            self.listeners.leave(listener)
        if ended and ended[0]:
            with contextlib.suppress(Exception):  # the client may be gone already
                await websocket.close(code=ended[0])

    async def _commands(self, websocket: WebSocket, listener: Listener) -> int:
        """``{"COMMAND": "LISTEN" | "IGNORE", "DATA": path}`` until the client goes; anything else,
        and LISTEN for a path that is not a readable method, is ignored and counted."""
        while True:
            await self.listeners.pace(listener)
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return 0
            command = _command(message.get("text"))
            if command is None:
                self.listeners.ignored += 1
                continue
            verb, path = command
            if verb == "IGNORE":
                listener.paths.discard(path)
            elif verb == "LISTEN" and self.namespace.readable(path):
                listener.paths.add(path)
            else:
                self.listeners.ignored += 1
                continue
            listener.since = time.monotonic()

    async def _send(self, websocket: WebSocket, listener: Listener) -> int:
        """Each frame, every message to a listened path (the newest frame's one encoding); returns
        1008 when the client may no longer have values (the token changed)."""
        while True:
            await listener.queue.get()
            if not self.may_see_values(websocket):
                return 1008
            values = self.namespace.values()
            if values is None or values.poses is listener.sent:
                continue
            listener.sent = values.poses
            for address, messages in values.messages.items():
                if address in listener.paths:
                    for message in messages:
                        await websocket.send_bytes(message)


async def _evicted(listener: Listener) -> int:
    await listener.evicted.wait()
    return 1013


def _command(text: str | None) -> tuple[str, str] | None:
    """(COMMAND, DATA) of a command message; None when it is not one."""
    if text is None:
        return None
    try:
        command = json.loads(text)
    except ValueError:
        return None
    if not isinstance(command, dict) or not isinstance(command.get("DATA"), str):
        return None
    verb = command.get("COMMAND")
    return (verb, command["DATA"]) if verb in ("LISTEN", "IGNORE") else None
