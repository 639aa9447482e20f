"""The OSC control port over real loopback UDP: a patch stand-in, and a port built on a fresh
Application (senders on 127.0.0.x are visitors unless ``local`` says they are the box)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from appliance.config.store import ConfigStore
from appliance.control.oscport import ControlProtocol
from appliance.core.app import Application
from appliance.service.registry import ServerRegistry

__all__ = ["Patch", "osc", "with_control"]


def osc(address: str, *args: Any) -> bytes:
    b = OscMessageBuilder(address=address)
    for a in args:
        b.add_arg(a)
    return bytes(b.build().dgram)


class Patch:
    """A Max/Pd patch stand-in: one UDP socket that sends to the control port and reads what comes."""

    def __init__(self, control_port: int, host: str = "127.0.0.1") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.setblocking(False)
        self.host, self.port = host, self.sock.getsockname()[1]
        self.control = ("127.0.0.1", control_port)

    async def send(self, data: bytes) -> None:
        await asyncio.get_running_loop().sock_sendto(self.sock, data, self.control)

    async def recv(self, wait: float = 5) -> OscMessage:
        return OscMessage(await asyncio.wait_for(asyncio.get_running_loop().sock_recv(self.sock, 65536), wait))

    async def ask(self, data: bytes) -> OscMessage:
        await self.send(data)
        return await self.recv()

    async def nothing(self, wait: float = 0.3) -> bool:
        try:
            await self.recv(wait)
        except TimeoutError:
            return True
        return False

    async def confirmed(self, data: bytes) -> OscMessage:
        """Send a request whose confirmation comes to this socket (its own stream), echo it, and
        return the answer."""
        confirm = await self.ask(data)
        assert confirm.address == "/posenet/listeners/confirm", confirm.params
        await self.send(osc("/posenet/listeners/confirm", confirm.params[0]))
        return await self.recv()

    async def subscribe(self, *args: Any) -> OscMessage:
        """add, answer the confirmation (it comes to this socket: the stream's port), get ``added``."""
        return await self.confirmed(osc("/posenet/listeners/add", *args))

    def close(self) -> None:
        self.sock.close()


async def with_control(
    tmp_path: Path,
    body: Any,
    token: str = "",
    key: str = "",
    patches: int = 1,
    local: bool = False,
    hosts: tuple[str, ...] = (),
) -> None:
    """``await body(app, protocol, *patches)`` with a control port on a fresh Application in
    ``tmp_path`` (its owner's ``token``, the subscribe ``key``), ``patches`` patches on 127.0.0.1 and
    one on each of ``hosts``; ``local``: whether senders count as the box itself."""
    store = ConfigStore.in_dir(tmp_path)
    store.load()
    if token or key:
        store.save({"http": {"token": token}, "osc_control": {"subscribe_key": key}})
    app = Application(store)
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: ControlProtocol(app, local=lambda host: local), local_addr=("127.0.0.1", 0)
    )
    registry = ServerRegistry()
    app.attach(registry)
    registry.register_server("osc_control", protocol.status)
    port = transport.get_extra_info("sockname")[1]
    clients = [Patch(port) for _ in range(patches)] + [Patch(port, h) for h in hosts]
    try:
        await body(app, protocol, *clients)
    finally:
        for c in clients:
            c.close()
        transport.close()
        await protocol.drain()
        await asyncio.to_thread(app.stop)
