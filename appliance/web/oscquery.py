"""OSCQuery (Vidvox OSCQueryProposal, HTTP/JSON): the box's OSC namespace for patches to read.

``GET /`` (or any node path) returns the node: FULL_PATH, DESCRIPTION, and for containers
CONTENTS; for methods TYPE, ACCESS (1 read-only output, 2 write-only control), RANGE and VALUE
where they exist. ``?HOST_INFO`` returns NAME, OSC_IP, OSC_PORT, OSC_TRANSPORT and EXTENSIONS.
``?ATTRIBUTE`` returns ``{"ATTRIBUTE": value}``; 204 when the node has no such attribute, 400 for
an unknown attribute, 404 for an unknown path. The namespace follows the running configuration:
the output addresses of the formats in use (as each format module declares them), and the control
port's writable addresses.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from appliance.core.facade import Control
from appliance.output.osc import FORMAT_NAMES, FORMATS, OscAddress
from appliance.types import KEYPOINT_NAMES
from appliance.web.security import SecurityMiddleware

__all__ = ["ATTRIBUTES", "build_namespace", "create_oscquery_app"]

ATTRIBUTES = ("FULL_PATH", "CONTENTS", "TYPE", "VALUE", "RANGE", "ACCESS", "DESCRIPTION")
_UNIT = {"MIN": 0.0, "MAX": 1.0}


def _method(path: str, type_: str, access: int, description: str, **extra: Any) -> dict[str, Any]:
    node: dict[str, Any] = {"FULL_PATH": path, "ACCESS": access, "DESCRIPTION": description}
    if type_:
        node["TYPE"] = type_
    node.update(extra)
    return node


def _insert(root: dict[str, Any], node: dict[str, Any]) -> None:
    parts = [p for p in node["FULL_PATH"].split("/") if p]
    here = root
    for i, part in enumerate(parts[:-1]):
        contents = here.setdefault("CONTENTS", {})
        here = contents.setdefault(part, {"FULL_PATH": "/" + "/".join(parts[: i + 1]), "DESCRIPTION": part})
    here.setdefault("CONTENTS", {})[parts[-1]] = node


def _control_nodes() -> list[dict[str, Any]]:
    formats = list(FORMAT_NAMES)
    return [
        _method(
            "/posenet/listeners/add",
            "is",
            2,
            "Subscribe: send poses to the sender's address (port, format)",
            RANGE=[{"MIN": 1, "MAX": 65535}, {"VALS": formats}],
        ),
        _method(
            "/posenet/listeners/remove",
            "i",
            2,
            "Unsubscribe the sender (optionally only this port)",
            RANGE=[{"MIN": 1, "MAX": 65535}],
        ),
        _method("/posenet/listeners/clear", "", 2, "Remove every target"),
        _method("/posenet/format", "s", 2, "Format of the sender's targets", RANGE=[{"VALS": formats}]),
        _method(
            "/posenet/coords", "s", 2, "Coordinates of the sender's targets", RANGE=[{"VALS": ["pixels", "normalized"]}]
        ),
        _method("/posenet/mirror", "i", 2, "Mirror x for the sender's targets", RANGE=[{"MIN": 0, "MAX": 1}]),
        _method("/posenet/info", "", 2, "Ask for /posenet/info name state backend targets"),
    ]


def _paths(address: OscAddress, max_people: int) -> list[tuple[str, str]]:
    """Concrete (path, description) pairs of an address pattern, for up to ``max_people``."""
    people = range(max_people) if "{person}" in address.path else range(1)
    parts = KEYPOINT_NAMES if "{part}" in address.path else ("",)
    out = []
    for i in people:
        for part in parts:
            path = address.path.format(person=i, part=part)
            what = f"Person {i} {part}: " if part else ""
            out.append((path, what + address.description))
    return out


def build_namespace(control: Control) -> dict[str, Any]:
    """The whole OSC address space as an OSCQuery node tree."""
    cfg = control.config
    root: dict[str, Any] = {"FULL_PATH": "/", "DESCRIPTION": f"{cfg.device_name}: PoseNet poses as OSC", "CONTENTS": {}}
    for node in _control_nodes():
        _insert(root, node)
    in_use = {t.format for t in cfg.targets} or {"individual"}
    people = len(control.latest())
    max_people = cfg.decoder.max_poses
    for name in FORMAT_NAMES:
        if name not in in_use:
            continue
        for address in FORMATS[name].addresses:
            extra: dict[str, Any] = {}
            if address.args == ("count",):
                extra = {"VALUE": [people], "RANGE": [{"MIN": 0, "MAX": max_people}]}
            elif address.args == ("score", "x", "y"):
                extra = {"RANGE": [_UNIT] * 3}
            for path, description in _paths(address, max_people):
                _insert(root, _method(path, address.typetags, 1, description, **extra))
    return root


def _find(root: dict[str, Any], path: str) -> dict[str, Any] | None:
    node = root
    for part in [p for p in path.split("/") if p]:
        contents = node.get("CONTENTS")
        if not contents or part not in contents:
            return None
        node = contents[part]
    return node


def create_oscquery_app(control: Control, osc_ip: str = "") -> Any:
    """The OSCQuery HTTP app: read-only, behind the same Host check as the HTTP API (a page on
    another site cannot read it through DNS rebinding)."""

    async def handle(request: Request) -> Response:
        query = request.url.query
        if query == "HOST_INFO":
            discovery = control.status().servers.get("discovery")
            cfg = control.config
            return JSONResponse(
                {
                    "NAME": discovery.name if discovery is not None and discovery.name else cfg.device_name,
                    "OSC_IP": osc_ip,
                    "OSC_PORT": cfg.osc_control.port,
                    "OSC_TRANSPORT": "UDP",
                    "EXTENSIONS": {
                        "ACCESS": True,
                        "VALUE": True,
                        "RANGE": True,
                        "DESCRIPTION": True,
                        "TYPE": True,
                        "CONTENTS": True,
                        "LISTEN": False,
                        "PATH_CHANGED": False,
                    },
                }
            )
        node = _find(build_namespace(control), request.url.path)
        if node is None:
            return JSONResponse({"error": f"no OSC node at {request.url.path}"}, status_code=404)
        if not query:
            return JSONResponse(node)
        if query not in ATTRIBUTES:
            return JSONResponse({"error": f"unknown attribute {query}"}, status_code=400)
        if query not in node:
            return Response(status_code=204)
        return JSONResponse({query: node[query]})

    return SecurityMiddleware(
        Starlette(routes=[Route("/{path:path}", handle, methods=["GET"])]),
        token=lambda: "",
        extra_hosts=lambda: [*control.config.http.allowed_hosts, control.config.device_name.lower() + ".local"],
        read_only=True,
    )
