"""``POST /api/identify``: blink this box's activity LED for a while (``appliance.led``), so the person
on the ladder knows which box is which. A change, so the owner's only (the security middleware)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from appliance.errors import HardwareUnavailable
from appliance.web.changes import refused
from appliance.web.deps import Web
from appliance.web.models import Identified, Refusal

__all__ = ["router"]

router = APIRouter(tags=["fleet"])


@router.post(
    "/api/identify",
    response_model=Identified,
    responses={
        401: {"model": Refusal, "description": "not the owner"},
        409: {"model": Refusal, "description": "this box has no activity LED it can blink"},
    },
    summary="Blink this box's activity LED for 10 s (the owner's only); again while it blinks: 10 s from now",
)
async def identify(web: Web) -> Response:
    try:
        seconds = web.identify.start()
    except HardwareUnavailable as exc:
        return refused(409, ["hardware", "led"], str(exc), "no_led")
    return JSONResponse(Identified(seconds=seconds).model_dump())
