"""``/api/fleet``: the other boxes this one sees on the network (mDNS), with their state; and
``/api/fleet/apply``: one order (identify, or a change of settings) relayed to several of them
(``appliance.web.relay``: only verified boxes, each with its own token, never stored)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from appliance.web.changes import unprocessable
from appliance.web.deps import Web
from appliance.web.models import FleetEntry, FleetOrder, FleetResult, Refusal
from appliance.web.relay import RELAY_DEADLINE, relay

__all__ = ["router"]

router = APIRouter(tags=["fleet"])


def _inlined(schema: Any, defs: dict[str, Any]) -> Any:
    """``schema`` with every local ``$ref`` replaced by its definition (the request body's schema
    stands alone in the OpenAPI document)."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _inlined(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
        return {k: _inlined(v, defs) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_inlined(v, defs) for v in schema]
    return schema


_SCHEMA = FleetOrder.model_json_schema()
_ORDER = _inlined({k: v for k, v in _SCHEMA.items() if k != "$defs"}, _SCHEMA.get("$defs", {}))


@router.get(
    "/api/fleet", response_model=list[FleetEntry], summary="The other boxes on the network (mDNS), with their state"
)
async def fleet(web: Web) -> list[dict[str, Any]]:
    return await web.fleet.entries()


@router.post(
    "/api/fleet/apply",
    response_model=list[FleetResult],
    responses={
        401: {"model": Refusal, "description": "not the owner of this box"},
        403: {"model": Refusal, "description": "this box has no owner yet and the request is not from itself"},
        422: {"model": Refusal, "description": "not a valid order"},
    },
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": _ORDER}}}},
    summary="Identify several boxes, or send them the same change of settings, each with its token (the "
    f"owner's only; verified boxes only; {RELAY_DEADLINE:g} s each at most; tokens never stored)",
)
async def apply(web: Web, body: dict[str, Any] = Body(...)) -> Response:  # noqa: B008
    try:  # validated here, so a refusal names the fields without echoing what was sent (the tokens)
        order = FleetOrder.model_validate(body)
    except ValidationError as exc:
        return unprocessable(exc)
    results = await relay(web.fleet, order)
    return JSONResponse([r.model_dump() for r in results])
