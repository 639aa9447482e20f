"""``/api/fleet``: the other boxes this one sees on the network (mDNS), with their state."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from appliance.web.deps import Web
from appliance.web.models import FleetEntry

__all__ = ["router"]

router = APIRouter(tags=["fleet"])


@router.get(
    "/api/fleet", response_model=list[FleetEntry], summary="The other boxes on the network (mDNS), with their state"
)
async def fleet(web: Web) -> list[dict[str, Any]]:
    return await web.fleet.entries()
