"""``POST /api/update``: the owner uploads a signed update file; the box checks it and hands it to
``posenet-update.service`` (the service itself runs unprivileged and cannot install).

The body (``application/octet-stream``, a ``Content-Length`` is required) streams to a temporary
file in the state directory, bounded: at most ``MAX_UPDATE_BYTES``, only if that much disk is free
(plus ``RESERVE_BYTES``), each piece within ``CHUNK_SECONDS`` and the whole within
``UPLOAD_SECONDS``, one upload at a time. The file is then verified (signature, every hash, machine,
Python, newer version unless ``?force=true``) before anything changes; only then it becomes
``<state>/update/pending.update`` and the answer is ``202`` with the ``update`` status. Any refusal
is one line and leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path
from typing import IO, Any

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from appliance import __version__
from appliance.update.bundle import UpdateRefused, load_public_key, verify
from appliance.update.command import PENDING
from appliance.update.install import check_fits
from appliance.update.layout import Layout, install_prefix, read_json, report, write_json
from appliance.web.changes import refused
from appliance.web.deps import Owner, Web
from appliance.web.models import Refusal

__all__ = ["CHUNK_SECONDS", "MAX_UPDATE_BYTES", "RESERVE_BYTES", "UPLOAD_SECONDS", "router", "update_status"]

router = APIRouter(tags=["update"])

#: The largest update file accepted (a full x86_64 update is 114 MB: README "Updating a box").
MAX_UPDATE_BYTES = 200 * 2**20
#: Free bytes the state directory's file system must keep beyond the upload.
RESERVE_BYTES = 64 * 2**20
#: Seconds the whole upload may take (200 MB at 0.5 MB/s over a weak Wi-Fi), and each piece of it.
UPLOAD_SECONDS = 600.0
CHUNK_SECONDS = 30.0
_busy = asyncio.Lock()


class UpdateState(BaseModel):
    """An update's progress: "pending" (uploaded, verified), "installing", "trial", "ok",
    "rolled-back", "refused" or "interrupted"; also ``update`` in ``/api/status``."""

    state: str
    version: str | None = Field(None, description="the version concerned (the one running after a rollback)")
    tried: str | None = Field(None, description="after a rollback: the version that was tried")
    message: str = Field("", description="what happened, in one line")
    timings: dict[str, float] | None = Field(None, description="verify_s, install_s, switch_s, health_s, rollback_s")
    at: str | None = Field(None, description="when (UTC)")


class UpdateAccepted(BaseModel):
    """``202``: the file is verified and waits for the installer."""

    update: UpdateState


def _layout(state_dir: Path) -> Layout:
    return Layout(install_prefix(), state_dir)


def update_status(state_dir: Path) -> dict[str, Any] | None:
    """The last update's outcome for ``/api/status`` (None when the box was never updated)."""
    layout = _layout(state_dir)
    doc = read_json(layout.status)
    if (state_dir / PENDING).exists() and (doc is None or doc.get("state") != "pending"):
        doc = {"state": "pending", "message": "an uploaded update waits to be installed"}
    return doc


@router.post(
    "/api/update",
    status_code=202,
    response_model=UpdateAccepted,
    responses={
        400: {"model": Refusal, "description": "the upload ended early"},
        403: {"model": Refusal, "description": "not the box's owner"},
        408: {"model": Refusal, "description": "the upload stalled or took too long"},
        409: {"model": Refusal, "description": "another update is being uploaded or installed"},
        411: {"model": Refusal},
        413: {"model": Refusal},
        422: {"model": Refusal, "description": "not an update this box may install (the reason)"},
        507: {"model": Refusal},
    },
    summary="Upload a signed update file (application/octet-stream; owner only); installed beside, kept if healthy",
)
async def upload(request: Request, web: Web, owner: Owner, force: bool = False) -> Response:
    if not owner:
        return refused(403, ["update"], "only the box's owner may update it", "forbidden")
    length = request.headers.get("content-length", "")
    if not length.isdigit():
        return refused(411, ["header", "content-length"], "an update upload needs a Content-Length")
    size = int(length)
    if size > MAX_UPDATE_BYTES:
        return refused(413, ["body"], f"an update file is at most {MAX_UPDATE_BYTES >> 20} MiB")
    state = web.control.state_dir
    work = state / "update"
    await anyio.to_thread.run_sync(lambda: work.mkdir(parents=True, exist_ok=True))
    free = await anyio.to_thread.run_sync(_free, work)
    if free < size + RESERVE_BYTES:
        return refused(507, ["body"], f"too little free disk for the update ({free >> 20} MiB free)", "no_space")
    if _busy.locked() or (state / PENDING).exists():
        return refused(409, ["update"], "another update is being uploaded or installed", "busy")
    async with _busy:
        part = work / "upload.part"
        try:
            problem = await _receive(request, part, size)
            if problem is not None:
                return refused(problem[0], ["body"], problem[1])
            manifest = await anyio.to_thread.run_sync(_check, part, _layout(state), force)
        except UpdateRefused as exc:
            return refused(422, ["update"], str(exc), "refused")
        finally:
            if not (state / PENDING).exists():
                await anyio.to_thread.run_sync(lambda: part.unlink(missing_ok=True))
    doc = {
        "state": "pending",
        "version": manifest,
        "message": f"{manifest} verified: installing it beside {__version__}",
    }
    await anyio.to_thread.run_sync(report, _layout(state), doc)
    return JSONResponse({"update": doc}, status_code=202)


def _free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


async def _receive(request: Request, part: Path, size: int) -> tuple[int, str] | None:
    """Stream the body to ``part`` within the bounds; (status, why) when it broke one."""
    deadline = time.monotonic() + UPLOAD_SECONDS
    got = 0
    f: IO[bytes] = await anyio.to_thread.run_sync(lambda: part.open("wb"))
    try:
        stream = request.stream().__aiter__()
        buffer = bytearray()
        while True:
            wait = min(CHUNK_SECONDS, deadline - time.monotonic())
            if wait <= 0:
                return 408, f"the upload took longer than {UPLOAD_SECONDS:.0f} s"
            try:
                chunk = await asyncio.wait_for(stream.__anext__(), wait)
            except StopAsyncIteration:
                break
            except TimeoutError:
                return 408, f"no data for {wait:.0f} s: upload abandoned"
            got += len(chunk)
            if got > size:
                return 413, "the body is longer than its Content-Length"
            buffer += chunk
            if len(buffer) >= 1 << 20:
                await anyio.to_thread.run_sync(f.write, bytes(buffer))
                buffer.clear()
        await anyio.to_thread.run_sync(f.write, bytes(buffer))
    finally:
        with contextlib.suppress(OSError):
            await anyio.to_thread.run_sync(f.close)
    if got < size:
        return 400, f"the upload ended after {got} of {size} bytes"
    return None


def _check(part: Path, layout: Layout, force: bool) -> str:
    """Verify the uploaded file, then make it the pending update; returns its version."""
    manifest = verify(part, load_public_key(layout.prefix / "update-key.pub"))
    running = layout.current()
    running = __version__ if running in ("", "legacy") else running
    check_fits(manifest, running=running, force=force)
    if manifest.version == running:
        raise UpdateRefused(f"version {manifest.version} is the one running")
    pending = layout.state_dir / PENDING
    write_json(pending.with_suffix(".json"), {"force": force})
    part.replace(pending)  # the path unit starts posenet-update.service
    return manifest.version
