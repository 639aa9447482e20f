"""Acting on several boxes at once (the fleet page): this box relays one request to each chosen box.

Why a relay and not the page itself: a page may not send a JSON change to another origin without a
CORS preflight, which no box approves (that closed door is what keeps visitors' pages from changing
boxes), so the page asks its own box, which sends each request with ``appliance.web.fleet.request``.

Safe by construction:

* only the owner of this box may relay (it is a change: the security middleware);
* only to boxes this box lists as verified at that moment, at the address and port listed (never
  an address the page names freely: no request to elsewhere, no scanning through the box);
* the token given for each box goes in that one request's ``Authorization`` header and nowhere
  else: not stored, not logged, not in any answer or error;
* bounded: at most ``MAX_ENTRIES`` boxes per order, ``WORKERS`` at once, ``RELAY_DEADLINE`` seconds
  each, answers of at most ``MAX_BODY`` bytes read, messages cut to ``MESSAGE_MAX`` characters.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from appliance.discovery.peers import clean_text
from appliance.web.fleet import WORKERS, FetchError, Fleet, request
from appliance.web.models import FleetBox, FleetOrder, FleetResult

__all__ = ["MESSAGE_MAX", "RELAY_DEADLINE", "answer_line", "relay"]

#: Seconds one relayed request may take in all (a saved change answers in milliseconds).
RELAY_DEADLINE = 3.0
#: Characters of a box's answer passed on.
MESSAGE_MAX = 300
_PATHS = {"identify": ("POST", "/api/identify"), "config": ("PATCH", "/api/config")}


async def relay(fleet: Fleet, order: FleetOrder) -> list[FleetResult]:
    """Send ``order`` to each of its boxes that this box lists as verified; one result per box, in order."""
    listed = {(e["name"], e["address"], e["http_port"]) for e in await fleet.entries() if e.get("verified")}
    method, path = _PATHS[order.action]
    body = json.dumps(order.change).encode() if order.action == "config" else None
    gate = asyncio.Semaphore(WORKERS)

    async def one(box: FleetBox) -> FleetResult:
        if (box.name, box.address, box.http_port) not in listed:
            return _result(box, 0, "not a verified box of this fleet now: nothing sent")
        async with gate:
            try:
                async with asyncio.timeout(RELAY_DEADLINE):
                    code, answer = await request(box.address, box.http_port, method, path, body, box.token)
            except TimeoutError:
                return _result(box, 0, f"no answer within {RELAY_DEADLINE:g} s")
            except (FetchError, OSError) as exc:
                return _result(box, 0, f"no answer: {type(exc).__name__ if not str(exc) else exc}")
        return _result(box, code, answer_line(code, answer))

    return list(await asyncio.gather(*(one(b) for b in order.boxes)))


def _result(box: FleetBox, status: int, message: str) -> FleetResult:
    ok = 200 <= status < 300
    return FleetResult(
        name=box.name,
        address=box.address,
        http_port=box.http_port,
        status=status,
        ok=ok,
        message=clean_text(message, MESSAGE_MAX),
    )


def _reason(detail: dict[str, Any]) -> str:
    """``field: message`` of one refusal reason (its ``loc`` without the leading "body"/"header")."""
    loc = detail.get("loc")
    parts = [str(x) for x in loc if isinstance(x, str | int)] if isinstance(loc, list) else []
    where = ".".join(parts[1:] if len(parts) > 1 else parts)
    msg = detail.get("msg")
    return f"{where}: {msg}" if where else str(msg)


def answer_line(code: int, answer: bytes) -> str:
    """A line for people from a box's answer: its refusal's reasons, or what it did."""
    try:
        doc: Any = json.loads(answer)
    except (ValueError, RecursionError):
        doc = None
    if 200 <= code < 300:
        if code == 202:
            return "saved; a network change is on trial there: confirm it at its new address"
        seconds = doc.get("seconds") if isinstance(doc, dict) else None
        ok = isinstance(seconds, int | float) and not isinstance(seconds, bool)  # a hostile box sends anything
        return f"blinking for {seconds:g} s" if ok else "done"
    detail = doc.get("detail") if isinstance(doc, dict) else None
    if isinstance(detail, list):
        return f"HTTP {code}: " + "; ".join(_reason(d) for d in detail[:5] if isinstance(d, dict))
    return f"HTTP {code}"
