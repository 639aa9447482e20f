"""``/api/targets``: the saved OSC targets; add one, the computer asking, or remove one by position."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from appliance.config.models import Format, PresetName, TargetConfig
from appliance.output.osc import DEFAULT_FORMAT, Coords
from appliance.output.osc.presets import PRESETS
from appliance.web.changes import REFUSALS, NotFound, apply, unprocessable
from appliance.web.deps import Web, client_of

__all__ = ["ThisComputer", "router"]

router = APIRouter(tags=["targets"])


class ThisComputer(BaseModel):
    """Add the requesting computer as a target (what is left out: the preset's, or the format's)."""

    model_config = ConfigDict(extra="forbid")
    port: int | None = Field(None, ge=1, le=65535, description="UDP port on this computer (default 9000).")
    format: Format | None = Field(None, description=f"OSC format (default {DEFAULT_FORMAT}).")
    coords: Coords | None = Field(None, description="Default: the format's own.")
    preset: PresetName | None = Field(None, description="A preset: format, coordinates and port.")


@router.get("/api/targets", response_model=list[TargetConfig], summary="OSC targets")
async def get_targets(web: Web) -> Response:
    return JSONResponse([t.model_dump(mode="json") for t in web.control.config.targets])


@router.post(
    "/api/targets", response_model=list[TargetConfig], status_code=201, responses=REFUSALS, summary="Add a target"
)
def add_target(web: Web, target: TargetConfig) -> Response:
    return _add(web, target)


def _add(web: Web, target: TargetConfig) -> Response:
    new = target.model_dump(mode="json")
    return apply(web.control, lambda current: {**current, "targets": [*current["targets"], new]}, 201, "targets")


@router.post(
    "/api/targets/this-computer",
    response_model=list[TargetConfig],
    status_code=201,
    responses=REFUSALS,
    summary="Send poses to the computer making this request",
)
def add_this_computer(request: Request, web: Web, body: ThisComputer) -> Response:
    given = {k: v for k, v in body.model_dump().items() if v is not None}
    preset = PRESETS.get(given.get("preset", ""))
    if preset is None or preset.port is None:
        given.setdefault("port", 9000)
    try:
        target = TargetConfig.model_validate({"host": client_of(request) or "127.0.0.1", **given})
    except ValidationError as exc:
        return unprocessable(exc)
    return _add(web, target)


@router.delete(
    "/api/targets/{index}",
    response_model=list[TargetConfig],
    responses=REFUSALS,
    summary="Remove a target by position",
)
def remove_target(web: Web, index: int) -> Response:
    def remove(current: dict[str, Any]) -> dict[str, Any]:
        if not 0 <= index < len(current["targets"]):
            raise NotFound(["path", "index"], "no target at this index")
        return {**current, "targets": [t for i, t in enumerate(current["targets"]) if i != index]}

    return apply(web.control, remove, 200, "targets")
