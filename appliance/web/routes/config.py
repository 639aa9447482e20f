"""``/api/config``: read, replace and change part of the configuration; its JSON schema."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, Response

from appliance.config.merge import merge_patch
from appliance.config.models import AppConfig
from appliance.guards import is_loopback
from appliance.stages import STAGES
from appliance.web.changes import REFUSALS, apply, as_input, config_view, keeps_owner
from appliance.web.deps import Web, client_of
from appliance.web.models import SECRETS, ConfigView

__all__ = ["router"]

router = APIRouter(tags=["configuration"])
#: The PUT body is a whole AppConfig (``appliance.web.server`` puts its schema among the components).
_CONFIG_BODY = {"$ref": "#/components/schemas/AppConfig"}


@router.get(
    "/api/config",
    response_model=ConfigView,
    summary="The configuration (write-only secrets are never shown: http.token_set, osc_control.subscribe_key_set, "
    "hub.subscribe_key_set)",
)
async def get_config(web: Web) -> Response:
    return JSONResponse(config_view(web.control.config))


@router.put(
    "/api/config",
    response_model=ConfigView,
    responses=REFUSALS,
    summary="Replace the configuration (a missing http.token, osc_control.subscribe_key or hub.subscribe_key keeps "
    "the current one)",
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": _CONFIG_BODY}}}},
)
def put_config(request: Request, web: Web, body: dict[str, Any] = Body(...)) -> Response:  # noqa: B008
    local = is_loopback(client_of(request))
    return apply(web.control, keeps_owner(local, lambda current: as_input(current, body)))


@router.patch(
    "/api/config",
    response_model=ConfigView,
    responses=REFUSALS,
    summary="Change part of the configuration (JSON merge patch)",
)
def patch_config(request: Request, web: Web, patch: dict[str, Any] = Body(...)) -> Response:  # noqa: B008
    secret = any(section in patch for section in SECRETS)
    local = is_loopback(client_of(request))
    return apply(
        web.control,
        keeps_owner(local, lambda current: merge_patch(current, as_input(current, patch) if secret else patch)),
    )


@router.get("/api/config/schema", summary="JSON schema of the configuration")
async def schema() -> dict[str, Any]:
    return _schema(tuple(STAGES))


@lru_cache(maxsize=4)
def _schema(stages: tuple[str, ...]) -> dict[str, Any]:
    """The configuration's JSON schema, made once per set of stages (each adds its section)."""
    return AppConfig.model_json_schema()
