"""The box's state: ``/api/status`` (typed: ``StatusDocument``), its last minutes
(``/api/status/history``, for the page's plots) and the doctor's ``/api/health``."""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter

from appliance.core.status import HealthDocument, StatusDocument, report
from appliance.web.deps import Owner, Web
from appliance.web.history import SAMPLE_SECONDS, SAMPLES
from appliance.web.models import StatusHistoryDocument
from appliance.web.routes.update import update_status

__all__ = ["router"]

router = APIRouter(tags=["status"])


@router.get(
    "/api/status",
    response_model=StatusDocument,
    summary="Backend, model, fps, latency, drops, per-target errors, safe mode",
)
async def status(web: Web) -> StatusDocument:
    doc = StatusDocument.of(web.control.status())
    update = await anyio.to_thread.run_sync(update_status, web.control.state_dir)
    if update is not None:  # the last update's outcome (an extra key: only on boxes that were updated)
        doc.update = update  # type: ignore[attr-defined]
    return doc


@router.get(
    "/api/health",
    response_model=HealthDocument,
    summary="The doctor's checks: camera, Edge TPU, runtime, models, power, clock, ... (paths need the owner)",
)
async def health(web: Web, owner: Owner) -> HealthDocument:
    doc = HealthDocument.model_validate(report(await anyio.to_thread.run_sync(web.control.health)))
    return doc if owner else doc.without_paths()


@router.get(
    "/api/status/history",
    response_model=StatusHistoryDocument,
    summary=f"The last {SAMPLES * SAMPLE_SECONDS / 60:g} minutes for the page's plots: a sample every "
    f"{SAMPLE_SECONDS:g} s",
)
async def history(web: Web) -> StatusHistoryDocument:
    return StatusHistoryDocument(every_s=SAMPLE_SECONDS, samples=list(web.history.samples))
