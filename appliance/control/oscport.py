"""The OSC control port (advertised as ``_osc._udp``): how a Max or Pd patch subscribes itself.

Messages (answers go back to the sender's address and port):

* ``/posenet/listeners/add [port [format]]``: add the sender's address with ``port`` (default:
  the sender's own port) as a target; answer ``/posenet/listeners/added ,sis host port format``.
* ``/posenet/listeners/remove [port]``: remove the sender's targets (only that port if given).
* ``/posenet/listeners/clear``: remove every target.
* ``/posenet/format ,s FORMAT`` and ``/posenet/coords ,s pixels|normalized``: set the format or
  coordinates of the sender's targets; ``/posenet/mirror ,i 0|1`` likewise.
* ``/posenet/info``: answer ``/posenet/info ,sssi name state backend targets``.

Targets are bounded (16); a full list answers ``/posenet/error ,s reason``. Malformed packets
and unknown addresses are counted and ignored. Every change goes through ``Control.update``, like
an HTTP change: serialised, validated, saved.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pydantic import ValidationError

from appliance.config.store import describe_errors
from appliance.core.facade import Change, Control
from appliance.core.status import ServerStatus
from appliance.log import LogOnce
from appliance.output.osc import FORMATS
from appliance.output.osc.wire import message, parse_packet
from appliance.transport.targets import MAX_TARGETS

__all__ = ["ControlProtocol", "start_control"]

logger = logging.getLogger(__name__)
_log_once = LogOnce(logger)


class ControlProtocol(asyncio.DatagramProtocol):
    """Handles control datagrams on the event loop; config saves run in a worker thread.

    ``messages`` counts datagrams received, ``errors`` those refused (malformed, unknown, invalid).
    """

    def __init__(self, control: Control) -> None:
        self.control = control
        self.transport: asyncio.DatagramTransport | None = None
        self.messages = 0
        self.errors = 0
        self._pending: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def status(self) -> ServerStatus:
        """This port's status: where it listens and what it handled."""
        port = self.transport.get_extra_info("sockname")[1] if self.transport is not None else 0
        return ServerStatus(port=port, messages=self.messages, rejected=self.errors)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.messages += 1
        try:
            messages = parse_packet(data)
        except ValueError as exc:
            self.errors += 1
            _log_once.warning(("malformed", addr[0]), "malformed OSC control packet from %s: %s", addr[0], exc)
            return
        for address, args in messages:
            task = asyncio.get_running_loop().create_task(self._handle(address, args, addr))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    async def drain(self) -> None:
        """Wait for control changes still being saved (call before closing, on shutdown)."""
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    def reply(self, addr: tuple[str, int], address: str, tags: str, args: list[Any]) -> None:
        """Send an answer to ``addr``; never raises."""
        if self.transport is not None:
            try:
                self.transport.sendto(message(address, tags, args), addr)
            except (OSError, ValueError) as exc:
                _log_once.warning(("reply", addr[0]), "cannot answer %s: %s", addr[0], exc)

    async def _handle(self, address: str, args: list[Any], addr: tuple[str, int]) -> None:
        host, port = addr[0], addr[1]
        try:
            if address == "/posenet/listeners/add":
                await self._add(host, port, args, addr)
            elif address == "/posenet/listeners/remove":
                want = _int(args, 0, None)
                await self._update(
                    lambda c: {
                        **c,
                        "targets": [
                            t for t in c["targets"] if not (t["host"] == host and (want is None or t["port"] == want))
                        ],
                    }
                )
                self.reply(addr, "/posenet/listeners/removed", "s", [host])
            elif address == "/posenet/listeners/clear":
                await self._update(lambda c: {**c, "targets": []})
                self.reply(addr, "/posenet/listeners/cleared", "", [])
            elif address in ("/posenet/format", "/posenet/coords", "/posenet/mirror"):
                key = address.rsplit("/", 1)[1]
                value: Any = bool(_int(args, 0, 0)) if key == "mirror" else _str(args, 0)
                await self._update(
                    lambda c: {**c, "targets": [{**t, key: value} if t["host"] == host else t for t in c["targets"]]}
                )
                self.reply(addr, address, "s", [str(value)])
            elif address == "/posenet/info":
                s = self.control.status()
                targets = len(self.control.config.targets)
                self.reply(addr, "/posenet/info", "sssi", [s.device_name, s.state, s.backend, targets])
            else:
                self.errors += 1
                _log_once.warning(("unknown", address), "unknown OSC control address %s from %s", address, host)
        except (ValueError, TypeError, ValidationError) as exc:
            self.errors += 1
            reason = describe_errors(exc) if isinstance(exc, ValidationError) else str(exc)
            self.reply(addr, "/posenet/error", "s", [f"{address}: {reason}"[:200]])
        except OSError as exc:
            self.errors += 1
            self.reply(addr, "/posenet/error", "s", [f"{address}: could not save: {exc.strerror}"])

    async def _add(self, host: str, sender_port: int, args: list[Any], addr: tuple[str, int]) -> None:
        port = _int(args, 0, sender_port)
        fmt = _str(args, 1) if len(args) > 1 else "individual"
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}")
        full = False

        def change(c: dict[str, Any]) -> dict[str, Any]:
            nonlocal full
            others = [t for t in c["targets"] if not (t["host"] == host and t["port"] == port)]
            if len(others) >= MAX_TARGETS:
                full = True
                return c
            new = {"host": host, "port": port, "format": fmt, "coords": "normalized", "mirror": False}
            return {**c, "targets": [*others, new]}

        await self._update(change)
        if full:
            self.reply(addr, "/posenet/error", "s", [f"target list is full ({MAX_TARGETS})"])
        else:
            self.reply(addr, "/posenet/listeners/added", "sis", [host, port, fmt])

    async def _update(self, change: Change) -> None:
        await asyncio.to_thread(self.control.update, change)


def _int(args: list[Any], i: int, default: Any) -> Any:
    if len(args) <= i:
        return default
    value = args[i]
    if isinstance(value, float) and value.is_integer():  # Pd sends every number as a float
        value = int(value)
    if not isinstance(value, int):
        raise ValueError(f"argument {i + 1} must be a number")
    return value


def _str(args: list[Any], i: int) -> str:
    if len(args) <= i or not isinstance(args[i], str):
        raise ValueError(f"argument {i + 1} must be a string")
    return str(args[i])


async def start_control(control: Control, host: str, port: int) -> tuple[asyncio.DatagramTransport, ControlProtocol]:
    """Listen for control messages on UDP ``host:port``."""
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(lambda: ControlProtocol(control), local_addr=(host, port))
    return transport, protocol  # type: ignore[return-value]
