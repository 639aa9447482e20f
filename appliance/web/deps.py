"""What the HTTP routers share: the ``Control`` facade and the server's per-connection state, handed to
each route by FastAPI's dependency injection, and who the requester is (owner or visitor).

A router module declares its routes on a module-level ``APIRouter`` and asks for ``Web`` (or
``Owner``) in its signature; ``appliance.web.server`` puts one ``WebState`` in ``app.state.web``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from appliance.core.facade import Control
from appliance.guards import Backoff, RateLimit, is_loopback, token_matches
from appliance.led import Identify
from appliance.web.calibration import Calibrations
from appliance.web.camera import CameraView
from appliance.web.fleet import Fleet
from appliance.web.history import StatusHistory
from appliance.web.metrics import Metrics
from appliance.web.stream import PoseStreams

__all__ = ["CAMERA_BURST", "CAMERA_RATE", "Owner", "Web", "WebState", "client_of", "is_owner"]

#: Camera pictures per second one client address may fetch (the page asks 4 a second), and the burst.
CAMERA_RATE, CAMERA_BURST = 5.0, 10.0


@dataclass
class WebState:
    """One HTTP server's shared state: the facade, the open live streams, the camera picture, the
    fleet, the hub's calibration applies, the Prometheus metrics, the activity LED (identify), the
    last minutes (the plots), and the per-client guards (all used on the event loop only)."""

    control: Control
    streams: PoseStreams
    camera: CameraView
    fleet: Fleet
    metrics: Metrics
    calibrations: Calibrations
    identify: Identify = field(default_factory=Identify)
    history: StatusHistory = field(default_factory=StatusHistory)
    camera_rate: RateLimit = field(default_factory=lambda: RateLimit(CAMERA_RATE, CAMERA_BURST))
    token_misses: Backoff = field(default_factory=Backoff)


def client_of(request: Request) -> str:
    """The requesting computer's address ("" when the server does not know it)."""
    return request.client.host if request.client else ""


def is_owner(client: str, authorization: str, token: str, misses: Backoff) -> bool:
    """The requester is the box's owner: on the box itself (loopback), or with ``Bearer <token>``.

    Wrong tokens back off per client address (``misses``): while blocked, even the right token is
    not checked, so guessing through a read (the camera picture, OSCQuery) is as slow as through a
    change."""
    if is_loopback(client):
        return True
    if not token or not authorization:
        return False
    now = time.monotonic()
    if misses.blocked(client, now):
        return False
    if token_matches(authorization, f"Bearer {token}"):
        misses.succeeded(client)
        return True
    misses.failed(client, now)
    return False


async def _web(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


Web = Annotated[WebState, Depends(_web)]


async def _owner(request: Request, web: Web) -> bool:
    decided = request.scope.get("state", {}).get("owner")
    if decided is not None:  # the security middleware decided already (with its back-off)
        return bool(decided)
    return is_owner(
        client_of(request), request.headers.get("authorization", ""), web.control.config.http.token, web.token_misses
    )


#: True when the request comes from the box's owner (``is_owner``).
Owner = Annotated[bool, Depends(_owner)]
