"""What the settings can name: presets, OSC formats, sources and installed models."""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter

from appliance.output.osc import FORMATS
from appliance.output.osc.presets import PRESETS
from appliance.web.deps import Web
from appliance.web.models import Choices, FormatInfo, PresetInfo

__all__ = ["router"]

router = APIRouter(tags=["choices"])


@router.get("/api/presets", summary="Presets: format, coordinates and port of receivers people already run")
async def presets() -> dict[str, PresetInfo]:
    return {
        name: PresetInfo(format=p.format, coords=p.coords, port=p.port, description=p.description)
        for name, p in PRESETS.items()
    }


@router.get("/api/formats", summary="OSC formats: description and default coordinates")
async def formats() -> dict[str, FormatInfo]:
    return {name: FormatInfo(description=f.description, coords=f.default_coords) for name, f in FORMATS.items()}


@router.get("/api/choices", summary="Sources (cameras found, media files) and installed models to choose from")
async def choices(web: Web) -> Choices:
    return Choices.model_validate(await anyio.to_thread.run_sync(web.control.choices))
