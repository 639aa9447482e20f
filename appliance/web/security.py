"""Request guards for shared venue networks, as a pure ASGI middleware.

* **Host** must be an IP literal, ``localhost``, this machine's host name (with or without
  ``.local``) or a configured extra name: a page on another site cannot reach us through DNS
  rebinding, because its requests carry that site's name in ``Host``.
* **State-changing** requests (POST, PUT, PATCH, DELETE) must be ``application/json`` (a visitor's
  page cannot send that cross-origin without a CORS preflight, which we never approve), and an
  ``Origin`` header, when present, must name this same host.
* **Changes need the owner**: the box itself (loopback: the command line, an SSH tunnel) or the
  access token (``Authorization: Bearer <token>``). A box without a token ("unclaimed") accepts no
  change from another computer at all: nobody on the network can claim it first.
* **Wrong tokens back off per source address** (``appliance.guards.Backoff``): after a few misses a
  source must wait, doubling per miss up to a minute (``429`` with ``Retry-After``), whatever the
  method, so guessing runs at a handful of tries a minute instead of thousands a second.
* Bodies are limited in size and must arrive within ``BODY_SECONDS``. The one exception is an update
  file (``STREAMED``: ``POST /api/update``, the owner's only, ``application/octet-stream``, which a
  visitor's page cannot send cross-origin without a preflight either): it is passed on unread, and
  its route bounds its size and time itself (``appliance.web.routes.update``).
* Every response says the page may not be framed by another site and may load nothing from
  elsewhere (``X-Frame-Options``, ``Content-Security-Policy``), and is not to be content-sniffed.

``read_only=True`` (the OSCQuery server) keeps the Host check and the headers and refuses changes.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from appliance.guards import Backoff, is_loopback

__all__ = ["BODY_SECONDS", "MAX_BODY", "SECURITY_HEADERS", "STREAMED", "UNCLAIMED", "SecurityMiddleware", "bearer_ok"]

MAX_BODY = 64 * 1024
#: Seconds a request body may take to arrive (a slow body would hold a connection forever).
BODY_SECONDS = 10.0
_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
#: Owner-only uploads streamed to their route unread (the route bounds size and time).
STREAMED = {("POST", "/api/update")}
#: Why a change from another computer is refused by a box that has no token yet.
UNCLAIMED = (
    "this box has no owner yet: it accepts changes only from itself until it is claimed "
    "(an access token in posenet.json on the boot partition, or 'posenet-appliance claim' on the box)"
)
#: Sent with every response: no framing by other sites (clickjacking), nothing loaded from elsewhere.
SECURITY_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
        b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def bearer_ok(authorization: str, token: str) -> bool:
    """Whether an ``Authorization`` header value carries ``token`` (compared in constant time)."""
    return hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode())


def _host_name(host_header: str) -> str:
    """The host part of a Host header value (IPv6 brackets removed), lower case."""
    if host_header.startswith("["):
        return host_header[1 : host_header.find("]")].lower()
    return host_header.rsplit(":", 1)[0].lower() if host_header.count(":") == 1 else host_header.lower()


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class SecurityMiddleware:
    """Wraps the HTTP app; ``token`` and ``extra_hosts`` are read per request (live config)."""

    def __init__(
        self,
        app: ASGIApp,
        token: Callable[[], str],
        extra_hosts: Callable[[], Iterable[str]],
        max_body: int = MAX_BODY,
        read_only: bool = False,
    ) -> None:
        self.app = app
        self.read_only = read_only
        self.token = token
        self.extra_hosts = extra_hosts
        self.max_body = max_body
        self.backoff = Backoff()  # wrong tokens, per source address
        self.refused = 0  # requests this guard answered with a refusal (4xx) itself
        hostname = socket.gethostname().lower()
        self.names = {"localhost", hostname, f"{hostname}.local", hostname.split(".")[0] + ".local"}

    def allowed_host(self, name: str) -> bool:
        """Whether a Host name may address this box."""
        return _is_ip(name) or name in self.names or name in {h.lower() for h in self.extra_hosts()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # the same Host check: no DNS rebinding onto a WebSocket either
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            host = headers.get("host", "")
            # Origin: absent (a tool, not a browser) or this very host: a visitor's page cannot open
            # sockets from a browser on the venue network.
            origin = headers.get("origin")
            foreign = origin is not None and (origin == "null" or urlsplit(origin).netloc.lower() != host.lower())
            if not host or not self.allowed_host(_host_name(host)) or foreign:
                await send({"type": "websocket.close", "code": 1008})
                return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _with_headers(send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get("host", "")
        if not host or not self.allowed_host(_host_name(host)):
            await self._refuse(send, 403, "host", f"Host {host!r} is not a name of this device")
            return
        method = scope["method"].upper()
        if self.read_only and method not in ("GET", "HEAD", "OPTIONS"):
            await self._refuse(send, 405, "method", "this server is read-only")
            return
        client = (scope.get("client") or ("", 0))[0]
        is_owner, refusal = self._owner(client, headers.get("authorization"))
        if refusal is not None:
            self.refused += 1
            await refusal(send)
            return
        scope.setdefault("state", {})["owner"] = is_owner
        if method in _CHANGING:
            origin = headers.get("origin")
            if origin is not None and (origin == "null" or urlsplit(origin).netloc.lower() != host.lower()):
                await self._refuse(send, 403, "origin", f"cross-origin request from {origin} refused")
                return
            if not is_owner:
                if self.token():
                    await self._refuse(send, 401, "authorization", "missing or wrong access token", _CHALLENGE)
                else:
                    await self._refuse(send, 403, "authorization", UNCLAIMED)
                return
            ctype = headers.get("content-type", "").split(";")[0].strip().lower()
            if (method, scope.get("path", "")) in STREAMED:
                if ctype != "application/octet-stream":
                    await self._refuse(send, 415, "content-type", "an update is sent as application/octet-stream")
                    return
                await self.app(scope, receive, send)
                return
            length = headers.get("content-length")
            has_body = (length is not None and length != "0") or "transfer-encoding" in headers
            if has_body and ctype != "application/json":
                await self._refuse(send, 415, "content-type", "changes must be sent as application/json")
                return
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await self._refuse(send, 413, "content-length", f"request body larger than {self.max_body} bytes")
            return
        if method in _CHANGING:
            # Bodies are small: read them here, bounded, and replay them to the app.
            try:
                body = await asyncio.wait_for(self._read_body(receive), BODY_SECONDS)
            except TimeoutError:
                await self._refuse(send, 408, "body", f"request body not received within {BODY_SECONDS:.0f} s")
                return
            except _TooLarge:
                await self._refuse(send, 413, "body", f"request body larger than {self.max_body} bytes")
                return
            if body is None:
                return  # client went away
            await self.app(scope, _replay(body, receive), send)
            return
        await self.app(scope, receive, send)

    async def _refuse(
        self, send: Send, status: int, field: str, message: str, extra: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        self.refused += 1
        await _reply(send, status, field, message, extra)

    def _owner(self, client: str, authorization: str | None) -> tuple[bool, _Later | None]:
        """(whether the request is the owner's, a ready refusal or None). The box itself is the owner;
        anyone else presenting a token is checked against it, with back-off per source address."""
        if is_loopback(client):
            return True, None
        if authorization is None:
            return False, None
        now = time.monotonic()
        wait = self.backoff.blocked(client, now)
        if wait:
            return False, _Later(wait)
        token = self.token()
        if token and bearer_ok(authorization, token):
            self.backoff.succeeded(client)
            return True, None
        self.backoff.failed(client, now)
        return False, None

    async def _read_body(self, receive: Receive) -> bytes | None:
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None
            body += message.get("body", b"")
            if len(body) > self.max_body:
                raise _TooLarge
            if not message.get("more_body", False):
                return bytes(body)


class _TooLarge(Exception):
    pass


def _with_headers(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            present = {k.lower() for k, _ in message.get("headers", [])}
            message["headers"] = [*message.get("headers", []), *(h for h in SECURITY_HEADERS if h[0] not in present)]
        await send(message)

    return wrapped


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


_CHALLENGE = [(b"www-authenticate", b'Bearer realm="posenet-appliance"')]


class _Later:
    """A 429 answer for a source that must wait ``seconds`` before its next token is checked."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def __call__(self, send: Send) -> None:
        wait = max(1, round(self.seconds))
        msg = f"too many wrong access tokens from this address: try again in {wait} s"
        await _reply(send, 429, "authorization", msg, [(b"retry-after", str(wait).encode())])


async def _reply(
    send: Send, status: int, field: str, message: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps({"detail": [{"loc": ["header", field], "msg": message, "type": "refused"}]}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": [*headers, *(extra or [])]})
    await send({"type": "http.response.body", "body": body})
