"""The OSC control port (advertised as ``_osc._udp``): how a Max or Pd patch subscribes itself.

A subscription streams poses to the sender's address at a port it names. Because a UDP source
address can be forged, nothing streams to an address before it proves it wants the stream:

1. ``/posenet/listeners/add [port [format]]`` (port: default the sender's own; format: default
   ``individual``). The box sends one small ``/posenet/listeners/confirm ,s NONCE`` to the address
   and port that would receive the stream, and nothing else (repeats while that confirmation is
   pending send nothing more).
2. The patch echoes ``/posenet/listeners/confirm ,s NONCE`` to the control port (from any port).
   The stream starts, and ``/posenet/listeners/added ,sisi host port format lease_seconds`` goes to
   the stream address.
3. The subscription is a lease (``osc_control.lease_seconds``, default 60 s): repeating the add
   (and confirming again) renews it; otherwise it ends. Subscriptions live in memory only; the
   permanent targets are the ones saved over HTTP.

Control of one's own subscriptions (those created from the same sender address and port):
``/posenet/listeners/remove [port]``, ``/posenet/format ,s F [port]``, ``/posenet/coords ,s C
[port]``, ``/posenet/mirror ,i 0|1 [port]``. ``/posenet/listeners/clear`` ends every subscription.
``/posenet/info`` answers ``/posenet/info ,sssi name state backend targets``. Answers go to the
sender. No address is ever sent more than it sent (plus ``REPLY_ALLOWANCE`` bytes, which refill at
``REPLY_REFILL`` bytes per second): a forged source can reflect, but never amplify.

Saved settings (for everyone, kept across restarts): ``/posenet/smoothing/enabled ,i 0|1``,
``/posenet/smoothing/min_cutoff ,f``, ``/posenet/smoothing/beta ,f``; answered with the value in
force once saved (off the event loop; a burst of changes to one setting is written one at a time,
the last value winning), or ``/posenet/error`` naming the field.

When ``http.token`` is set, every message that changes something carries it as its **last
argument** (a string): ``/posenet/listeners/add 9000 bundle s3cret``. Without it nothing changes
and the sender gets ``/posenet/error``. Reads (``/posenet/info``) and confirmations stay open.
By default subscriptions are accepted only from the box's own subnets (``osc_control.subnets_only``).
Malformed packets and unknown addresses are counted and ignored.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from pydantic import ValidationError

from appliance.control.messages import SAVED_SETTINGS, matching
from appliance.core.facade import Control
from appliance.core.status import ServerStatus
from appliance.errors import ConfigError
from appliance.log import LogOnce
from appliance.output.osc import FORMATS
from appliance.output.osc.presets import PRESETS, resolve
from appliance.output.osc.wire import message, parse_packet
from appliance.transport.udp import TargetSpec

__all__ = ["MAX_SUBSCRIPTIONS", "ControlProtocol", "Lease", "own_networks", "start_control"]

logger = logging.getLogger(__name__)
_log_once = LogOnce(logger)

#: Seconds a confirmation stays pending (no second confirm goes to that address meanwhile).
CONFIRM_SECONDS = 10.0
#: Most confirmations pending at once (the oldest is dropped beyond).
MAX_PENDING = 64
#: Most subscriptions at once, and per receiving IP address.
MAX_SUBSCRIPTIONS = 16
MAX_PER_HOST = 8
#: Bytes an address may receive beyond what it sent us, and how fast that allowance comes back.
REPLY_ALLOWANCE, REPLY_REFILL = 2048.0, 64.0
#: Seconds between re-reading the box's own subnets.
SUBNETS_SECONDS = 30.0
_COORDS = ("pixels", "normalized")


@dataclass(frozen=True, slots=True)
class Lease:
    """A confirmed subscription: where poses go, who made it (control sender), until when."""

    spec: TargetSpec
    owner: tuple[str, int]
    expires: float


@dataclass(frozen=True, slots=True)
class _Pending:
    spec: TargetSpec
    owner: tuple[str, int]
    created: float


class _Refused(Exception):
    """Answered with /posenet/error and counted."""


def own_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The networks of this box's interfaces (loopback included)."""
    import ifaddr

    nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            address = ip.ip if isinstance(ip.ip, str) else ip.ip[0]
            try:
                nets.append(ipaddress.ip_network(f"{address.split('%')[0]}/{ip.network_prefix}", strict=False))
            except ValueError:
                continue
    return nets


