"""The HTTP API (FastAPI): configuration, schema, status, targets, poses, live stream, web page.

Routes use only the ``Control`` facade; every change is one serialised ``Control.update``, so
concurrent changes are never lost. Invalid changes get 422 with ``detail: [{loc, msg, type}]``
naming each failing field, and change nothing. The OpenAPI document is at ``/openapi.json``; no
documentation UI is served (it would need a CDN, and the box has no internet).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any, Literal

from fastapi import Body, FastAPI, HTTPException, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from appliance import __version__
from appliance.config.merge import merge_patch
from appliance.config.models import AppConfig, Format, PresetName, TargetConfig
from appliance.core.facade import Change, Control
from appliance.core.status import report
from appliance.errors import RefusedChange
from appliance.output.osc import FORMATS
from appliance.output.osc.presets import PRESETS
from appliance.output.posejson import poses_to_json
from appliance.web.camera import CameraView
from appliance.web.fleet import Fleet
from appliance.web.security import SecurityMiddleware, bearer_ok
from appliance.web.stream import END_OF_STREAM, PoseStreams, StreamListener

__all__ = ["create_app"]

#: Seconds between keep-alive comments on the pose stream.
STREAM_PING = 15.0
_STATIC = resources.files("appliance.web") / "static"
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css"}


class ThisComputer(BaseModel):
    """Add the requesting computer as a target (what is left out: the preset's, or the format's)."""

    model_config = ConfigDict(extra="forbid")
    port: int | None = Field(None, ge=1, le=65535, description="UDP port on this computer (default 9000).")
    format: Format | None = Field(None, description="OSC format (default individual).")
    coords: Literal["pixels", "normalized"] | None = Field(None, description="Default: the format's own.")
    preset: PresetName | None = Field(None, description="A preset: format, coordinates and port.")


def config_view(config: AppConfig) -> dict[str, Any]:
    """The configuration as the API shows it: the access token is write-only, so ``http.token`` is
    left out and ``http.token_set`` says whether one is set."""
    doc = config.model_dump(mode="json")
    doc["http"]["token_set"] = bool(doc["http"].pop("token"))
    doc["osc_control"]["subscribe_key_set"] = bool(doc["osc_control"].pop("subscribe_key"))
    return doc


def _as_input(current: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """A client's whole configuration as input: the read-only ``http.token_set`` and
    ``osc_control.subscribe_key_set`` are dropped, and a missing ``http.token`` or
    ``osc_control.subscribe_key`` keeps the current one (what GET showed can be PUT back unchanged)."""
    data = dict(body)
    for section, secret in (("http", "token"), ("osc_control", "subscribe_key")):
        part = data.get(section)
        if isinstance(part, dict):
            part = {k: v for k, v in part.items() if k != f"{secret}_set"}
            part.setdefault(secret, current[section][secret])
            data[section] = part
        elif section not in data:
            data[section] = {secret: current[section][secret]}
    return data


_PATH = re.compile(r"(?<![\w.:/])/(?:[\w.+@-]+/)+([\w.+@-]+)")


def redact_paths(text: str) -> str:
    """``text`` with absolute file paths cut to their last part (``.../name``): the box's folders are
    not a visitor's business."""
    return _PATH.sub(lambda m: ".../" + m.group(1), text)


def _keeps_owner(request: Request, fn: Change) -> Change:
    """``fn``, refusing to clear the access token from another computer: that would leave only the
    box itself able to make changes, cutting the owner off (set a new one instead)."""
    from appliance.guards import is_loopback

    local = is_loopback(request.client.host if request.client else None)

    def guarded(current: dict[str, Any]) -> dict[str, Any]:
        new = fn(current)
        if not local and current["http"]["token"] and not (new.get("http") or {}).get("token"):
            raise RefusedChange(
                ("http", "token"),
                "clearing the token from another computer would lock every computer out: set a new one "
                "(or clear it on the box itself)",
            )
        return new

    return guarded


def _unprocessable(exc: ValidationError) -> JSONResponse:
    detail = [
        {"loc": ["body", *err["loc"]], "msg": err["msg"], "type": err["type"]}
        for err in exc.errors(include_url=False, include_context=False, include_input=False)
    ]
    return JSONResponse({"detail": detail}, status_code=422)


def _refused(status: int, loc: list[str | int], msg: str) -> JSONResponse:
    return JSONResponse({"detail": [{"loc": loc, "msg": msg, "type": "refused"}]}, status_code=status)


class _Refused(Exception):
    """A change refused before validation (e.g. no target at that index): answered 404."""

    def __init__(self, loc: list[str | int], msg: str) -> None:
        super().__init__(msg)
        self.loc, self.msg = loc, msg


