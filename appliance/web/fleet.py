"""The fleet: the other boxes this one sees on mDNS, with their state read from their own API.

Discovery admits only peers on this box's own subnets (``appliance.discovery.peers``). Their state,
fps, people and backend come from ``GET /api/status`` on each, asked by this box (a page cannot read
another origin), trusting nothing that comes back:

* one pure-asyncio HTTP/1.1 GET per peer (no thread, no executor): connected within
  ``CONNECT_TIMEOUT`` and answered, headers and whole body, within ``DEADLINE`` seconds; at most
  ``MAX_HEAD`` bytes of headers and ``MAX_BODY`` of body; no redirect is followed (a 3xx is an
  error); only a 200 with JSON counts;
* at most ``WORKERS`` fetches at once, one per (address, port); the workers run only while someone
  looked at the fleet in the last ``IDLE`` seconds;
* answers are kept ``CACHE_SECONDS``; failures back off (``RETRY_FIRST`` seconds, doubling up to
  ``RETRY_LONGEST``);
* every field used is type-checked and cut to size: a wrong type is unknown, never an error;
* peers that answered like a box (a status document of the right shape, its ``instance`` the name
  they are advertised under) are listed first, so fake records cannot push a real box out of the
  ``MAX_ENTRIES`` listed.

``entries()`` waits at most ``WAIT`` seconds; ``close()`` cancels every fetch at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import ipaddress
import json
import logging
import math
import os
import re
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

from appliance import __version__
from appliance.core.facade import Reading
from appliance.core.status import Peer
from appliance.discovery.peers import NAME_MAX, clean_text
from appliance.log import LogOnce
from appliance.sysinfo import THROTTLE_BITS

__all__ = [
    "CACHE_SECONDS",
    "DEADLINE",
    "MAX_BODY",
    "MAX_ENTRIES",
    "FetchError",
    "Fleet",
    "PeerStatus",
    "get_json",
    "read_status",
    "request",
]

logger = logging.getLogger(__name__)

#: Seconds an answer is reused (a room of phones polling the page costs each box one request per few seconds).
CACHE_SECONDS = 3.0
#: Seconds one fetch may take in all: connect, request, headers and the whole body.
DEADLINE = 1.5
#: Seconds the TCP connection may take (a peer on the same subnet connects in milliseconds).
CONNECT_TIMEOUT = 0.5
#: Bytes of headers read at most.
MAX_HEAD = 8 * 1024
#: Bytes of body read at most (a box's status is about 2 KB).
MAX_BODY = 64 * 1024
#: Fetches at once.
WORKERS = 8
#: Seconds before the first retry of a peer that failed; doubles per failure up to ``RETRY_LONGEST``.
RETRY_FIRST = 5.0
RETRY_LONGEST = 300.0
#: Seconds a peer that answered like a box stays listed among the boxes while it fails.
BOX_MEMORY = 300.0
#: Entries ``/api/fleet`` lists at most (boxes first).
MAX_ENTRIES = 64
#: Seconds ``entries()`` waits for the fetches it needs.
WAIT = DEADLINE + 0.1
#: Seconds after the last look at the fleet that the workers keep fetching.
IDLE = 30.0
#: Peers (address, port) remembered at most.
MAX_KNOWN = 2048

_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([1-5][0-9][0-9])(?: [^\r\n]*)?")
Key = tuple[str, int]


class FetchError(Exception):
    """Why a peer gave no JSON document (no connection, not HTTP, too large ...): one line."""


async def get_json(address: str, port: int, path: str = "/api/status") -> Any:
    """``GET http://address:port/path`` (HTTP/1.1, ``address`` an IP literal): the JSON it answers.

    Bounded in size (``MAX_HEAD``, ``MAX_BODY``) and connection time (``CONNECT_TIMEOUT``); the
    caller bounds the whole (``asyncio.timeout``). Redirects are errors, never followed.

    Raises:
        FetchError: not a 200 with a JSON body of bounded size.
        OSError: no connection (refused, unreachable).
    """
    code, body = await request(address, port, "GET", path)
    if code != 200:
        raise FetchError(f"HTTP {code}")
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise FetchError("not JSON") from None


async def request(
    address: str, port: int, method: str, path: str, body: bytes | None = None, token: str = ""
) -> tuple[int, bytes]:
    """One HTTP/1.1 request to ``address`` (an IP literal): (status code, body), bounded as
    ``get_json``; ``body`` is sent as JSON, ``token`` as ``Authorization: Bearer`` (never kept,
    never in an error). Redirects are errors, never followed.

    Raises:
        FetchError: no HTTP answer of bounded size, or a redirect.
        OSError: no connection (refused, unreachable).
    """
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT):
            reader, writer = await asyncio.open_connection(address, port, limit=MAX_HEAD)
    except TimeoutError:
        raise FetchError(f"no connection within {CONNECT_TIMEOUT:g} s") from None
    head = f"{method} {path} HTTP/1.1\r\nHost: {address}:{port}\r\nAccept: application/json\r\n"
    head += f"User-Agent: posenet-appliance/{__version__} (fleet)\r\nConnection: close\r\n"
    head += f"Authorization: Bearer {token}\r\n" if token else ""
    head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n" if body is not None else ""
    try:
        writer.write(head.encode("latin-1") + b"\r\n" + (body or b""))
        code, headers = _parse_head(await _read_line(reader, b"\r\n\r\n", "headers"))
        if 300 <= code < 400:
            raise FetchError(f"redirect ({code}) not followed")
        return code, await _read_body(reader, headers)
    finally:
        writer.transport.abort()


async def _read_line(reader: asyncio.StreamReader, end: bytes, what: str) -> bytes:
    try:
        return await reader.readuntil(end)
    except asyncio.LimitOverrunError:
        raise FetchError(f"{what} over {MAX_HEAD // 1024} KiB") from None
    except asyncio.IncompleteReadError:
        raise FetchError(f"closed within the {what}") from None


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """The status code and headers (lower-case names) of a response head."""
    lines = head.split(b"\r\n")
    m = _STATUS_LINE.fullmatch(lines[0])
    if m is None:
        raise FetchError("not an HTTP/1.x answer")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(b":")
        if not sep:
            raise FetchError("malformed header")
        key, text = name.strip().lower().decode("latin-1"), value.strip().decode("latin-1")
        if key in headers and headers[key] != text:
            raise FetchError(f"conflicting {key} headers")
        headers[key] = text
    return int(m.group(1)), headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    """The body: chunked, of Content-Length, or up to the end; at most ``MAX_BODY`` bytes."""
    too_large = FetchError(f"body over {MAX_BODY // 1024} KiB")
    encoding = headers.get("transfer-encoding", "").lower()
    try:
        if encoding == "chunked":
            body = b""
            while True:
                line = await _read_line(reader, b"\r\n", "chunk size")
                size_text = line.split(b";")[0].strip()
                if not re.fullmatch(rb"[0-9a-fA-F]{1,8}", size_text):
                    raise FetchError("malformed chunk size")
                size = int(size_text, 16)
                if len(body) + size > MAX_BODY:
                    raise too_large
                if size == 0:
                    return body  # trailers, if any, are not read: the connection is closed after
                body += await reader.readexactly(size)
                if await reader.readexactly(2) != b"\r\n":
                    raise FetchError("malformed chunk")
        if encoding:
            raise FetchError(f"transfer-encoding {encoding[:20]!r} not supported")
        if "content-length" in headers:
            length = headers["content-length"]
            if not length.isdigit() or len(length) > 12:
                raise FetchError("malformed content-length")
            if int(length) > MAX_BODY:
                raise too_large
            return await reader.readexactly(int(length))
        body = b""
        while chunk := await reader.read(MAX_BODY + 1 - len(body)):
            body += chunk
            if len(body) > MAX_BODY:
                raise too_large
        return body
    except asyncio.IncompleteReadError:
        raise FetchError("closed within the body") from None


@dataclass(frozen=True, slots=True)
class PeerStatus:
    """A peer's ``/api/status``, checked: ``box`` when it has the shape of a box's status (``state``,
    ``version``, ``backend`` strings, ``uptime_s`` a number); strings cut to size; ``fps``,
    ``people`` and ``temperature_c`` None unless numbers in range; throttling only known condition
    names; ``clock_synchronised`` None unless a boolean."""

    box: bool
    instance: str = ""
    state: str = ""
    version: str = ""
    backend: str = ""
    fps: float | None = None
    people: int | None = None
    temperature_c: float | None = None
    throttling_now: tuple[str, ...] | None = None
    throttling_since_boot: tuple[str, ...] | None = None
    clock_synchronised: bool | None = None


def _conditions(value: Any) -> tuple[str, ...] | None:
    """Throttling conditions: only the names this version knows, each once; None unless a list."""
    if not isinstance(value, list):
        return None
    return tuple(name for name in THROTTLE_BITS if name in value[: len(THROTTLE_BITS) * 4])


def _machine(doc: dict[str, Any]) -> dict[str, Any]:
    """The machine facts of a peer's status: temperature, throttling, clock (each None when wrong)."""
    t = doc.get("temperature_c")
    temperature = (
        round(float(t), 1) if isinstance(t, int | float) and not isinstance(t, bool) and -60 <= t <= 200 else None
    )
    throttling = doc.get("throttling")
    throttling = throttling if isinstance(throttling, dict) else {}
    clock = doc.get("clock")
    synced = clock.get("synchronised") if isinstance(clock, dict) else None
    return {
        "temperature_c": temperature,
        "throttling_now": _conditions(throttling.get("now")),
        "throttling_since_boot": _conditions(throttling.get("since_boot")),
        "clock_synchronised": synced if isinstance(synced, bool) else None,
    }


