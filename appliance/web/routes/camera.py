"""``/api/camera.jpg``: the newest camera frame, for the box's owner only, when the owner turned it on."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import Response

from appliance.web.changes import refused
from appliance.web.deps import CAMERA_RATE, Owner, Web, client_of
from appliance.web.models import Refusal

__all__ = ["router"]

router = APIRouter(tags=["camera"])


@router.get(
    "/api/camera.jpg",
    summary="The newest camera frame as JPEG (at most 640 px wide): only with http.camera_view on, only for "
    "the owner (from the box itself, or with the access token)",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}}, "description": "the picture; X-Frame-Index, X-Frame-Size (source px)"},
        401: {"model": Refusal, "description": "not the owner"},
        404: {"model": Refusal, "description": "the camera view is off, or no frame yet"},
        429: {"model": Refusal, "description": f"more than {CAMERA_RATE:g} pictures a second: see Retry-After"},
    },
)
async def camera_jpg(request: Request, web: Web, owner: Owner) -> Response:
    if not web.camera_rate.allow(client_of(request), time.monotonic()):
        msg = f"at most {CAMERA_RATE:g} pictures a second per computer"
        return refused(429, ["client"], msg, "rate_limited", **{"Retry-After": "1"})
    if not web.control.config.http.camera_view:
        return refused(404, ["config", "http", "camera_view"], "the camera view is off on this box")
    if not owner:
        msg = "the camera picture is only for the box's owner: from the box itself, or with the access token"
        return refused(401, ["header", "authorization"], msg)
    picture = await web.camera.jpeg()
    if picture is None:
        return refused(404, ["pipeline"], "no frame yet (the camera or the pipeline is not running)")
    w, h = picture.size
    headers = {"Cache-Control": "no-store", "X-Frame-Index": str(picture.index), "X-Frame-Size": f"{w}x{h}"}
    return Response(picture.jpeg, media_type="image/jpeg", headers=headers)