class ControlProtocol(asyncio.DatagramProtocol):
    """Handles control datagrams on the event loop; the leases live here, pushed to ``Control``.

    ``messages`` counts datagrams received, ``errors`` those refused (malformed, unknown, invalid,
    unauthorised). ``now`` is injectable for tests.
    """

    def __init__(self, control: Control, now: Callable[[], float] = time.monotonic) -> None:
        self.control = control
        self.transport: asyncio.DatagramTransport | None = None
        self.messages = 0
        self.errors = 0
        self._now = now
        self._leases: dict[tuple[str, int], Lease] = {}
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        self._nets_at = -SUBNETS_SECONDS
        self._timer: asyncio.TimerHandle | None = None
        # Saved settings being written (off the loop): address -> its task, and the latest value asked
        # for with whom to answer; a flood of changes to one setting costs one save at a time.
        self._saves: dict[str, asyncio.Task[None]] = {}
        self._wanted: dict[str, tuple[Any, tuple[str, int]]] = {}

    # -- plumbing ---------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._timer = asyncio.get_running_loop().call_later(1.0, self._tick)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _tick(self) -> None:
        self.expire()
        if self.transport is not None and not self.transport.is_closing():
            self._timer = asyncio.get_running_loop().call_later(1.0, self._tick)

    def status(self) -> ServerStatus:
        """This port's status: where it listens, what it handled, how many subscriptions."""
        port = self.transport.get_extra_info("sockname")[1] if self.transport is not None else 0
        n = len(self._leases)
        return ServerStatus(
            port=port, messages=self.messages, rejected=self.errors, detail=f"{n} subscription{'s' * (n != 1)}"
        )

    @property
    def leases(self) -> dict[tuple[str, int], Lease]:
        """The confirmed subscriptions, by stream address."""
        return dict(self._leases)

    async def drain(self) -> None:
        """Wait for the saves under way (shutdown: nothing acknowledged is lost)."""
        while self._saves:
            await asyncio.gather(*list(self._saves.values()), return_exceptions=True)

    def _credit(self, host: str, received: int = 0, spend: int = 0) -> bool:
        """The byte budget of ``host``: what it sent us plus a slowly refilling allowance; False (and
        nothing spent) when ``spend`` bytes would exceed it."""
        now = self._now()
        credit, last = self._buckets.pop(host, (REPLY_ALLOWANCE, now))
        if credit < REPLY_ALLOWANCE:
            credit = min(REPLY_ALLOWANCE, credit + (now - last) * REPLY_REFILL)
        credit = min(credit + received, 65536.0)
        allowed = credit >= spend
        self._buckets[host] = (credit - spend if allowed else credit, now)
        while len(self._buckets) > 1024:
            self._buckets.popitem(last=False)
        return allowed

    def reply(self, addr: tuple[str, int], address: str, tags: str, args: list[Any]) -> None:
        """Send an answer to ``addr`` within its byte budget; never raises."""
        self._send(addr, address, tags, args)

    def _send(self, addr: tuple[str, int], address: str, tags: str, args: list[Any]) -> None:
        if self.transport is None:
            return
        data = message(address, tags, args)
        if not self._credit(addr[0], spend=len(data)):
            return
        try:
            self.transport.sendto(data, addr)
        except (OSError, ValueError) as exc:
            _log_once.warning(("reply", addr[0]), "cannot answer %s: %s", addr[0], exc)

    # -- receiving --------------------------------------------------------------------------------
    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.messages += 1
        self._credit(addr[0], received=len(data))
        try:
            messages = parse_packet(data)
        except ValueError as exc:
            self.errors += 1
            _log_once.warning(("malformed", addr[0]), "malformed OSC control packet from %s: %s", addr[0], exc)
            return
        for pattern, args in messages:
            try:
                targets = matching(pattern)
            except ValueError as exc:
                self.errors += 1
                self.reply(addr, "/posenet/error", "s", [f"{pattern}: {exc}"[:200]])
                continue
            if not targets:
                self.errors += 1
                _log_once.warning(("unknown", pattern), "unknown OSC control address %s from %s", pattern, addr[0])
            for address in targets:  # an OSC address pattern may name several
                try:
                    self._handle(address, list(args), addr)
                except _Refused as exc:
                    self.errors += 1
                    self.reply(addr, "/posenet/error", "s", [f"{address}: {exc}"[:200]])
                except Exception:  # a bug here must not end the control port
                    self.errors += 1
                    _log_once.warning(("bug", address), "control message %s failed", address, exc_info=True)

    def _handle(self, address: str, args: list[Any], addr: tuple[str, int]) -> None:
        if address == "/posenet/info":
            s = self.control.status()
            targets = len(self.control.config.targets) + len(self._leases)
            self.reply(addr, "/posenet/info", "sssi", [s.device_name, s.state, s.backend, targets])
        elif address == "/posenet/listeners/confirm":
            self._confirm(args, addr)
        elif address == "/posenet/listeners/add":
            self._add(self._authorised(args), addr)
        elif address == "/posenet/listeners/remove":
            args = self._authorised(args)
            gone = self._drop(lambda k, lease: lease.owner == addr and _port_matches(args, 0, k[1]))
            self.reply(addr, "/posenet/listeners/removed", "si", [addr[0], gone])
        elif address == "/posenet/listeners/clear":
            self._authorised(args)
            gone = self._drop(lambda k, lease: True)
            self.reply(addr, "/posenet/listeners/cleared", "i", [gone])
        elif address in ("/posenet/format", "/posenet/coords", "/posenet/mirror"):
            self._set(address, self._authorised(args), addr)
        elif address in SAVED_SETTINGS:
            self._save(address, self._authorised(args), addr)

    def _authorised(self, args: list[Any]) -> list[Any]:
        """The arguments without the token; _Refused when a token is set and not given."""
        token = self.control.config.http.token
        if not token:
            return args
        given = args[-1] if args and isinstance(args[-1], str) else ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise _Refused("token required")
        return args[:-1]

    def _own_subnet(self, host: str) -> bool:
        if not self.control.config.osc_control.subnets_only:
            return True
        now = self._now()
        if now - self._nets_at >= SUBNETS_SECONDS:
            self._nets, self._nets_at = own_networks(), now
        ip = ipaddress.ip_address(host)
        return any(ip in net for net in self._nets)

    # -- subscriptions ----------------------------------------------------------------------------
    def _add(self, args: list[Any], addr: tuple[str, int]) -> None:
        """``[port [format|preset]]`` or ``[format|preset]`` (the preset's port, else the sender's)."""
        host = addr[0]
        if args and isinstance(args[0], str):
            args = [None, *args]
        if len(args) > 2:
            raise _Refused("expected [port [format or preset]]")
        name = _str(args, 1) if len(args) > 1 else "individual"
        fmt, coords, own_port = resolve(name)
        if coords is None:
            raise _Refused(f"unknown format {name!r}; one of {', '.join([*FORMATS, *PRESETS])}")
        fallback = own_port or addr[1]
        port = _int(args, 0, fallback) if args and args[0] is not None else fallback
        if not 1 <= port <= 65535:
            raise _Refused(f"port {port} is out of range 1..65535")
        if not self._own_subnet(host):
            raise _Refused("subscriptions are accepted from this box's own networks only")
        key = (host, port)
        if key not in self._leases:
            if len(self._leases) >= MAX_SUBSCRIPTIONS:
                raise _Refused(f"the subscription list is full ({MAX_SUBSCRIPTIONS})")
            if sum(1 for k in self._leases if k[0] == host) >= MAX_PER_HOST:
                raise _Refused(f"at most {MAX_PER_HOST} subscriptions per computer")
        now = self._now()
        if any(p.spec.host == host and p.spec.port == port for p in self._pending.values()):
            return  # one confirmation in flight per address is enough: send nothing more there
        current = self._leases.get(key)
        limit = self.control.config.osc.max_datagram
        fresh = TargetSpec(host, port, fmt, coords, max_datagram=limit)
        spec = current.spec if current is not None and len(args) < 2 else fresh
        nonce = "n" + secrets.token_hex(8)  # starts with a letter: Pd and Max keep it a symbol
        self._pending[nonce] = _Pending(spec, addr, now)
        while len(self._pending) > MAX_PENDING:
            self._pending.popitem(last=False)
        self._send(key, "/posenet/listeners/confirm", "s", [nonce])

    def _confirm(self, args: list[Any], addr: tuple[str, int]) -> None:
        nonce = args[0] if args and isinstance(args[0], str) else ""
        pending = self._pending.pop(nonce, None)
        if pending is None or self._now() - pending.created > CONFIRM_SECONDS:
            self.errors += 1  # no answer: the sender may be forged
            _log_once.warning(("confirm", addr[0]), "unknown or expired confirmation from %s", addr[0])
            return
        spec = pending.spec
        key = (spec.host, spec.port)
        if key not in self._leases and len(self._leases) >= MAX_SUBSCRIPTIONS:
            return
        lease_s = self.control.config.osc_control.lease_seconds
        self._leases[key] = Lease(spec, pending.owner, self._now() + lease_s)
        self._push()
        logger.info("subscription %s confirmed for %d s", spec.label, lease_s)
        self._send(key, "/posenet/listeners/added", "sisi", [spec.host, spec.port, spec.format, lease_s])

    def _set(self, address: str, args: list[Any], addr: tuple[str, int]) -> None:
        key = address.rsplit("/", 1)[1]
        if key == "mirror":
            value: Any = bool(_int(args, 0, 0))
        else:
            value = _str(args, 0)
            allowed = FORMATS if key == "format" else _COORDS
            if value not in allowed:
                raise _Refused(f"unknown {key} {value!r}; one of {', '.join(allowed)}")
        mine = {k: lease for k, lease in self._leases.items() if lease.owner == addr and _port_matches(args, 1, k[1])}
        if not mine:
            raise _Refused("no subscription of yours to change (subscribe first)")
        for k, lease in mine.items():
            self._leases[k] = replace(lease, spec=replace(lease.spec, **{key: value}))
        self._push()
        self.reply(addr, address, "s", [str(value)])

    # -- saved settings -----------------------------------------------------------------------------
    def _save(self, address: str, args: list[Any], addr: tuple[str, int]) -> None:
        """Change a saved setting (``SAVED_SETTINGS``) for everyone; answered with the value in force
        once saved, or ``/posenet/error`` naming the field."""
        if len(args) != 1 or isinstance(args[0], str):
            raise _Refused("expected one number")
        value: Any = args[0]
        if address.endswith("/enabled"):
            value = bool(_int(args, 0, 0))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            value = float(value)
        self._wanted[address] = (value, addr)
        if address not in self._saves:
            self._saves[address] = asyncio.get_running_loop().create_task(self._saving(address))

    async def _saving(self, address: str) -> None:
        section, key = SAVED_SETTINGS[address]
        try:
            while address in self._wanted:
                value, addr = self._wanted.pop(address)

                def change(current: dict[str, Any], v: Any = value) -> dict[str, Any]:
                    return {**current, section: {**current[section], key: v}}

                try:
                    config = await asyncio.to_thread(self.control.update, change)
                except ValidationError as exc:
                    self.errors += 1
                    msg = exc.errors()[0]["msg"] if exc.errors() else str(exc)
                    self.reply(addr, "/posenet/error", "s", [f"{address}: {section}.{key}: {msg}"[:200]])
                    continue
                except (ConfigError, OSError) as exc:
                    self.errors += 1
                    self.reply(addr, "/posenet/error", "s", [f"{address}: {exc}"[:200]])
                    continue
                now = getattr(getattr(config, section), key)
                if isinstance(now, bool):
                    self.reply(addr, address, "i", [int(now)])
                else:
                    self.reply(addr, address, "f", [float(now)])
        finally:
            del self._saves[address]

    def _drop(self, which: Any) -> int:
        gone = [k for k, lease in self._leases.items() if which(k, lease)]
        for k in gone:
            del self._leases[k]
        if gone:
            self._push()
        return len(gone)

    def expire(self) -> None:
        """End the leases whose time is up, forget stale confirmations."""
        now = self._now()
        for nonce in [n for n, p in self._pending.items() if now - p.created > CONFIRM_SECONDS]:
            del self._pending[nonce]
        if self._drop(lambda k, lease: lease.expires <= now):
            logger.info("subscriptions expired; %d left", len(self._leases))

    def _push(self) -> None:
        self.control.set_subscriptions([lease.spec for lease in self._leases.values()])


def _port_matches(args: list[Any], i: int, port: int) -> bool:
    return len(args) <= i or _int(args, i, None) == port


def _int(args: list[Any], i: int, default: Any) -> Any:
    if len(args) <= i:
        return default
    value = args[i]
    if isinstance(value, float) and value.is_integer():  # Pd sends every number as a float
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Refused(f"argument {i + 1} must be a number")
    return value


def _str(args: list[Any], i: int) -> str:
    if len(args) <= i or not isinstance(args[i], str):
        raise _Refused(f"argument {i + 1} must be a string")
    return str(args[i])


async def start_control(control: Control, host: str, port: int) -> tuple[asyncio.DatagramTransport, ControlProtocol]:
    """Listen for control messages on UDP ``host:port``."""
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(lambda: ControlProtocol(control), local_addr=(host, port))
    return transport, protocol  # type: ignore[return-value]
