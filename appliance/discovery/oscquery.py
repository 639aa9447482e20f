"""OSCQuery (Vidvox OSCQueryProposal, HTTP/JSON): the box's OSC namespace for patches to read.

``GET /`` (or any node path) returns the node: FULL_PATH, DESCRIPTION, and for containers
CONTENTS; for methods TYPE, ACCESS (1 read-only output, 2 write-only control), RANGE and VALUE
where they exist. ``?HOST_INFO`` returns NAME, OSC_IP, OSC_PORT, OSC_TRANSPORT and EXTENSIONS.
``?ATTRIBUTE`` returns ``{"ATTRIBUTE": value}``; 204 when the node has no such attribute, 400 for
an unknown attribute, 404 for an unknown path. The namespace follows the running configuration:
the output addresses of the formats in use, and the control port's writable addresses.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from appliance.app import Application
from appliance.types import KEYPOINT_NAMES

__all__ = ["ATTRIBUTES", "build_namespace", "create_oscquery_app"]

ATTRIBUTES = ("FULL_PATH", "CONTENTS", "TYPE", "VALUE", "RANGE", "ACCESS", "DESCRIPTION")
FORMATS = ["individual", "individual-bundle", "wekinator", "arr", "bundle"]
_UNIT = [{"MIN": 0.0, "MAX": 1.0}]


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


def build_namespace(app: Application) -> dict[str, Any]:
    """The whole OSC address space as an OSCQuery node tree."""
    cfg = app.config
    root: dict[str, Any] = {"FULL_PATH": "/", "DESCRIPTION": f"{cfg.device_name}: PoseNet poses as OSC", "CONTENTS": {}}
    control = [
        _method(
            "/posenet/listeners/add",
            "is",
            2,
            "Subscribe: send poses to the sender's address (port, format)",
            RANGE=[{"MIN": 1, "MAX": 65535}, {"VALS": FORMATS}],
        ),
        _method(
            "/posenet/listeners/remove",
            "i",
            2,
            "Unsubscribe the sender (optionally only this port)",
            RANGE=[{"MIN": 1, "MAX": 65535}],
        ),
        _method("/posenet/listeners/clear", "", 2, "Remove every target"),
        _method("/posenet/format", "s", 2, "Format of the sender's targets", RANGE=[{"VALS": FORMATS}]),
        _method(
            "/posenet/coords", "s", 2, "Coordinates of the sender's targets", RANGE=[{"VALS": ["pixels", "normalized"]}]
        ),
        _method("/posenet/mirror", "i", 2, "Mirror x for the sender's targets", RANGE=[{"MIN": 0, "MAX": 1}]),
        _method("/posenet/info", "", 2, "Ask for /posenet/info name state backend targets"),
    ]
    for node in control:
        _insert(root, node)
    formats = {t.format for t in cfg.targets} or {"individual"}
    latest = app.latest()
    people = len(latest["poses"])
    max_people = cfg.decoder.max_poses
    if formats & {"individual", "individual-bundle"}:
        _insert(
            root,
            _method(
                "/poses/amount",
                "i",
                1,
                "Number of people in the frame",
                VALUE=[people],
                RANGE=[{"MIN": 0, "MAX": max_people}],
            ),
        )
        for i in range(max_people):
            for name in KEYPOINT_NAMES:
                _insert(
                    root, _method(f"/poses/{i}/{name}", "fff", 1, f"Person {i} {name}: score, x, y", RANGE=_UNIT * 3)
                )
    if "wekinator" in formats:
        _insert(root, _method("/wek/inputs", "f" * 51, 1, "Best person: score, x, y of the 17 keypoints"))
    if "arr" in formats:
        _insert(root, _method("/poses/arr", "iii", 1, "width, height, n, then per person score + 17 x (x, y, score)"))
    if "bundle" in formats:
        _insert(root, _method("/posenet/frame", "iiii", 1, "Bundle: frame index, width, height, person count"))
        _insert(
            root, _method("/posenet/person", "iif" + "f" * 51, 1, "Bundle: id, index, score, then 17 x (x, y, score)")
        )
    return root


def _find(root: dict[str, Any], path: str) -> dict[str, Any] | None:
    node = root
    for part in [p for p in path.split("/") if p]:
        contents = node.get("CONTENTS")
        if not contents or part not in contents:
            return None
        node = contents[part]
    return node


def create_oscquery_app(app: Application, osc_ip: str = "") -> Starlette:
    """The OSCQuery HTTP app (read-only)."""

    async def handle(request: Request) -> Response:
        query = request.url.query
        if query == "HOST_INFO":
            return JSONResponse(
                {
                    "NAME": app.extra_status.get("instance", app.config.device_name),
                    "OSC_IP": osc_ip,
                    "OSC_PORT": app.config.osc_control.port,
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
        node = _find(build_namespace(app), request.url.path)
        if node is None:
            return JSONResponse({"error": f"no OSC node at {request.url.path}"}, status_code=404)
        if not query:
            return JSONResponse(node)
        if query not in ATTRIBUTES:
            return JSONResponse({"error": f"unknown attribute {query}"}, status_code=400)
        if query not in node:
            return Response(status_code=204)
        return JSONResponse({query: node[query]})

    return Starlette(routes=[Route("/{path:path}", handle, methods=["GET"])])
