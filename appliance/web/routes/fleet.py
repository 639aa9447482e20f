"""``/api/fleet``: the other boxes this one sees on the network (mDNS), with their state; and
``/api/fleet/apply``: one order (identify, or a change of settings) relayed to several of them
(``appliance.web.relay``: only verified boxes, each with its own token, never stored)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from appliance.web.deps import Web
from appliance.web.models import FleetEntry, FleetOrder, FleetResult, Refusal
from appliance.web.relay import RELAY_DEADLINE, relay

__all__ = ["router"]

router = APIRouter(tags=["fleet"])


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
    summary="Identify several boxes, or send them the same change of settings, each with its token (the "
    f"owner's only; verified boxes only; {RELAY_DEADLINE:g} s each at most; tokens never stored)",
)
async def apply(web: Web, order: FleetOrder) -> list[FleetResult]:
    return await relay(web.fleet, order)
