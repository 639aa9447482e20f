"""``/api/recordings``: record the box's poses, list, download and delete recordings (owner only:
a recording holds how people moved in front of the camera).

Starting and stopping are changes (the security middleware lets only the owner through); listing and
downloading are reads that this router keeps for the owner too.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from appliance.core.status import RecordingDocument, recording_document
from appliance.errors import ApplianceError, ConfigError
from appliance.schema import StrictModel
from appliance.web.changes import refused
from appliance.web.deps import Owner, Web
from appliance.web.models import Refusal

__all__ = ["router"]

router = APIRouter(tags=["recordings"])

_NOT_OWNER = "recordings are only for the box's owner: from the box itself, or with the access token"


class RecordingFile(BaseModel):
    """One recording in the folder."""

    name: str
    bytes: int
    modified: float = Field(description="Unix seconds")
    video: str = Field("", description="the video's name (download it the same way), '' without")


class RecordingList(BaseModel):
    """The recordings (newest first) and the recording in progress or the last one."""

    recordings: list[RecordingFile]
    recording: RecordingDocument | None


class StartRecording(StrictModel):
    """Start recording: the file's name (default: the date and time) and, optionally, a duration."""

    name: str | None = Field(None, max_length=64, description="NAME.jsonl: letters, digits, . _ -")
    seconds: float | None = Field(None, gt=0, le=86400, description="stop after this many seconds")
    video: bool = Field(False, description="also keep the camera frames (NAME.mp4 beside the recording)")


def _config_error(exc: ConfigError) -> JSONResponse:
    field, _, _ = str(exc).partition(":")
    return refused(400, ["body", field if field in ("name", "seconds") else "name"], str(exc), "value_error")


@router.get(
    "/api/recordings",
    response_model=RecordingList,
    responses={401: {"model": Refusal, "description": "not the owner"}},
    summary="The recordings, newest first, and the recording in progress",
)
async def list_recordings(web: Web, owner: Owner) -> Response:
    if not owner:
        return refused(401, ["header", "authorization"], _NOT_OWNER)
    desk = web.control.recordings
    files = await asyncio.to_thread(desk.list)
    doc = RecordingList(
        recordings=[RecordingFile(name=f.name, bytes=f.bytes, modified=f.modified, video=f.video) for f in files],
        recording=recording_document(desk.status()),
    )
    return JSONResponse(doc.model_dump(mode="json"))


@router.post(
    "/api/recordings",
    status_code=201,
    response_model=RecordingDocument,
    responses={
        400: {"model": Refusal, "description": "a bad name or duration"},
        409: {"model": Refusal, "description": "already recording, the file exists, or the disk is too full"},
    },
    summary="Start recording the poses (one recording at a time)",
)
async def start_recording(web: Web, owner: Owner, body: StartRecording) -> Response:
    if not owner:  # the middleware refuses visitors' changes already; this keeps the rule local too
        return refused(401, ["header", "authorization"], _NOT_OWNER)
    try:
        status = await asyncio.to_thread(web.control.recordings.start, body.name, body.seconds, video=body.video)
    except ConfigError as exc:
        return _config_error(exc)
    except ApplianceError as exc:
        return refused(409, ["recording"], str(exc), "conflict")
    doc = recording_document(status)
    return JSONResponse(doc.model_dump(mode="json") if doc else None, status_code=201)


@router.post(
    "/api/recordings/stop",
    response_model=RecordingDocument,
    responses={404: {"model": Refusal, "description": "nothing was being recorded"}},
    summary="Stop the recording in progress (the file is complete when this answers)",
)
async def stop_recording(web: Web, owner: Owner) -> Response:
    if not owner:
        return refused(401, ["header", "authorization"], _NOT_OWNER)
    desk = web.control.recordings
    current = desk.status()
    if current is None or current.state != "recording":
        return refused(404, ["recording"], "nothing is being recorded", "not_found")
    doc = recording_document(await asyncio.to_thread(desk.stop))
    return JSONResponse(doc.model_dump(mode="json") if doc else None)


@router.get(
    "/api/recordings/{name}",
    response_class=FileResponse,
    responses={
        200: {
            "content": {"application/x-ndjson": {}, "video/mp4": {}},
            "description": "the recording (JSON Lines), or its video (NAME.mp4)",
        },
        400: {"model": Refusal, "description": "not a recording name"},
        401: {"model": Refusal, "description": "not the owner"},
        404: {"model": Refusal, "description": "no such recording"},
    },
    summary="Download a recording, or its video",
)
async def download(name: str, web: Web, owner: Owner) -> Response:
    if not owner:
        return refused(401, ["header", "authorization"], _NOT_OWNER)
    try:
        path = await asyncio.to_thread(web.control.recordings.file, name)
    except ConfigError as exc:
        return refused(400, ["path", "name"], str(exc), "value_error")
    except FileNotFoundError:
        return refused(404, ["path", "name"], f"no recording {name[:80]!r}", "not_found")
    kind = "video/mp4" if path.suffix == ".mp4" else "application/x-ndjson"
    return FileResponse(path, media_type=kind, filename=path.name)


class Deleted(BaseModel):
    """The recording deleted."""

    deleted: str


@router.delete(
    "/api/recordings/{name}",
    response_model=Deleted,
    responses={
        400: {"model": Refusal, "description": "not a recording name"},
        404: {"model": Refusal, "description": "no such recording"},
        409: {"model": Refusal, "description": "it is being recorded"},
    },
    summary="Delete a recording (and its video)",
)
async def delete(name: str, web: Web, owner: Owner) -> Response:
    if not owner:
        return refused(401, ["header", "authorization"], _NOT_OWNER)
    try:
        await asyncio.to_thread(web.control.recordings.delete, name)
    except ConfigError as exc:
        return refused(400, ["path", "name"], str(exc), "value_error")
    except FileNotFoundError:
        return refused(404, ["path", "name"], f"no recording {name[:80]!r}", "not_found")
    except ApplianceError as exc:
        return refused(409, ["path", "name"], str(exc), "conflict")
    return JSONResponse({"deleted": name})
