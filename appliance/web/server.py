"""The HTTP API (FastAPI): configuration, schema, status, targets, poses, live stream, web page.

Routes call the Application and the ConfigStore; they never touch pipeline threads directly.
Invalid changes get 422 with ``detail: [{loc, msg, type}]`` naming each failing field, and change
nothing. The OpenAPI document is at ``/openapi.json``; no documentation UI is served (it would need
a CDN, and the box has no internet).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

from fastapi import Body, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from appliance import __version__
from appliance.app import END_OF_STREAM, Application
from appliance.config.models import AppConfig, Format, TargetConfig
from appliance.web.security import SecurityMiddleware

__all__ = ["create_app"]

#: Seconds between keep-alive comments on the pose stream.
STREAM_PING = 15.0
_STATIC = resources.files("appliance.web") / "static"
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css"}


class ThisComputer(BaseModel):
    """Add the requesting computer as a target."""

    model_config = ConfigDict(extra="forbid")
    port: int = Field(9000, ge=1, le=65535, description="UDP port on this computer.")
    format: Format = Field("individual", description="OSC format.")


def _merge(base: Any, patch: Any) -> Any:
    """JSON merge patch (RFC 7396): objects merge, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    out = dict(base) if isinstance(base, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge(out.get(key), value)
    return out


def _unprocessable(exc: ValidationError) -> JSONResponse:
    detail = [
        {"loc": ["body", *err["loc"]], "msg": err["msg"], "type": err["type"]}
        for err in exc.errors(include_url=False, include_context=False, include_input=False)
    ]
    return JSONResponse({"detail": detail}, status_code=422)


def create_app(application: Application) -> Any:
    """The ASGI app: FastAPI routes wrapped in the security middleware."""
    store = application.store
    api = FastAPI(
        title="PoseNet OSC appliance",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        description="Configure where poses go and in which format; read status and live poses.",
    )

    def save(data: dict[str, Any] | AppConfig) -> Response:
        try:
            saved = store.save(data)
        except ValidationError as exc:
            return _unprocessable(exc)
        except OSError as exc:
            raise HTTPException(507, f"could not save the configuration: {exc.strerror}") from exc
        return JSONResponse(saved.model_dump(mode="json"))

    @api.get("/api/config", response_model=AppConfig, summary="The saved configuration")
    def get_config() -> Any:
        return store.config.model_dump(mode="json")

    @api.put("/api/config", response_model=AppConfig, summary="Replace the configuration")
    def put_config(config: AppConfig) -> Response:
        return save(config)

    @api.patch("/api/config", response_model=AppConfig, summary="Change part of the configuration (merge patch)")
    def patch_config(patch: dict[str, Any] = Body(...)) -> Response:  # noqa: B008
        return save(_merge(store.config.model_dump(mode="json"), patch))

    @api.get("/api/config/schema", summary="JSON schema of the configuration")
    def schema() -> dict[str, Any]:
        return AppConfig.model_json_schema()

    @api.get("/api/status", summary="Backend, model, fps, latency, drops, per-target errors, safe mode")
    def status() -> dict[str, Any]:
        return application.status()

    @api.get("/api/targets", response_model=list[TargetConfig], summary="OSC targets")
    def get_targets() -> Any:
        return [t.model_dump(mode="json") for t in store.config.targets]

    @api.post("/api/targets", response_model=list[TargetConfig], status_code=201, summary="Add a target")
    def add_target(target: TargetConfig) -> Response:
        current = store.config.model_dump(mode="json")
        current["targets"] = [*current["targets"], target.model_dump(mode="json")]
        response = save(current)
        if response.status_code == 200:
            return JSONResponse(json.loads(bytes(response.body))["targets"], status_code=201)
        return response

    @api.post(
        "/api/targets/this-computer",
        response_model=list[TargetConfig],
        status_code=201,
        summary="Send poses to the computer making this request",
    )
    def add_this_computer(request: Request, body: ThisComputer) -> Response:
        host = request.client.host if request.client else "127.0.0.1"
        return add_target(TargetConfig(host=host, port=body.port, format=body.format))

    @api.delete("/api/targets/{index}", response_model=list[TargetConfig], summary="Remove a target by position")
    def remove_target(index: int) -> Response:
        current = store.config.model_dump(mode="json")
        if not 0 <= index < len(current["targets"]):
            return JSONResponse(
                {"detail": [{"loc": ["path", "index"], "msg": "no target at this index", "type": "not_found"}]},
                status_code=404,
            )
        del current["targets"][index]
        response = save(current)
        if response.status_code == 200:
            return JSONResponse(json.loads(bytes(response.body))["targets"])
        return response

    @api.get("/api/poses/latest", summary="The newest frame's poses (x, y, score normalised 0..1)")
    def latest() -> dict[str, Any]:
        return application.latest()

    @api.get("/api/poses/stream", summary="Live poses as server-sent events, one event per frame")
    async def stream(request: Request) -> StreamingResponse:
        loop = asyncio.get_running_loop()
        queue = application.subscribe(loop)

        async def events() -> AsyncIterator[bytes]:
            try:
                yield b"retry: 2000\n\n"
                while not await request.is_disconnected():
                    try:
                        doc = await asyncio.wait_for(queue.get(), STREAM_PING)
                    except TimeoutError:
                        yield b": ping\n\n"
                        continue
                    if doc is END_OF_STREAM:
                        return
                    yield b"data: " + json.dumps(doc, separators=(",", ":")).encode() + b"\n\n"
            finally:
                application.unsubscribe(loop, queue)

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
        token=lambda: store.config.http.token,
        extra_hosts=lambda: [*store.config.http.allowed_hosts, application.config.device_name.lower() + ".local"],
    )
