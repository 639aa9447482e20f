"""The OSC control port over real loopback UDP: subscribe, answers, setters, bounds, garbage."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from appliance.config.store import ConfigStore
from appliance.control.oscport import start_control
from appliance.core.app import Application
from appliance.transport.targets import MAX_TARGETS


def osc(address: str, *args: Any) -> bytes:
    b = OscMessageBuilder(address=address)
    for a in args:
        b.add_arg(a)
    return bytes(b.build().dgram)


class Patch:
    """A Max/Pd patch stand-in: one UDP socket that sends to the control port and reads answers."""

    def __init__(self, control_port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.control = ("127.0.0.1", control_port)

    async def ask(self, data: bytes) -> OscMessage:
        loop = asyncio.get_running_loop()
        await loop.sock_sendto(self.sock, data, self.control)
        reply = await asyncio.wait_for(loop.sock_recv(self.sock, 65536), 5)
        return OscMessage(reply)

    def close(self) -> None:
        self.sock.close()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _with_control(tmp_path: Path, body: Any) -> None:
    store = ConfigStore.in_dir(tmp_path)
    store.load()
    app = Application(store)
    transport, protocol = await start_control(app, "127.0.0.1", 0)
    app.register_server("osc_control", protocol.status)
    patch = Patch(transport.get_extra_info("sockname")[1])
    try:
        await body(app, patch)
    finally:
        patch.close()
        transport.close()
        await asyncio.to_thread(app.stop)


def test_a_patch_subscribes_itself_and_is_saved(tmp_path: Path) -> None:
    async def body(app: Application, patch: Patch) -> None:
        reply = await patch.ask(osc("/posenet/listeners/add"))
        assert reply.address == "/posenet/listeners/added" and reply.params == ["127.0.0.1", patch.port, "individual"]
        reply = await patch.ask(osc("/posenet/listeners/add", 9500.0, "bundle"))  # Pd sends floats
        assert reply.params == ["127.0.0.1", 9500, "bundle"]
        saved = ConfigStore.in_dir(tmp_path).load()
        assert [(t.port, t.format) for t in saved.targets] == [(patch.port, "individual"), (9500, "bundle")]
        assert {s.label for s in app.targets.specs} == {f"127.0.0.1:{patch.port}/individual", "127.0.0.1:9500/bundle"}
        reply = await patch.ask(osc("/posenet/format", "arr"))
        assert reply.params == ["arr"]
        assert {t.format for t in app.store.config.targets} == {"arr"}
        reply = await patch.ask(osc("/posenet/coords", "pixels"))
        assert {t.coords for t in app.store.config.targets} == {"pixels"}
        await patch.ask(osc("/posenet/listeners/remove", 9500))
        assert [t.port for t in app.store.config.targets] == [patch.port]
        reply = await patch.ask(osc("/posenet/info"))
        assert reply.address == "/posenet/info" and reply.params[3] == 1
        await patch.ask(osc("/posenet/listeners/clear"))
        assert app.store.config.targets == []

    run(_with_control(tmp_path, body))


def test_targets_are_bounded(tmp_path: Path) -> None:
    async def body(app: Application, patch: Patch) -> None:
        for i in range(MAX_TARGETS):
            assert (await patch.ask(osc("/posenet/listeners/add", 20000 + i))).address == "/posenet/listeners/added"
        reply = await patch.ask(osc("/posenet/listeners/add", 30000))
        assert reply.address == "/posenet/error" and "full" in reply.params[0]
        assert len(app.store.config.targets) == MAX_TARGETS

    run(_with_control(tmp_path, body))


def test_bad_arguments_get_an_error_answer(tmp_path: Path) -> None:
    async def body(app: Application, patch: Patch) -> None:
        reply = await patch.ask(osc("/posenet/listeners/add", 70000))
        assert reply.address == "/posenet/error" and "port" in reply.params[0]
        reply = await patch.ask(osc("/posenet/listeners/add", 9000, "json"))
        assert reply.address == "/posenet/error" and "json" in reply.params[0]
        reply = await patch.ask(osc("/posenet/coords", 3))
        assert reply.address == "/posenet/error"
        assert app.store.config.targets == [] and app.status().to_json()["control"]["errors"] == 3

    run(_with_control(tmp_path, body))


def test_garbage_is_counted_and_ignored(tmp_path: Path) -> None:
    async def body(app: Application, patch: Patch) -> None:
        loop = asyncio.get_running_loop()
        for junk in (
            b"",
            b"hello",
            b"/posenet/listeners/add\x00",
            b"#bundle\x00" + b"\xff" * 20,
            osc("/unknown/address", 1),
            b"/a\x00\x00,i\x00\x00\x00",
        ):
            await loop.sock_sendto(patch.sock, junk, patch.control)
        reply = await patch.ask(osc("/posenet/info"))  # still alive, and answers in order
        assert reply.address == "/posenet/info"
        assert app.status().to_json()["control"]["errors"] == 6 and app.store.config.targets == []

    run(_with_control(tmp_path, body))
