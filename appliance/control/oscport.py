"""The OSC control port (advertised as ``_osc._udp``): how a Max or Pd patch subscribes itself.

A subscription streams poses to the sender's address at a port it names. Because a UDP source
address can be forged, nothing streams to an address, and no subscription changes, before the
stream address proves it wants it:

1. ``/posenet/listeners/add [port [format]] [key]`` (port: default the sender's own; format: default
   ``individual``; key: the subscribe key, only when the owner set one). The box sends one small
   ``/posenet/listeners/confirm ,s NONCE`` to the address and port that would receive the stream,
   and nothing else (repeats while that confirmation is unanswered send nothing more there).
2. The patch echoes ``/posenet/listeners/confirm ,s NONCE`` to the control port, **from the port it
   asked from**. The stream starts, and ``/posenet/listeners/added ,sisi host port format
   lease_seconds`` goes to the stream address.
3. The subscription is a lease (``osc_control.lease_seconds``, default 60 s): repeating the add
   (and confirming again) renews it; otherwise it ends. Subscriptions live in memory only; the
   permanent targets are the ones saved over HTTP.

Changes to one's own subscriptions (those made from the same sender address and port) are
confirmed the same way, and answered once confirmed: ``/posenet/listeners/remove [port]``,
``/posenet/format ,s F [port]``, ``/posenet/coords ,s C [port]``, ``/posenet/mirror ,i 0|1 [port]``,
``/posenet/listeners/clear`` (with the access token as argument: every subscription, at once).
Saved settings (``/posenet/smoothing/*``) are the owner's: the access token last, or the box itself.
``/posenet/info`` answers ``/posenet/info ,sssi name state backend targets``; ``/posenet/discover
[port]`` (broadcast too) ``/posenet/here ,ssiii name address control http oscquery``, only to senders
on the box's own subnets, rate-limited (``discover``).

The rules (subnet, owner, subscribe key, back-off, rate limit) are in ``access``, the leases in
``leases``, the nonces in ``nonces``, the reply budget in ``budget`` (no address is ever sent more
than it sent, plus a small allowance: a forged source can reflect, never amplify), the saves in
``saver``; the messages and their kinds in ``messages``, which this port dispatches on. Every message
of a packet is handled on its own: whatever it raises is counted and logged once, never more.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from appliance.control.access import Access, Ignored, Refused
from appliance.control.budget import ReplyBudget, WorkBudget
from appliance.control.discover import Discovery, here
from appliance.control.leases import Lease, LeaseTable
from appliance.control.messages import COORDS, ControlMethod, Kind, matching
from appliance.control.nonces import KEEP, MIRROR, NORMALIZED, NonceCodec, Op, Outstanding, Request
from appliance.control.saver import SettingsSaver
from appliance.core.facade import Steering
from appliance.core.status import ServerStatus
from appliance.errors import ApplianceError
from appliance.guards import is_loopback
from appliance.log import LogOnce
from appliance.output.osc import DEFAULT_FORMAT, FORMAT_NAMES, Coords
from appliance.output.osc.pattern import PatternError, is_pattern
from appliance.output.osc.presets import PRESETS, resolve
from appliance.output.osc.wire import message, parse_packet
from appliance.stages import extras_for
from appliance.transport.udp import TargetSpec

__all__ = ["ControlProtocol", "start_control"]

logger = logging.getLogger(__name__)

#: Seconds between the lease clock's ticks, and between re-arming the once-only log lines.
TICK_SECONDS, LOG_REARM_SECONDS = 1.0, 600.0
#: Seconds one /posenet/info answer is reused (a flood of questions builds the status once).
INFO_SECONDS = 0.5
#: Most address patterns matched per packet (the rest of the packet is refused).
MAX_PATTERNS = 32
#: Characters of JSON a whole section (zones, the floor) may take (32 zones of 32 corners fit).
MAX_SECTION_JSON = 48_000

Address = tuple[str, int]
Handler = Callable[[ControlMethod, list[Any], Address], None]
_OPTION_OPS = {"format": Op.FORMAT, "coords": Op.COORDS, "mirror": Op.MIRROR}


class ControlProtocol(asyncio.DatagramProtocol):
    """Handles control datagrams on the event loop, dispatching each message on its declared kind.

    ``messages`` counts datagrams received, ``errors`` messages refused (malformed, unknown, invalid,
    unauthorised) and ``faults`` the handler bugs among them. ``now`` (``time.monotonic``) and
    ``local`` (is a sender the box itself: ``guards.is_loopback``) are injectable for tests.
    """

    def __init__(
        self, control: Steering, now: Callable[[], float] = time.monotonic, local: Callable[[str], bool] = is_loopback
    ) -> None:
        self.control = control
        self.transport: asyncio.DatagramTransport | None = None
        self.messages = self.errors = self.faults = 0
        self._now = now
        self.access = Access(control, local)
        self.budget = ReplyBudget()
        self.work = WorkBudget()
        self.nonces = NonceCodec()
        self.outstanding = Outstanding()
        self.table = LeaseTable(control.set_subscriptions)
        self.saver = SettingsSaver(control.update, self.reply, self._failed)
        self._log = LogOnce(logger, max_keys=64)
        self._log_at = 0.0
        self._info: tuple[float, list[Any]] = (-math.inf, [])
        self.discovery = Discovery()
        self._here: tuple[float, tuple[str, int, int, int]] = (-math.inf, ("", 0, 0, 0))
        self._timer: asyncio.TimerHandle | None = None
        self._resume: asyncio.TimerHandle | None = None
        self._handlers: dict[Kind, Handler] = {
            Kind.INFO: self._on_info,
            Kind.DISCOVER: self._on_discover,
            Kind.ADD: self._on_add,
            Kind.CONFIRM: self._on_confirm,
            Kind.REMOVE: self._on_remove,
            Kind.CLEAR: self._on_clear,
            Kind.OPTION: self._on_option,
            Kind.SETTING: self._on_setting,
            Kind.RECORD: self._on_record,
            Kind.SECTION: self._on_section,
        }
        self._confirmed: dict[Op, Callable[[Request, Address, float], None]] = {
            Op.ADD: self._added,
            Op.FORMAT: self._option_changed,
            Op.COORDS: self._option_changed,
            Op.MIRROR: self._option_changed,
            Op.REMOVE: self._removed,
            Op.CLEAR: self._removed,
        }

    # -- plumbing ---------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._log_at = self._now()
        self._timer = asyncio.get_running_loop().call_later(TICK_SECONDS, self._tick)

    def connection_lost(self, exc: Exception | None) -> None:
        for handle in (self._timer, self._resume):
            if handle is not None:
                handle.cancel()

    def _tick(self) -> None:
        self.expire()
        if self._now() - self._log_at >= LOG_REARM_SECONDS:  # a later episode is logged again
            self._log, self._log_at = LogOnce(logger, max_keys=64), self._now()
        if self.transport is not None and not self.transport.is_closing():
            self._timer = asyncio.get_running_loop().call_later(TICK_SECONDS, self._tick)

    def expire(self) -> None:
        """End the leases whose time is up."""
        if self.table.expire(self._now()):
            logger.info("subscriptions expired; %d left", len(self.table))

    def status(self) -> ServerStatus:
        """This port's status: where it listens, what it handled, how many subscriptions."""
        port = self.transport.get_extra_info("sockname")[1] if self.transport is not None else 0
        n = len(self.table)
        detail = f"{n} subscription{'s' * (n != 1)}"
        if self.work.pauses:
            detail += f", paused {self.work.pauses} times (busy)"
        if self.faults:
            detail += f", {self.faults} faults"
        return ServerStatus(port=port, messages=self.messages, rejected=self.errors, detail=detail)

    @property
    def leases(self) -> dict[Address, Lease]:
        """The confirmed subscriptions, by stream address."""
        return self.table.snapshot()

    async def drain(self) -> None:
        """Wait for the saves under way (shutdown: nothing acknowledged is lost)."""
        await self.saver.drain()

    def reply(self, addr: Address, address: str, tags: str, args: list[Any]) -> bool:
        """Send an answer to ``addr`` within its byte budget; never raises; returns whether it went."""
        if self.transport is None:
            return False
        data = message(address, tags, args)
        if not self.budget.spend(addr[0], len(data), self._now()):
            return False
        try:
            self.transport.sendto(data, addr)
        except (OSError, ValueError) as exc:
            self._log.warning(("reply",), "cannot answer %s: %s", addr[0], exc)
            return False
        return True

    def _failed(self) -> None:
        self.errors += 1

    # -- receiving --------------------------------------------------------------------------------
    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.messages += 1
        start = time.perf_counter()
        try:
            self._datagram(data, (str(addr[0]), int(addr[1])))
        finally:
            end = time.perf_counter()
            pause = self.work.spend(end - start, end)
            if pause and self._resume is None and hasattr(self.transport, "pause_reading"):
                self._log.warning(("busy",), "OSC control port busy: reading paused (a flood from %s?)", addr[0])
                cast(asyncio.ReadTransport, self.transport).pause_reading()  # the selector loop's can
                self._resume = asyncio.get_running_loop().call_later(pause, self._resume_reading)

    def _resume_reading(self) -> None:
        self._resume = None
        if self.transport is not None and not self.transport.is_closing():
            cast(asyncio.ReadTransport, self.transport).resume_reading()

    def _datagram(self, data: bytes, sender: Address) -> None:
        try:
            self.budget.received(sender[0], len(data), self._now())
            messages = parse_packet(data)
        except ValueError as exc:
            self.errors += 1
            self._log.warning(("malformed",), "malformed OSC control packet from %s: %s", sender[0], exc)
            return
        patterns = 0
        for i, (pattern, args) in enumerate(messages):
            patterns += is_pattern(pattern)
            if patterns > MAX_PATTERNS:  # a pattern costs up to ~0.1 ms: bound the work per packet
                self._too_many(len(messages) - i, sender)
                return
            self._message(pattern, list(args), sender)

    def _too_many(self, rest: int, addr: Address) -> None:
        """The ``rest`` of a packet past ``MAX_PATTERNS`` address patterns: refused, counted, answered once."""
        self.errors += rest
        self._log.warning(("patterns",), "more than %d address patterns in one packet from %s", MAX_PATTERNS, addr[0])
        self.reply(addr, "/posenet/error", "s", [f"more than {MAX_PATTERNS} address patterns in one packet"])

    def _message(self, pattern: str, args: list[Any], addr: Address) -> None:
        """One message of a packet: matched, dispatched on its kind; never raises."""
        try:
            methods = matching(pattern)
        except PatternError as exc:
            self.errors += 1
            self._log.warning(("pattern",), "bad OSC address pattern from %s: %s", addr[0], exc)
            self.reply(addr, "/posenet/error", "s", [f"{pattern[:64]}: {exc}"[:200]])
            return
        except Exception:  # matching must not end the control port either
            self._fault(("bug", "matching"), "matching %r failed", pattern[:64])
            return
        if not methods:
            self.errors += 1
            self._log.warning(("unknown",), "unknown OSC control address %s from %s", pattern[:64], addr[0])
        for method in methods:  # an OSC address pattern may name several
            try:
                self._handlers[method.kind](method, list(args), addr)
            except Ignored as exc:
                self.errors += 1
                self._log.warning(("ignored", method.kind), "%s from %s ignored: %s", method.address, addr[0], exc)
            except Refused as exc:
                self.errors += 1
                self.reply(addr, "/posenet/error", "s", [f"{method.address}: {exc}"[:200]])
            except Exception:  # a bug here must not end the control port
                self._fault(("bug", method.address), "control message %s failed", method.address)

    def _fault(self, key: tuple[str, str], msg: str, *args: object) -> None:
        self.errors += 1
        self.faults += 1
        self._log.warning(key, msg, *args, exc_info=True)

    # -- reads ------------------------------------------------------------------------------------
    def _on_info(self, method: ControlMethod, args: list[Any], addr: Address) -> None:
        at, answer = self._info
        if self._now() - at > INFO_SECONDS:
            s = self.control.status()
            targets = len(self.control.config.targets) + len(self.table)
            answer = [s.device_name, s.state, s.backend, targets]
            self._info = (self._now(), answer)
        self.reply(addr, "/posenet/info", "sssi", answer)

    def _on_discover(self, method: ControlMethod, args: list[Any], addr: Address) -> None:
        """``/posenet/discover [port]``: ``/posenet/here ,ssiii name address control http oscquery``
        to the sender (at ``port``), from the box's address on its subnet (``discover``)."""
        now = self._now()
        local = self.discovery.admit(addr, now)
        if len(args) > 1:
            raise Refused("expected [port]")
        port = _int(args, 0, addr[1])
        if not 1 <= port <= 65535:
            raise Refused(f"port {port} is out of range 1..65535")
        at, facts = self._here
        if now - at > INFO_SECONDS:  # a flood of questions builds the status once per INFO_SECONDS
            facts = here(self.control)
            self._here = (now, facts)
        name, control_port, http_port, oscquery_port = facts
        if self.reply((addr[0], port), "/posenet/here", "ssiii", [name, local, control_port, http_port, oscquery_port]):
            self.discovery.answered += 1

    # -- requests: confirmed by the stream address ------------------------------------------------
    def _ask(self, key: Address, addr: Address, request: Request, now: float) -> None:
        """Send the confirmation of ``request`` to the stream address ``key``, unless one is still
        unanswered there: then nothing more goes there. The lease's own owner may always ask (so a
        forger cannot hold back renewals or changes; only the owner's exact address and port can)."""
        lease = self.table.get(key)
        if (lease is None or lease.owner != addr) and self.outstanding.wait(key, now):
            return
        if self.reply(key, "/posenet/listeners/confirm", "s", [self.nonces.encode(request, key[0], now)]):
            self.outstanding.sent(key, now)

    def _on_add(self, method: ControlMethod, args: list[Any], addr: Address) -> None:
        """``[port [format|preset]] [key]`` or ``[format|preset] [key]``."""
        host, now = addr[0], self._now()
        self.access.subnet(host, now)
        args = self.access.subscribe_key(host, args, now)
        if args and isinstance(args[0], str):
            args = [None, *args]
        if len(args) > 2:
            raise Refused("expected [port [format or preset]], then the subscribe key if the owner set one")
        name = _str(args, 1) if len(args) > 1 else DEFAULT_FORMAT
        fmt, coords, own_port = resolve(name)
        if coords is None:
            raise Refused(f"unknown format {name[:32]!r}; one of {', '.join([*FORMAT_NAMES, *PRESETS])}")
        fallback = own_port or addr[1]
        port = _int(args, 0, fallback) if args and args[0] is not None else fallback
        if not 1 <= port <= 65535:
            raise Refused(f"port {port} is out of range 1..65535")
        key = (host, port)
        why = self.table.full(key)
        if why:
            raise Refused(why)
        flags = (NORMALIZED if coords == "normalized" else 0) | (KEEP if len(args) < 2 else 0)
        self._ask(key, addr, Request(Op.ADD, port, addr[1], FORMAT_NAMES.index(fmt), flags), now)

    def _mine(self, addr: Address, port: int | None, now: float) -> list[Address]:
        """The sender's own stream addresses (``port``'s only, if given); a request about none counts
        as a miss (a guess at someone else's port backs off)."""
        self.access.may_ask(addr[0], now)
        mine = self.table.owned_by(addr, port)
        if not mine:
            self.access.ownership_miss(addr[0], now)
        return mine

    def _on_remove(self, method: ControlMethod, args: list[Any], addr: Address) -> None:
        host, now = addr[0], self._now()
        self.access.subnet(host, now)
        if len(args) > 1:
            raise Refused("expected [port]")
        mine = self._mine(addr, _int(args, 0, None), now)
        if not mine:
            self.reply(addr, "/posenet/listeners/removed", "si", [host, 0])
        for key in mine:
            self._ask(key, addr, Request(Op.REMOVE, key[1], addr[1]), now)

    def _on_clear(self, method: ControlMethod, args: list[Any], addr: Address) -> None:
        host, now = addr[0], self._now()
        self.access.subnet(host, now)
        if (args and isinstance(args[-1], str)) or self.access.local(host):
            self.access.owner(host, args, now)  # the owner ends every subscription, at once
            gone = self.table.drop(list(self.table.snapshot()))
            self.reply(addr, "/posenet/listeners/cleared", "i", [gone])
            return
        mine = self._mine(addr, None, now)
        if not mine:
            self.reply(addr, "/posenet/listeners/cleared", "i", [0])
        for key in mine:
            self._ask(key, addr, Request(Op.CLEAR, key[1], addr[1]), now)

    def _on_option(self, method: ControlMethod, args: list[Any], addr: Address) -> None:
        """``/posenet/format ,s F [port]``, ``/posenet/coords ,s C [port]``, ``/posenet/mirror ,i 0|1 [port]``."""
        host, now = addr[0], self._now()
        self.access.subnet(host, now)
        if len(args) > 2:
            raise Refused("expected a value, then [port]")
        fmt, flags = 0, 0
        if method.key == "mirror":
            flags = MIRROR if _int(args, 0, 0) else 0
        else:
            value = _str(args, 0)
            allowed = FORMAT_NAMES if method.key == "format" else COORDS
            if value not in allowed:
                raise Refused(f"unknown {method.key} {value[:32]!r}; one of {', '.join(allowed)}")
            fmt = FORMAT_NAMES.index(value) if method.key == "format" else 0
            flags = NORMALIZED if value == "normalized" else 0
        mine = self._mine(addr, _int(args, 1, None), now)
        if not mine:
            raise Refused("no subscription of yours to change (subscribe first)")
        op = _OPTION_OPS[method.key]
        for key in mine:
            self._ask(key, addr, Request(op, key[1], addr[1], fmt, flags), now)

    # -- confirmations ----------------------------------------------------------------------------
    def _on_confirm(self, method: ControlMethod, args: list[Any], addr: Address) -> None:
        host, now = addr[0], self._now()
        nonce = args[0] if args and isinstance(args[0], str) else ""
        request = self.nonces.open(nonce, host, now)
        if request is None:  # no answer: the sender may be forged
            raise Ignored("unknown, expired or used confirmation")
        self.access.subnet(host, now)
        if addr[1] != request.sender_port:  # a patch echoing a confirmation someone else asked for
            self.nonces.use(nonce, request, now)
            raise Refused(f"not confirmed: send the confirmation from the port that asked ({request.sender_port})")
        self.access.rate(host, now)
        if not self.nonces.use(nonce, request, now):
            raise Refused("too many confirmations at once; try again")
        self.outstanding.answered((host, request.stream_port))
        self._confirmed[request.op](request, addr, now)

    def _added(self, request: Request, addr: Address, now: float) -> None:
        key = (addr[0], request.stream_port)
        why = self.table.full(key)
        if why:
            raise Refused(why)
        current = self.table.get(key)
        if current is not None and request.flags & KEEP:
            spec = current.spec
        else:
            limit = self.control.config.osc.max_datagram
            coords: Coords = "normalized" if request.flags & NORMALIZED else "pixels"
            fmt = FORMAT_NAMES[request.format]
            mirror = bool(request.flags & MIRROR)
            spec = TargetSpec(key[0], key[1], fmt, coords, mirror, max_datagram=limit, extras=extras_for(fmt))
        lease_s = self.control.config.osc_control.lease_seconds
        self.table.put(key, Lease(spec, addr, now + lease_s))
        level = logging.DEBUG if current else logging.INFO  # renewals every 20 s are not news
        logger.log(level, "subscription %s confirmed for %d s", spec.label, lease_s)
        self.reply(key, "/posenet/listeners/added", "sisi", [spec.host, spec.port, spec.format, lease_s])

    def _owned(self, request: Request, addr: Address) -> Address:
        key = (addr[0], request.stream_port)
        lease = self.table.get(key)
        if lease is None or lease.owner != addr:
            raise Refused("that subscription has ended or changed hands")
        return key

    def _option_changed(self, request: Request, addr: Address, now: float) -> None:
        key = self._owned(request, addr)
        value: str | bool
        if request.op is Op.FORMAT:
            name, value = "format", FORMAT_NAMES[request.format]
        elif request.op is Op.COORDS:
            name, value = "coords", "normalized" if request.flags & NORMALIZED else "pixels"
        else:
            name, value = "mirror", bool(request.flags & MIRROR)
        if name == "format":  # the new format's default stage messages come with it
            self.table.update(key, format=value, extras=extras_for(str(value)))
        else:
            self.table.update(key, **{name: value})
        self.reply(addr, f"/posenet/{name}", "s", [str(value)])

    def _removed(self, request: Request, addr: Address, now: float) -> None:
        gone = self.table.drop([self._owned(request, addr)])
        if request.op is Op.CLEAR:
            self.reply(addr, "/posenet/listeners/cleared", "i", [gone])
        else:
            self.reply(addr, "/posenet/listeners/removed", "si", [addr[0], gone])

    # -- saved settings -----------------------------------------------------------------------------
    def _on_setting(self, method: ControlMethod, args: list[Any], addr: Address) -> None:
        """Change a saved setting for everyone (the owner's); answered once saved (``saver``)."""
        host, now = addr[0], self._now()
        self.access.subnet(host, now)
        section, key = method.key.split(".")
        current = getattr(getattr(self.control.config, section), key)
        if isinstance(current, str):  # a word (a stage's choice): the word, then the access token
            if not args or not isinstance(args[0], str) or len(args[0]) > 64 or self.access.owner(host, args[1:], now):
                raise Refused("expected one word (then the access token)")
            self.saver.want(method.address, section, key, args[0], addr)
            return
        args = self.access.owner(host, args, now)
        if len(args) != 1 or isinstance(args[0], str):
            raise Refused("expected one number (then the access token)")
        if isinstance(current, bool):
            value: Any = bool(_int(args, 0, 0))
        elif isinstance(current, int):  # a stage's whole-number setting
            value = _int(args, 0, 0)
        else:
            value = float(args[0])
        self.saver.want(method.address, section, key, value, addr)

    def _on_section(self, method: ControlMethod, args: list[Any], addr: Address) -> None:
        """Replace a whole saved section (zones, the floor) with JSON (the owner's); validated by the
        configuration like a change over HTTP; answered once saved."""
        host, now = addr[0], self._now()
        self.access.subnet(host, now)
        if not args or not isinstance(args[0], str) or self.access.owner(host, args[1:], now):
            raise Refused("expected the section as JSON (then the access token)")
        if len(args[0]) > MAX_SECTION_JSON:
            raise Refused(f"at most {MAX_SECTION_JSON} characters of JSON")
        try:
            value = json.loads(args[0])
        except (ValueError, RecursionError):
            raise Refused("not JSON") from None
        self.saver.want(method.address, method.key, "", value, addr)

    # -- recordings ------------------------------------------------------------------------------------
    def _on_record(self, method: ControlMethod, args: list[Any], addr: Address) -> None:
        """Start or stop recording (the owner's); the disk work runs off the loop, then answers."""
        host, now = addr[0], self._now()
        self.access.subnet(host, now)
        args = self.access.owner(host, args, now)
        self.access.rate(host, now)
        seconds = float(args[0]) if args and isinstance(args[0], int | float) and args[0] > 0 else None
        desk = self.control.recordings

        def act() -> list[Any]:
            try:
                if method.key == "stop":
                    done = desk.stop()
                    return ["stopped", Path(done.path).name] if done is not None else ["none", ""]
                started = desk.start(None, seconds)
                return [started.state, Path(started.path).name]
            except ApplianceError as exc:
                return ["refused", str(exc)[:160]]

        future = asyncio.get_running_loop().run_in_executor(None, act)

        def answer(f: asyncio.Future[list[Any]]) -> None:
            if f.exception() is not None:
                self._fault(("bug", method.address), "recording %s failed", method.key)
                return
            self.reply(addr, "/posenet/record", "ss", f.result())

        future.add_done_callback(answer)


def _int(args: list[Any], i: int, default: Any) -> Any:
    if len(args) <= i:
        return default
    value = args[i]
    if isinstance(value, float) and value.is_integer():  # Pd sends every number as a float
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise Refused(f"argument {i + 1} must be a whole number")
    return value


def _str(args: list[Any], i: int) -> str:
    if len(args) <= i or not isinstance(args[i], str):
        raise Refused(f"argument {i + 1} must be a string")
    return str(args[i])


async def start_control(control: Steering, host: str, port: int) -> tuple[asyncio.DatagramTransport, ControlProtocol]:
    """Listen for control messages on UDP ``host:port``."""
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(lambda: ControlProtocol(control), local_addr=(host, port))
    return transport, protocol  # type: ignore[return-value]
