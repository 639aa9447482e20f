"""``/metrics``: the box's health for Prometheus (``appliance.web.metrics``).

Public by default, as ``/api/status`` is: health figures only (no picture, no poses, no addresses or
ids). With ``http.metrics_need_token`` only the owner may scrape: Prometheus sends the token as a
bearer token.
"""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter
from fastapi.responses import Response

from appliance.web.changes import refused
from appliance.web.deps import Owner, Web
from appliance.web.metrics import CONTENT_TYPE
from appliance.web.models import Refusal

__all__ = ["router"]

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}, "description": "Prometheus' text format (0.0.4), names posenet_*"},
        401: {"model": Refusal, "description": "http.metrics_need_token is on and this is not the owner"},
    },
    summary="The box's health for Prometheus: frames, fps, people, stage times, OSC, machine (public unless "
    "http.metrics_need_token)",
)
async def metrics(web: Web, owner: Owner) -> Response:
    if web.control.config.http.metrics_need_token and not owner:
        return refused(401, ["header", "authorization"], "the metrics of this box need its access token")
    body = web.metrics.cached() or await anyio.to_thread.run_sync(web.metrics.render)
    return Response(body, media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})
