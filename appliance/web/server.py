"""The HTTP API (FastAPI): the routers of ``appliance.web.routes`` behind the security middleware.

Routes use only the ``Control`` facade (``appliance.web.deps``); every change is one serialised
``Control.update`` (``appliance.web.changes``). The OpenAPI document at ``/openapi.json`` describes
every request and answer; no documentation UI is served (it would need a CDN, and the box has no
internet).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from appliance import __version__
from appliance.config.models import AppConfig
from appliance.core.facade import Control
from appliance.web.calibration import Calibrations
from appliance.web.camera import CameraView
from appliance.web.deps import WebState
from appliance.web.fleet import Fleet
from appliance.web.metrics import Metrics
from appliance.web.routes import ROUTERS
from appliance.web.security import SecurityMiddleware
from appliance.web.stream import PoseStreams

__all__ = ["create_api", "create_app"]


def create_api(control: Control, streams: PoseStreams | None = None) -> FastAPI:
    """The FastAPI app alone (no middleware): every router, sharing one ``WebState``."""
    api = FastAPI(
        title="PoseNet OSC appliance",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        description="Configure where poses go and in which format; read status and live poses.",
    )
    api.state.web = WebState(
        control=control,
        streams=streams if streams is not None else PoseStreams(),
        camera=CameraView(control),
        fleet=Fleet(control),
        metrics=Metrics(control),
        calibrations=Calibrations(control),
    )
    for router in ROUTERS:
        api.include_router(router)
    api.openapi = lambda: _openapi(api)  # type: ignore[method-assign]
    return api


def create_app(control: Control, streams: PoseStreams | None = None) -> Any:
    """The ASGI app: the API wrapped in the security middleware (Host, CSRF, token, headers).

    ``streams`` tracks the open live streams (the server's owner ends them at shutdown).
    """
    return SecurityMiddleware(
        create_api(control, streams),
        token=lambda: control.config.http.token,
        extra_hosts=lambda: [*control.config.http.allowed_hosts, control.config.device_name.lower() + ".local"],
    )


def _openapi(api: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with AppConfig (the PUT body) among the components; made once."""
    if api.openapi_schema is None:
        doc = get_openapi(title=api.title, version=api.version, description=api.description, routes=api.routes)
        schema = AppConfig.model_json_schema(ref_template="#/components/schemas/{model}")
        components = doc.setdefault("components", {}).setdefault("schemas", {})
        for name, sub in schema.pop("$defs", {}).items():
            components.setdefault(name, sub)
        components["AppConfig"] = schema
        api.openapi_schema = doc
    return api.openapi_schema
