"""``/api/hub/calibration/apply``: on a hub, the calibration correction offered for one box applied
to that box's floor calibration with one click (``appliance.web.calibration``: the owner's only;
that box's token used for that one request, never stored)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from appliance.web.calibration import Refused
from appliance.web.changes import refused, unprocessable
from appliance.web.deps import Web
from appliance.web.models import HubApplied, HubApply, Refusal
from appliance.web.relay import RELAY_DEADLINE

__all__ = ["router"]

router = APIRouter(tags=["hub"])


@router.post(
    "/api/hub/calibration/apply",
    response_model=HubApplied,
    responses={
        401: {"model": Refusal, "description": "not the owner of this hub"},
        403: {"model": Refusal, "description": "the box refused its token, or has no owner token"},
        409: {
            "model": Refusal,
            "description": "not offered now, applied already, or refused by the box",
        },
        422: {"model": Refusal, "description": "not a valid request"},
        502: {"model": Refusal, "description": "the box is unreachable"},
    },
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": HubApply.model_json_schema()}}}
    },
    summary="Apply the calibration correction this hub offers for one box to that box's floor marks, with that "
    f"box's token (the owner's only; {RELAY_DEADLINE:g} s a request at most; the token never stored)",
)
async def apply_correction(web: Web, body: dict[str, Any] = Body(...)) -> Response:  # noqa: B008
    try:  # validated here, so a refusal names the fields without echoing what was sent (the token)
        order = HubApply.model_validate(body)
    except ValidationError as exc:
        return unprocessable(exc)
    try:
        applied = await web.calibrations.apply(order)
    except Refused as exc:
        return refused(exc.status, ["body", exc.field], exc.msg)
    return JSONResponse(applied.model_dump())
