"""The HTTP API's routers, one module per area; ``ROUTERS`` is what ``appliance.web.server`` serves.

Adding an area is one module here declaring ``router = APIRouter(...)`` (routes ask for ``Web``
and ``Owner`` from ``appliance.web.deps``; typed responses from ``appliance.web.models``) and one
line below.
"""

from __future__ import annotations

from fastapi import APIRouter

from appliance.web.routes import (
    camera,
    choices,
    config,
    fleet,
    hub,
    identify,
    metrics,
    network,
    page,
    poses,
    recordings,
    status,
    targets,
    update,
)

__all__ = ["ROUTERS"]

ROUTERS: tuple[APIRouter, ...] = (
    config.router,
    network.router,
    targets.router,
    choices.router,
    status.router,
    poses.router,
    camera.router,
    fleet.router,
    hub.router,
    recordings.router,
    update.router,
    identify.router,
    metrics.router,
    page.router,
)
