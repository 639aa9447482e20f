"""The web page and its static files, served by the box itself (nothing from the internet), read
once from the package and answered from memory."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_STATIC = resources.files("appliance.web") / "static"
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css"}


@lru_cache(maxsize=32)  # bounded: names that are not files are asked for too
def _file(name: str) -> bytes | None:
    """A static file's bytes; None for anything but a file of a served type directly in ``static/``."""
    suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    if "/" in name or suffix not in _TYPES or not (_STATIC / name).is_file():
        return None
    return (_STATIC / name).read_bytes()


@router.get("/")
async def index() -> Response:
    return Response(_file("index.html"), media_type=_TYPES[".html"])


@router.get("/static/{name}")
async def static(name: str) -> Response:
    data = _file(name) if len(name) <= 64 else None
    if data is None:
        raise HTTPException(404, "not found")
    return Response(data, media_type=_TYPES["." + name.rsplit(".", 1)[-1]])
