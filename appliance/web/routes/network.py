"""``/api/network``: keep or undo a change of the network settings on trial (see
``appliance.core.app.Application.update``: a new port, bind address or discovery setting is served on
trial and kept only when the owner confirms it from the new address)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from appliance.errors import RefusedChange
from appliance.web.changes import refused
from appliance.web.deps import Web
from appliance.web.models import Refusal

__all__ = ["router"]

router = APIRouter(tags=["network"])


class TrialChanges(BaseModel):
    """The network settings kept (``kept``) or undone (``undone``), by dotted name."""

    kept: dict[str, Any] | None = Field(None, description="the settings now saved")
    undone: dict[str, Any] | None = Field(None, description="the settings given up")


@router.post(
    "/api/network/confirm",
    response_model=TrialChanges,
    response_model_exclude_none=True,
    responses={409: {"model": Refusal, "description": "nothing on trial, or not from the new address"}},
    summary="Keep the network settings on trial (through the new HTTP address when that changed)",
)
async def confirm(request: Request, web: Web) -> Response:
    host, port = request.scope.get("server") or ("", 0)
    try:
        trial = await asyncio.to_thread(web.control.confirm_network, host, port)
    except RefusedChange as exc:
        return refused(409, ["network", *exc.loc], exc.msg)
    return JSONResponse({"kept": trial.changes})


@router.delete(
    "/api/network/trial",
    response_model=TrialChanges,
    response_model_exclude_none=True,
    responses={404: {"model": Refusal, "description": "nothing on trial"}},
    summary="Undo the network settings on trial now",
)
def undo(web: Web) -> Response:
    trial = web.control.trial
    if trial is None or not web.control.revert_network(trial, "undone by the owner"):
        return refused(404, ["network"], "no change of the network settings is on trial", "not_found")
    return JSONResponse({"undone": trial.changes})