def create_app(control: Control, streams: PoseStreams | None = None) -> Any:
    """The ASGI app: FastAPI routes wrapped in the security middleware.

    ``streams`` tracks the open live streams (the server's owner ends them at shutdown).
    """
    streams = streams if streams is not None else PoseStreams()
    api = FastAPI(
        title="PoseNet OSC appliance",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        description="Configure where poses go and in which format; read status and live poses.",
    )

    def change(fn: Change, status_code: int = 200, view: str = "") -> Response:
        """One serialised read-modify-write; the new configuration (or its ``view`` key) as JSON.
        A change of the network settings goes on trial: answered 202, ``X-Network-Trial-Seconds``."""
        before = control.trial
        try:
            saved = control.update(fn)
        except ValidationError as exc:
            return _unprocessable(exc)
        except RefusedChange as exc:
            detail = [{"loc": ["body", *exc.loc], "msg": exc.msg, "type": "refused"}]
            return JSONResponse({"detail": detail}, status_code=422)
        except _Refused as exc:
            detail = [{"loc": exc.loc, "msg": exc.msg, "type": "not_found"}]
            return JSONResponse({"detail": detail}, status_code=404)
        except OSError as exc:
            raise HTTPException(507, f"could not save the configuration: {exc.strerror}") from exc
        doc = config_view(saved)
        trial = control.trial
        if trial is not None and trial is not before:
            left = str(max(0, round(trial.deadline - time.monotonic())))
            return JSONResponse(doc[view] if view else doc, status_code=202, headers={"X-Network-Trial-Seconds": left})
        return JSONResponse(doc[view] if view else doc, status_code=status_code)

    config_body = {"$ref": "#/components/schemas/AppConfig"}

    def openapi() -> dict[str, Any]:
        """FastAPI's document, with AppConfig (the PUT body) among the components."""
        if api.openapi_schema is None:
            doc = get_openapi(title=api.title, version=api.version, description=api.description, routes=api.routes)
            schema = AppConfig.model_json_schema(ref_template="#/components/schemas/{model}")
            components = doc.setdefault("components", {}).setdefault("schemas", {})
            components.update(schema.pop("$defs", {}))
            components["AppConfig"] = schema
            api.openapi_schema = doc
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]

    @api.get("/api/config", summary="The configuration (the access token is never shown: http.token_set)")
    def get_config() -> Any:
        return config_view(control.config)

    @api.put(
        "/api/config",
        summary="Replace the configuration (a missing http.token keeps the current one)",
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": config_body}}}},
    )
    def put_config(request: Request, body: dict[str, Any] = Body(...)) -> Response:  # noqa: B008
        return change(_keeps_owner(request, lambda current: _as_input(current, body)))

    @api.patch("/api/config", summary="Change part of the configuration (JSON merge patch)")
    def patch_config(request: Request, patch: dict[str, Any] = Body(...)) -> Response:  # noqa: B008
        secret = "http" in patch or "osc_control" in patch
        return change(
            _keeps_owner(request, lambda current: merge_patch(current, _as_input(current, patch) if secret else patch))
        )

    @api.get("/api/config/schema", summary="JSON schema of the configuration")
    def schema() -> dict[str, Any]:
        return AppConfig.model_json_schema()

    @api.get("/api/presets", summary="Presets: format, coordinates and port of receivers people already run")
    def presets() -> dict[str, Any]:
        return {
            name: {"format": p.format, "coords": p.coords, "port": p.port, "description": p.description}
            for name, p in PRESETS.items()
        }

    @api.get("/api/formats", summary="OSC formats: description and default coordinates")
    def formats() -> dict[str, Any]:
        return {name: {"description": f.description, "coords": f.default_coords} for name, f in FORMATS.items()}

    @api.get("/api/status", summary="Backend, model, fps, latency, drops, per-target errors, safe mode")
    def status() -> dict[str, Any]:
        return control.status().to_json()

    @api.get("/api/targets", response_model=list[TargetConfig], summary="OSC targets")
    def get_targets() -> Any:
        return [t.model_dump(mode="json") for t in control.config.targets]

    @api.post("/api/targets", response_model=list[TargetConfig], status_code=201, summary="Add a target")
    def add_target(target: TargetConfig) -> Response:
        new = target.model_dump(mode="json")
        return change(lambda current: {**current, "targets": [*current["targets"], new]}, 201, "targets")

    @api.post(
        "/api/targets/this-computer",
        response_model=list[TargetConfig],
        status_code=201,
        summary="Send poses to the computer making this request",
    )
    def add_this_computer(request: Request, body: ThisComputer) -> Response:
        host = request.client.host if request.client else "127.0.0.1"
        given = {k: v for k, v in body.model_dump().items() if v is not None}
        preset = PRESETS.get(given.get("preset", ""))
        if preset is None or preset.port is None:
            given.setdefault("port", 9000)
        try:
            target = TargetConfig.model_validate({"host": host, **given})
        except ValidationError as exc:
            return _unprocessable(exc)
        return add_target(target)

    @api.delete("/api/targets/{index}", response_model=list[TargetConfig], summary="Remove a target by position")
    def remove_target(index: int) -> Response:
        def remove(current: dict[str, Any]) -> dict[str, Any]:
            if not 0 <= index < len(current["targets"]):
                raise _Refused(["path", "index"], "no target at this index")
            return {**current, "targets": [t for i, t in enumerate(current["targets"]) if i != index]}

        return change(remove, 200, "targets")

    @api.post(
        "/api/network/confirm",
        summary="Keep the network settings on trial (from the new address when the HTTP address changed)",
    )
    async def confirm_network(request: Request) -> Response:
        host, port = request.scope.get("server") or ("", 0)
        try:
            trial = await asyncio.to_thread(control.confirm_network, host, port)
        except RefusedChange as exc:
            return _refused(409, ["network", *exc.loc], exc.msg)
        return JSONResponse({"kept": trial.changes})

    @api.delete("/api/network/trial", summary="Undo the network settings on trial now")
    def undo_network() -> Response:
        trial = control.trial
        if trial is None or not control.revert_network(trial, "undone by the owner"):
            return _refused(404, ["network"], "no change of the network settings is on trial")
        return JSONResponse({"undone": trial.changes})

    camera = CameraView(control)
    fleet = Fleet(control)

    @api.get(
        "/api/health",
        summary="The doctor's checks: camera, Edge TPU, runtime, models, power, clock, ... (paths for the owner only)",
    )
    def health(request: Request) -> dict[str, Any]:
        doc = report(control.health())
        if not request.scope.get("state", {}).get("owner"):
            for check in doc["checks"]:
                check["detail"], check["fix"] = redact_paths(check["detail"]), redact_paths(check["fix"])
        return doc

    @api.get("/api/fleet", summary="The other boxes on the network (mDNS), with their state")
    async def get_fleet() -> list[dict[str, Any]]:
        return await fleet.entries()

    @api.get("/api/choices", summary="Sources (cameras found, media files) and installed models to choose from")
    def choices() -> dict[str, Any]:
        return control.choices()

    @api.get(
        "/api/camera.jpg",
        summary="The newest camera frame as JPEG (at most 640 px wide); needs the token when one is set",
        responses={200: {"content": {"image/jpeg": {}}}, 401: {}, 404: {}},
    )
    def camera_jpg(request: Request) -> Response:
        config = control.config.http
        if not config.camera_view:
            return _refused(404, ["config", "http", "camera_view"], "the camera view is off on this box")
        if config.token and not bearer_ok(request.headers.get("authorization", ""), config.token):
            return _refused(401, ["header", "authorization"], "the camera picture needs the access token")
        got = camera.jpeg()
        if got is None:
            return _refused(404, ["pipeline"], "no frame yet (the camera or the pipeline is not running)")
        data, index, (w, h) = got
        headers = {"Cache-Control": "no-store", "X-Frame-Index": str(index), "X-Frame-Size": f"{w}x{h}"}
        return Response(data, media_type="image/jpeg", headers=headers)

    @api.get("/api/poses/latest", summary="The newest frame's poses (x, y, score normalised 0..1)")
    def latest() -> dict[str, Any]:
        return poses_to_json(control.latest())

    @api.get("/api/poses/stream", summary="Live poses as server-sent events, one event per frame")
    async def stream(request: Request) -> StreamingResponse:
        listener = StreamListener(asyncio.get_running_loop())
        streams.opened(listener)
        unsubscribe = control.subscribe(listener)

        async def events() -> AsyncIterator[bytes]:
            try:
                yield b"retry: 2000\n\n"
                while not await request.is_disconnected():
                    try:
                        poses = await asyncio.wait_for(listener.queue.get(), STREAM_PING)
                    except TimeoutError:
                        yield b": ping\n\n"
                        continue
                    if poses is END_OF_STREAM:
                        return
                    yield b"data: " + json.dumps(poses_to_json(poses), separators=(",", ":")).encode() + b"\n\n"
            finally:
                unsubscribe()
                streams.closed(listener)

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    @api.get("/", include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse((_STATIC / "index.html").read_text())

    @api.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
        if "/" in name or suffix not in _TYPES or not (_STATIC / name).is_file():
            raise HTTPException(404, "not found")
        return Response((_STATIC / name).read_bytes(), media_type=_TYPES[suffix])

    return SecurityMiddleware(
        api,
        token=lambda: control.config.http.token,
        extra_hosts=lambda: [*control.config.http.allowed_hosts, control.config.device_name.lower() + ".local"],
    )
