"""TargetSpec (where and how poses go) and UdpTarget (one non-blocking, connected UDP socket).

Sends never block (the socket is non-blocking; a full buffer drops and counts the datagram) and
never raise: refused, unreachable and similar errors are counted, logged once, and sending resumes
by itself when the receiver comes back. The socket is ``connect``ed so that the kernel reports an
ICMP "port unreachable" as ECONNREFUSED on the next send, which tells the status "nobody is
listening there".
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import socket
import threading
import time
from dataclasses import dataclass, field

from appliance.errors import ConfigError
from appliance.log import LogOnce
from appliance.output.osc.base import (
    DEFAULT_COORDS,
    DEFAULT_TIMETAG,
    MAX_DATAGRAM,
    Coords,
    OscExtra,
    OutputOptions,
    TimeTag,
)
from appliance.output.osc.formats import DEFAULT_FORMAT, FORMATS

__all__ = ["BROADCAST_HOST", "TargetCounters", "TargetSpec", "UdpTarget"]

logger = logging.getLogger(__name__)
_log_once = LogOnce(logger)

#: ``broadcast:PORT`` sends to the IPv4 limited broadcast address.
BROADCAST_HOST = "broadcast"
#: A target counts as recovered after this many seconds without a send error. (Linux reports an
#: ICMP "port unreachable" on the *next* send only, so sends alternate between ok and refused while
#: nobody listens: a single good send proves nothing.)
RECOVERY_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class TargetSpec:
    """One destination as the "send" thread uses it: host (name, IPv4/IPv6 literal or "broadcast"),
    port, format, how the format is encoded for it (coordinates, mirror, time tag, largest datagram:
    its ``options``), and the stages' messages it gets besides (``extras``). Made from the
    configuration's ``TargetConfig.spec`` (tests and benchmarks may make one directly)."""

    host: str
    port: int
    format: str = DEFAULT_FORMAT
    coords: Coords = DEFAULT_COORDS
    mirror: bool = False
    timetag: TimeTag = DEFAULT_TIMETAG
    max_datagram: int = MAX_DATAGRAM
    extras: tuple[OscExtra, ...] = ()

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"target port {self.port} is out of range 1..65535")
        if self.format not in FORMATS:
            raise ConfigError(f"unknown OSC format {self.format!r}; choose one of {', '.join(FORMATS)}")
        if not self.host or any(c.isspace() for c in self.host):
            raise ConfigError(f"invalid target host {self.host!r}")

    @property
    def options(self) -> OutputOptions:
        """The encoder options of this target."""
        return OutputOptions(self.coords, self.mirror, self.timetag, self.max_datagram)

    @property
    def label(self) -> str:
        """``host:port/format`` (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}/{self.format}"


@dataclass(slots=True)
class TargetCounters:
    """Running counters of one target (read by the status without locking; ints are atomic)."""

    datagrams: int = 0
    bytes: int = 0
    errors: int = 0
    dropped: int = 0
    last_error: str = ""
    state: str = "starting"
    last_error_at: float = 0.0


def _literal(host: str) -> str | None:
    if host == BROADCAST_HOST:
        return "255.255.255.255"
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


@dataclass
class UdpTarget:
    """A connected non-blocking UDP socket to one TargetSpec."""

    spec: TargetSpec
    counters: TargetCounters = field(default_factory=TargetCounters)
    _sock: socket.socket | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def needs_resolution(self) -> bool:
        """True for host names (resolved off the data path); literals open at once."""
        return _literal(self.spec.host) is None

    def open(self) -> bool:
        """Resolve (may block on DNS for names: call off the data path) and connect; never raises."""
        host = _literal(self.spec.host) or self.spec.host
        sock: socket.socket | None = None
        try:
            infos = socket.getaddrinfo(host, self.spec.port, type=socket.SOCK_DGRAM)
            family, _, proto, _, addr = infos[0]
            sock = socket.socket(family, socket.SOCK_DGRAM, proto)
            sock.setblocking(False)
            if family == socket.AF_INET:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            sock.connect(addr)
        except (OSError, UnicodeError) as exc:  # a label over 63 characters is a UnicodeError
            if sock is not None:
                sock.close()
            self.counters.state = "unresolved"
            self.counters.last_error = f"cannot resolve or connect: {exc}"
            _log_once.warning(("open", self.spec.label), "OSC target %s: %s", self.spec.label, self.counters.last_error)
            return False
        with self._lock:
            old, self._sock = self._sock, sock
        if old is not None:
            old.close()
        self.counters.state = "ok"
        if _log_once.clear(("open", self.spec.label)):
            logger.info("OSC target %s resolved to %s", self.spec.label, addr[0])
        return True

    def send(self, datagrams: list[bytes]) -> None:
        """Send each datagram; never blocks, never raises. Errors are counted and logged once."""
        sock = self._sock
        c = self.counters
        if sock is None:
            c.dropped += len(datagrams)
            return
        for d in datagrams:
            try:
                sock.send(d)
            except BlockingIOError:
                c.dropped += 1
                continue
            except OSError as exc:
                c.errors += 1
                reason = "nobody listening (refused)" if exc.errno == errno.ECONNREFUSED else (exc.strerror or str(exc))
                c.last_error = reason
                c.state = "error"
                c.last_error_at = time.monotonic()
                _log_once.warning(("send", self.spec.label, exc.errno), "OSC target %s: %s", self.spec.label, reason)
                continue
            c.datagrams += 1
            c.bytes += len(d)
            if c.state != "ok" and time.monotonic() - c.last_error_at >= RECOVERY_SECONDS:
                c.state = "ok"
                logger.info("OSC target %s: sending again", self.spec.label)
                for key in (errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH):
                    _log_once.clear(("send", self.spec.label, key))

    def close(self) -> None:
        """Close the socket; idempotent."""
        with self._lock:
            sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
        self.counters.state = "closed"