def _text(value: Any, limit: int) -> str:
    return clean_text(value, limit) if isinstance(value, str) else ""


def _number(value: Any, top: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return round(float(value), 2) if 0 <= value <= top else None


def read_status(doc: Any) -> PeerStatus:
    """What a peer's JSON answer says, every field type-checked and cut to size (a wrong type is
    unknown: empty or None); never raises."""
    if not isinstance(doc, dict):
        return PeerStatus(box=False)
    pipeline = doc.get("pipeline")
    pipeline = pipeline if isinstance(pipeline, dict) else {}
    people = pipeline.get("people")
    box = (
        all(isinstance(doc.get(k), str) for k in ("state", "version", "backend"))
        and bool(doc["state"])
        and _number(doc.get("uptime_s"), math.inf) is not None
    )
    return PeerStatus(
        box=box,
        instance=_text(doc.get("instance"), NAME_MAX),
        state=_text(doc.get("state"), 40),
        version=_text(doc.get("version"), 40),
        backend=_text(doc.get("backend"), 120),
        fps=_number(pipeline.get("fps"), 1000.0),
        people=people if isinstance(people, int) and not isinstance(people, bool) and 0 <= people <= 1000 else None,
        **_machine(doc),
    )


def _askable(peer: Peer) -> bool:
    """A second check of discovery's: an IPv4 host address, never loopback, link-local or multicast."""
    return _host_address(peer.address) and 1 <= peer.http_port <= 65535


@functools.lru_cache(maxsize=4096)
def _host_address(address: str) -> bool:
    try:
        ip = ipaddress.IPv4Address(address)
    except ValueError:
        return False
    return not (ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip.is_reserved)


@dataclass(slots=True)
class _Known:
    """What this box knows of one peer (address, port)."""

    status: PeerStatus | None = None  # the last answer that was a box's status
    error: str = ""  # why the last attempt failed ("" after a box's answer)
    reached: bool = False  # the last attempt got an answer (a failure then means: not a box)
    checked: float = -math.inf  # when the last attempt ended
    failures: int = 0  # attempts failed in a row
    retry_at: float = 0.0  # no new attempt before
    box_at: float = -math.inf  # when it last answered like a box


class Fleet:
    """``GET /api/fleet``: a JSON list, at most ``MAX_ENTRIES``, one entry per other box (name,
    address, http_port, url, version, model, backend, state, fps, people, temperature_c, throttling_now,
    throttling_since_boot, clock_synchronised, error, verified), the
    boxes that answered like one first."""

    def __init__(self, control: Reading) -> None:
        self.control = control
        self._known: OrderedDict[Key, _Known] = OrderedDict()
        self._todo: deque[Key] = deque()
        self._busy: set[Key] = set()
        self._workers: set[asyncio.Task[None]] = set()
        self._done: asyncio.Condition | None = None
        self._looked = -math.inf
        self._closed = False
        self._log = LogOnce(logger, max_keys=16)

    async def entries(self) -> list[dict[str, Any]]:
        """The fleet now; waits at most ``WAIT`` seconds for the fetches of peers never asked and
        of boxes due again, and not at all once discovery lists no peer (closed, at shutdown)."""
        now = time.monotonic()
        if not self._closed:
            self._looked = now
            urgent = self._plan([p for p in self.control.peers() if _askable(p)], now)
            done = self._condition()
            async with done:
                while not all(self._checked_since(k, now) for k in urgent):
                    left = now + WAIT - time.monotonic()
                    if left <= 0:
                        break
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(done.wait(), min(left, 0.1))
                    if self._closed or not self.control.peers():  # closed, or discovery closed
                        self._stop_workers()
                        break
        return self._list([p for p in self.control.peers() if _askable(p)], time.monotonic())

    async def close(self) -> None:
        """Cancel every fetch at once; later calls fetch nothing. Idempotent."""
        self._closed = True
        await asyncio.gather(*self._stop_workers(), return_exceptions=True)

    def _stop_workers(self) -> list[asyncio.Task[None]]:
        """Cancel every fetch under way (the workers close their sockets); returns the workers."""
        self._todo.clear()
        workers = list(self._workers)
        for task in workers:
            task.cancel()
        return workers

    # -- planning ---------------------------------------------------------------------------------
    def _condition(self) -> asyncio.Condition:
        if self._done is None:
            self._done = asyncio.Condition()
        return self._done

    def _checked_since(self, key: Key, since: float) -> bool:
        known = self._known.get(key)
        return known is not None and known.checked >= since

    def _due(self, key: Key, now: float) -> int:
        """0: not due; 1: a box to ask again; 2: never asked; 3: failed, and its back-off is over."""
        known = self._known.get(key)
        if known is None:
            return 2
        if not known.error:
            return 1 if now - known.checked >= CACHE_SECONDS else 0
        return 3 if now >= known.retry_at else 0

    def _plan(self, peers: list[Peer], now: float) -> set[Key]:
        """Queue the peers due for a fetch (boxes first, then never asked, then failed ones, oldest
        first); start workers; returns the keys worth waiting for (boxes and never asked)."""
        due: list[tuple[int, float, Key]] = []
        for key in dict.fromkeys((p.address, p.http_port) for p in peers):
            if rank := self._due(key, now):
                known = self._known.get(key)
                due.append((rank, known.checked if known is not None else 0.0, key))
        due.sort()
        self._todo = deque(key for *_, key in due)
        while len(self._workers) < min(WORKERS, len(self._todo)):
            task = asyncio.get_running_loop().create_task(self._work())
            self._workers.add(task)
            task.add_done_callback(self._workers.discard)
        return {key for rank, _, key in due if rank < 3}

    async def _work(self) -> None:
        while self._todo and not self._closed and time.monotonic() - self._looked < IDLE:
            key = self._todo.popleft()
            if key in self._busy or not self._due(key, time.monotonic()):
                continue  # being asked, or asked since it was queued
            self._busy.add(key)
            try:
                await self._check(key)
            finally:
                self._busy.discard(key)
                done = self._condition()
                async with done:
                    done.notify_all()

    async def _check(self, key: Key) -> None:
        """Ask one peer, remember the answer or why there was none."""
        status, error, reached = None, "", True
        try:
            async with asyncio.timeout(DEADLINE):
                status = read_status(await get_json(*key))
            if not status.box:
                error, status = "not a box's status", None
        except TimeoutError:
            error, reached = f"no whole answer within {DEADLINE:g} s", False
        except FetchError as exc:
            error, reached = str(exc), not str(exc).startswith("no connection")
        except OSError as exc:
            error, reached = (os.strerror(exc.errno) if exc.errno else type(exc).__name__), False
        except Exception as exc:  # a peer must never take the fleet down; say so once
            self._log.warning(type(exc).__name__, "fleet: unexpected error asking %s:%d: %r", *key, exc)
            error = "unreadable answer"
        self._remember(key, status, error[:80], reached)

    def _remember(self, key: Key, status: PeerStatus | None, error: str, reached: bool) -> None:
        now = time.monotonic()
        known = self._known.pop(key, None) or _Known()
        known.checked, known.error, known.reached = now, error, reached
        if error:
            known.failures += 1
            known.retry_at = now + min(RETRY_FIRST * 2 ** min(known.failures - 1, 16), RETRY_LONGEST)
        else:
            known.status, known.failures, known.box_at = status, 0, now
        self._known[key] = known
        while len(self._known) > MAX_KNOWN:
            self._known.popitem(last=False)

    # -- the list ---------------------------------------------------------------------------------
    def _list(self, peers: list[Peer], now: float) -> list[dict[str, Any]]:
        """At most ``MAX_ENTRIES`` entries: the boxes first, then by name."""
        ranked = (
            (not self._verified(peer, known, now), peer.name.lower(), peer.address, peer.http_port, peer, known)
            for peer in peers
            for known in [self._known.get((peer.address, peer.http_port))]
        )
        return [self._entry(r[4], r[5], now) for r in heapq.nsmallest(MAX_ENTRIES, ranked, key=lambda r: r[:4])]

    @staticmethod
    def _verified(peer: Peer, known: _Known | None, now: float) -> bool:
        """``peer`` answered like a box lately, under its own name."""
        if known is None or known.status is None or now - known.box_at >= BOX_MEMORY:
            return False
        return not known.status.instance or known.status.instance == peer.name

    def _entry(self, peer: Peer, known: _Known | None, now: float) -> dict[str, Any]:
        verified = self._verified(peer, known, now)
        state, error, fresh = "checking", "", None
        if known is not None:
            error = known.error
            state = "unreachable" if error and not known.reached else "unknown"
            if verified and not error:
                fresh = known.status
                state = fresh.state if fresh is not None else state
            elif not error and known.status is not None and known.status.instance not in ("", peer.name):
                error = f"answers as another box ({known.status.instance[:40]})"
        return {
            "name": peer.name,
            "address": peer.address,
            "http_port": peer.http_port,
            "url": f"http://{peer.address}:{peer.http_port}/",
            "version": (fresh.version if fresh else "") or clean_text(peer.txt.get("version", ""), 40),
            "model": clean_text(peer.txt.get("model", ""), 120),
            "backend": (fresh.backend if fresh else "") or clean_text(peer.txt.get("backend", ""), 120),
            "state": state,
            "fps": fresh.fps if fresh else None,
            "people": fresh.people if fresh else None,
            "temperature_c": fresh.temperature_c if fresh else None,
            "throttling_now": list(fresh.throttling_now) if fresh and fresh.throttling_now is not None else None,
            "throttling_since_boot": (
                list(fresh.throttling_since_boot) if fresh and fresh.throttling_since_boot is not None else None
            ),
            "clock_synchronised": fresh.clock_synchronised if fresh else None,
            "error": error,
            "verified": verified,
        }
