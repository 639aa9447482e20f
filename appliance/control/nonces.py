"""Confirmation nonces: stateless, unforgeable, single use; and the record of where confirmations went.

Nothing the control port promises to do waits in a table that a flood could fill: what a
confirmation will do travels *in* its nonce. A nonce is ``"n"`` + the hex of the request (operation,
stream port, sender port, format, flags, expiry, a serial number making each one unique) + the hex
of a 64-bit HMAC-SHA256 under a secret drawn at start-up, over those bytes and the stream host. It
is only ever sent to the stream address, so only whoever receives there can send it back; on return
the MAC (for the host it comes from), the expiry and single use are checked. It starts with a letter
and is hex only, so Pd and Max keep it a symbol.

``Outstanding`` remembers, for a bounded number of stream addresses, when a confirmation last went
there: one per address per ``CONFIRM_SECONDS`` until it is answered, so a forged flood reflects at
most one small packet per window to an address that never asked.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import secrets
import struct
from collections import OrderedDict
from dataclasses import dataclass
from enum import IntEnum

__all__ = ["CONFIRM_SECONDS", "NonceCodec", "Op", "Outstanding", "Request"]

#: Seconds a confirmation can be answered (and no second one goes to that address meanwhile).
CONFIRM_SECONDS = 10.0
#: Most answered nonces remembered until they expire (single use), and stream addresses remembered.
MAX_USED = 4096
MAX_OUTSTANDING = 1024

_LAYOUT = struct.Struct(">BHHBBII")  # op, stream port, sender port, format index, flags, expiry (s), serial
_MAC_BYTES = 8
_NONCE_LENGTH = 1 + 2 * (_LAYOUT.size + _MAC_BYTES)

#: Request flags.
NORMALIZED, MIRROR, KEEP = 1, 2, 4


class Op(IntEnum):
    """What a confirmed request does."""

    ADD = 1  # subscribe or renew (KEEP: the lease's current format and options)
    FORMAT = 2
    COORDS = 3
    MIRROR = 4
    REMOVE = 5
    CLEAR = 6  # like REMOVE, answered as /posenet/listeners/cleared


@dataclass(frozen=True, slots=True)
class Request:
    """A request waiting for its confirmation: ``op`` on the lease streaming to (stream host,
    ``stream_port``), asked from (stream host, ``sender_port``); ``format`` is an index into the
    format names, ``flags`` a combination of NORMALIZED, MIRROR and KEEP; ``expires`` is in whole
    seconds of the codec's clock."""

    op: Op
    stream_port: int
    sender_port: int
    format: int = 0
    flags: int = 0
    expires: int = 0


class NonceCodec:
    """Encodes requests into nonces and opens them again; remembers used nonces until they expire."""

    def __init__(self, secret: bytes | None = None, seconds: float = CONFIRM_SECONDS, used: int = MAX_USED) -> None:
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self.seconds = seconds
        self._used: OrderedDict[str, int] = OrderedDict()  # nonce -> expiry
        self._max_used = used
        self._serial = 0

    def _mac(self, payload: bytes, host: str) -> bytes:
        host_bytes = ipaddress.ip_address(host.split("%")[0]).packed
        return hmac.new(self._secret, payload + host_bytes, hashlib.sha256).digest()[:_MAC_BYTES]

    def encode(self, request: Request, host: str, now: float) -> str:
        """The nonce for ``request`` to the stream ``host`` (an IP address), valid ``seconds`` from ``now``."""
        expires = math.ceil(now + self.seconds)
        self._serial = (self._serial + 1) & 0xFFFFFFFF
        fields = (request.op, request.stream_port, request.sender_port, request.format, request.flags, expires)
        payload = _LAYOUT.pack(*fields, self._serial)
        return "n" + payload.hex() + self._mac(payload, host).hex()

    def open(self, nonce: str, host: str, now: float) -> Request | None:
        """The request of a nonce sent back from ``host``: None when it is not one this process made
        for that host, has expired, or was used already (it is not marked used here: see ``use``)."""
        if len(nonce) != _NONCE_LENGTH or not nonce.startswith("n"):
            return None
        try:
            raw = bytes.fromhex(nonce[1:])
            payload, mac = raw[: _LAYOUT.size], raw[_LAYOUT.size :]
            if not hmac.compare_digest(mac, self._mac(payload, host)):
                return None
            op, stream_port, sender_port, fmt, flags, expires, _serial = _LAYOUT.unpack(payload)
            request = Request(Op(op), stream_port, sender_port, fmt, flags, expires)
        except ValueError:  # not hex, not an address, an unknown operation
            return None
        if now > expires or nonce in self._used:
            return None
        return request

    def use(self, nonce: str, request: Request, now: float) -> bool:
        """Mark an opened nonce used; False when too many unexpired ones are remembered (refuse it)."""
        while self._used and next(iter(self._used.values())) < now:
            self._used.popitem(last=False)
        if len(self._used) >= self._max_used:
            return False
        self._used[nonce] = request.expires
        return True


class Outstanding:
    """When a confirmation last went to each stream address (the ``size`` most recent addresses)."""

    def __init__(self, seconds: float = CONFIRM_SECONDS, size: int = MAX_OUTSTANDING) -> None:
        self.seconds, self.size = seconds, size
        self._sent: OrderedDict[tuple[str, int], float] = OrderedDict()
        self.suppressed = 0  # confirmations not sent because one was still outstanding

    def wait(self, key: tuple[str, int], now: float) -> float:
        """Seconds until another confirmation may go to ``key`` (0: now); a positive answer is counted."""
        sent = self._sent.get(key)
        left = 0.0 if sent is None else max(0.0, sent + self.seconds - now)
        if left:
            self.suppressed += 1
        return left

    def sent(self, key: tuple[str, int], now: float) -> None:
        """A confirmation went to ``key`` now."""
        self._sent[key] = now
        self._sent.move_to_end(key)
        while len(self._sent) > self.size:
            self._sent.popitem(last=False)

    def answered(self, key: tuple[str, int]) -> None:
        """``key`` answered a confirmation: the next one may go at once."""
        self._sent.pop(key, None)
