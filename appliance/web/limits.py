"""Bounded connections for the HTTP and OSCQuery servers (uvicorn's h11 protocol, guarded).

A visitor on the venue network can open connections and send nothing. Unbounded, a thousand of them
exhaust the process's file descriptors and take the page, the API and configuration saves down.
``ConnectionGuard`` keeps one server's connections bounded:

* a connection that has not sent a complete request header within ``header_seconds`` (after it
  opened, or after its last response) is closed;
* a connection whose client does not read what it asked for (its writes paused for
  ``header_seconds``: a live stream nobody reads) is aborted;
* at ``max_connections``, the connection idle longest (no request in flight) is closed to make room
  for the newcomer, else the one stalled longest (writes paused), else the oldest live stream
  (marked by its route with ``streaming``), so neither idle holders, nor clients that stop reading,
  nor streams can lock people out; only if every connection is busy with an ordinary request is the
  newcomer answered 503 and closed at once;
* uvicorn's keep-alive timeout still closes idle keep-alive connections.

Long-lived requests have their own bounds, well inside ``max_connections`` so the rest always serve
ordinary requests: live streams (``appliance.web.stream``) and OSCQuery's LISTEN sockets
(``appliance.web.oscquery.listen``; a WebSocket leaves this guard when it upgrades, and its messages
are at most ``WS_MAX_SIZE`` bytes).

``AcceptErrorLog`` logs the event loop's "out of file descriptors" accept errors once per episode
instead of once a second per socket.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Any, cast

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = [
    "HEADER_SECONDS",
    "MAX_CONNECTIONS",
    "WS_MAX_SIZE",
    "AcceptErrorLog",
    "ConnectionGuard",
    "guarded_protocol",
    "streaming",
]

logger = logging.getLogger(__name__)

#: Connections per server (each open page holds one for its live stream).
MAX_CONNECTIONS = 128
#: Seconds to send a complete request header.
HEADER_SECONDS = 10.0
#: Largest WebSocket message, in bytes (uvicorn's ``ws_max_size``; a LISTEN command is under 200).
WS_MAX_SIZE = 4096
_BUSY = b"too many connections, try again soon"
_503 = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\nconnection: close\r\n"
    b"content-length: %d\r\n\r\n%s" % (len(_BUSY), _BUSY)
)


class ConnectionGuard:
    """Bookkeeping for one server's connections (all calls on the event loop)."""

    def __init__(self, max_connections: int = MAX_CONNECTIONS, header_seconds: float = HEADER_SECONDS) -> None:
        self.max_connections = max_connections
        self.header_seconds = header_seconds
        self._idle: OrderedDict[Any, float] = OrderedDict()  # no request in flight, since when
        self._busy: set[Any] = set()
        self._stalled: OrderedDict[Any, float] = OrderedDict()  # busy, writes paused, since when
        self._streams: OrderedDict[Any, None] = OrderedDict()  # busy with a live stream, oldest first
        self._sweeper: asyncio.TimerHandle | None = None
        self.refused = 0  # answered 503
        self.evicted = 0  # closed to make room
        self.timed_out = 0  # no request header in time

    @property
    def connections(self) -> int:
        """Open connections."""
        return len(self._idle) + len(self._busy)

    def opened(self, conn: Any) -> bool:
        """A new connection; False when it was refused (the caller must stop)."""
        if self.connections >= self.max_connections:
            if self._idle:
                oldest, _ = self._idle.popitem(last=False)
                self.evicted += 1
                oldest.transport.close()
            elif self._stalled or self._streams:
                oldest, _ = (self._stalled or self._streams).popitem(last=False)
                self.evicted += 1
                oldest.transport.abort()  # what it did not read will never be sent: no flush
            else:
                self.refused += 1
                conn.transport.write(_503)
                conn.transport.close()
                return False
        self._idle[conn] = time.monotonic()
        self._arm()
        return True

    def busy(self, conn: Any) -> None:
        """A request is in flight on ``conn``."""
        if self._idle.pop(conn, None) is not None:
            self._busy.add(conn)

    def idle(self, conn: Any) -> None:
        """``conn``'s response is complete; it waits for the next request."""
        self._stalled.pop(conn, None)
        self._streams.pop(conn, None)
        if conn in self._busy:
            self._busy.discard(conn)
            self._idle[conn] = time.monotonic()
            self._arm()

    def stalled(self, conn: Any) -> None:
        """``conn``'s writes are paused: its client does not read (for now)."""
        if conn in self._busy and conn not in self._stalled:
            self._stalled[conn] = time.monotonic()
            self._arm()

    def streaming(self, conn: Any) -> None:
        """``conn`` serves a live stream: it gives way to a newcomer at the bound."""
        if conn in self._busy:
            self._streams[conn] = None

    def flowing(self, conn: Any) -> None:
        """``conn``'s client reads again."""
        self._stalled.pop(conn, None)

    def closed(self, conn: Any) -> None:
        """``conn`` is gone."""
        self._idle.pop(conn, None)
        self._busy.discard(conn)
        self._stalled.pop(conn, None)
        self._streams.pop(conn, None)

    def _arm(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().call_later(1.0, self._sweep)

    def _sweep(self) -> None:
        self._sweeper = None
        deadline = time.monotonic() - self.header_seconds
        for table, close in ((self._idle, "close"), (self._stalled, "abort")):
            while table:
                conn, since = next(iter(table.items()))
                if since > deadline:
                    break
                del table[conn]
                self.timed_out += 1
                getattr(conn.transport, close)()
        if self._idle or self._stalled:
            self._arm()


#: Where a request's scope names its connection (``extensions``), for ``streaming``.
_CONNECTION = "appliance.connection"


def streaming(scope: Any) -> None:
    """Tell the connection guard that the request of ``scope`` is a live stream (no-op without one)."""
    conn = scope.get("extensions", {}).get(_CONNECTION)
    if conn is not None:
        conn.guard.streaming(conn)


def guarded_protocol(guard: ConnectionGuard) -> type[H11Protocol]:
    """uvicorn's h11 protocol, reporting to ``guard``."""

    class GuardedH11Protocol(H11Protocol):
        def handle_events(self) -> None:
            super().handle_events()
            if self.cycle is not None:  # before its task runs: the app can name its connection
                scope = cast(dict[str, Any], self.cycle.scope)
                scope.setdefault("extensions", {})[_CONNECTION] = self

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            guard.opened(self)

        def connection_lost(self, exc: Exception | None) -> None:
            guard.closed(self)
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.cycle is not None and not self.cycle.response_complete:
                guard.busy(self)

        def on_response_complete(self) -> None:
            guard.idle(self)
            super().on_response_complete()

        def pause_writing(self) -> None:
            super().pause_writing()
            guard.stalled(self)

        def resume_writing(self) -> None:
            super().resume_writing()
            guard.flowing(self)

        def handle_websocket_upgrade(self, event: Any) -> None:
            guard.closed(self)  # the connection is the WebSocket's now (bounded by its own server)
            super().handle_websocket_upgrade(event)

    GuardedH11Protocol.guard = guard  # type: ignore[attr-defined]
    return GuardedH11Protocol


class AcceptErrorLog:
    """An event-loop exception handler: accept errors (EMFILE...) once per episode, others as usual.

    An episode ends after ``quiet_seconds`` without such an error; the next one is logged again,
    with how many were suppressed.
    """

    def __init__(self, quiet_seconds: float = 60.0) -> None:
        self.quiet_seconds = quiet_seconds
        self._last = 0.0
        self.suppressed = 0

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if "accept" not in str(context.get("message", "")):
            loop.default_exception_handler(context)
            return
        now = time.monotonic()
        if now - self._last > self.quiet_seconds:
            exc = context.get("exception")
            logger.error(
                "%s: %s (%d more since the last episode); connections are refused until descriptors free up",
                context.get("message"),
                exc,
                self.suppressed,
            )
            self.suppressed = 0
        else:
            self.suppressed += 1
        self._last = now
