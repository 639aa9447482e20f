"""Live poses: the newest frame's (``/api/poses/latest``) and a live stream (``/api/poses/stream``).

Public, as the poses the box broadcasts are, unless ``http.poses_need_token``: then only for the
owner (from the box itself, or with the access token). Keypoints are normalised 0..1 of the frame.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from appliance.output.posejson import poses_to_json
from appliance.web.changes import refused
from appliance.web.deps import Owner, Web, client_of
from appliance.web.limits import streaming
from appliance.web.models import PosesDocument, Refusal
from appliance.web.stream import END_OF_STREAM, MAX_STREAMS, MAX_STREAMS_PER_CLIENT, StreamListener

__all__ = ["STREAM_PING", "router"]

router = APIRouter(tags=["poses"])
#: Seconds between keep-alive comments on the pose stream.
STREAM_PING = 15.0
_PRIVATE: dict[int | str, dict[str, Any]] = {
    401: {"model": Refusal, "description": "http.poses_need_token is on and this is not the owner"}
}


def _not_yours(web: Web, owner: bool) -> Response | None:
    if owner or not web.control.config.http.poses_need_token:
        return None
    return refused(401, ["header", "authorization"], "the live poses of this box need its access token")


@router.get(
    "/api/poses/latest",
    response_model=PosesDocument,
    responses=_PRIVATE,
    summary="The newest frame's poses (x, y, score normalised 0..1)",
)
async def latest(web: Web, owner: Owner) -> Response:
    return _not_yours(web, owner) or JSONResponse(poses_to_json(web.control.latest()))


@router.get(
    "/api/poses/stream",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "one event per frame (a PosesDocument)"},
        **_PRIVATE,
    },
    summary=f"Live poses as server-sent events, one event per frame (at most {MAX_STREAMS} streams, "
    f"{MAX_STREAMS_PER_CLIENT} per computer: the oldest ends for a newcomer)",
)
async def stream(request: Request, web: Web, owner: Owner) -> Response:
    refusal = _not_yours(web, owner)
    if refusal is not None:
        return refusal
    listener = StreamListener(asyncio.get_running_loop())
    streaming(request.scope)  # the connection gives way to a newcomer when the server is full
    web.streams.opened(listener, client_of(request))
    unsubscribe = web.control.subscribe(listener)
    return StreamingResponse(
        _events(request, web, listener, unsubscribe),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store"},
    )


async def _events(
    request: Request, web: Web, listener: StreamListener, unsubscribe: Callable[[], None]
) -> AsyncIterator[bytes]:
    try:
        yield b"retry: 2000\n\n"
        while not await request.is_disconnected():
            try:
                poses = await asyncio.wait_for(listener.queue.get(), STREAM_PING)
            except TimeoutError:
                yield b": ping\n\n"
                continue
            if poses is END_OF_STREAM:
                return
            yield web.streams.event(poses)
    finally:
        unsubscribe()
        web.streams.closed(listener)
