"""The fleet: the other boxes this one sees on mDNS, with their state read from their own API.

Discovery knows each box's name, address, HTTP port and TXT record; their state, fps, people and
backend come from ``GET /api/status`` on each, asked by this box (a page cannot read another
origin), concurrently, with a short timeout, and remembered for ``CACHE_SECONDS`` so a room of
phones polling the page costs each box one request per few seconds.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from typing import Any

from appliance.core.facade import Control
from appliance.core.status import Peer

__all__ = ["CACHE_SECONDS", "Fleet"]

CACHE_SECONDS = 3.0
TIMEOUT = 1.5
MAX_PEERS = 64


class Fleet:
    """``GET /api/fleet``: a JSON list, one entry per other box (at least name, address, http_port)."""

    def __init__(self, control: Control) -> None:
        self.control = control
        self._cache: dict[tuple[str, int], tuple[float, dict[str, Any]]] = {}

    async def entries(self) -> list[dict[str, Any]]:
        peers = self.control.peers()[:MAX_PEERS]
        statuses = await asyncio.gather(*(self._status(p) for p in peers))
        out = []
        for peer, status in zip(peers, statuses, strict=True):
            pipeline = status.get("pipeline") or {}
            out.append(
                {
                    "name": peer.name,
                    "address": peer.address,
                    "http_port": peer.http_port,
                    "url": f"http://{peer.address}:{peer.http_port}/",
                    "version": peer.txt.get("version", ""),
                    "model": peer.txt.get("model", ""),
                    "backend": status.get("backend") or peer.txt.get("backend", ""),
                    "state": status.get("state", "unreachable" if "error" in status else "unknown"),
                    "fps": pipeline.get("fps"),
                    "people": pipeline.get("people"),
                    "error": status.get("error", ""),
                }
            )
        return sorted(out, key=lambda e: e["name"].lower())

    async def _status(self, peer: Peer) -> dict[str, Any]:
        key = (peer.address, peer.http_port)
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        try:
            status = await asyncio.to_thread(_get, f"http://{peer.address}:{peer.http_port}/api/status")
        except (OSError, ValueError) as exc:
            status = {"error": f"unreachable: {getattr(exc, 'reason', exc)}"}
        self._cache[key] = (now, status)
        if len(self._cache) > 4 * MAX_PEERS:
            self._cache.pop(next(iter(self._cache)))
        return status


def _get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=TIMEOUT) as r:
        data = json.loads(r.read(256 * 1024))
    if not isinstance(data, dict):
        raise ValueError("not a status document")
    return data
