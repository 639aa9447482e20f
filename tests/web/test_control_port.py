"""The OSC control port over real loopback UDP: subscriptions as confirmed leases, per-sender control,
the access token, bounds, garbage."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import struct
from pathlib import Path
from typing import Any

import pytest
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from appliance.config.store import ConfigStore
from appliance.control import oscport
from appliance.control.oscport import MAX_PER_HOST, start_control
from appliance.core.app import Application


def osc(address: str, *args: Any) -> bytes:
    b = OscMessageBuilder(address=address)
    for a in args:
        b.add_arg(a)
    return bytes(b.build().dgram)


class Patch:
    """A Max/Pd patch stand-in: one UDP socket that sends to the control port and reads what comes."""

    def __init__(self, control_port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
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

    async def subscribe(self, *args: Any) -> OscMessage:
        """add, answer the confirmation (it comes to this socket: the stream's port), get ``added``."""
        confirm = await self.ask(osc("/posenet/listeners/add", *args))
        assert confirm.address == "/posenet/listeners/confirm", confirm.params
        await self.send(osc("/posenet/listeners/confirm", confirm.params[0]))
        return await self.recv()

    def close(self) -> None:
        self.sock.close()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _with_control(tmp_path: Path, body: Any, token: str = "", patches: int = 1) -> None:
    store = ConfigStore.in_dir(tmp_path)
    store.load()
    if token:
        store.save({"http": {"token": token}})
    app = Application(store)
    transport, protocol = await start_control(app, "127.0.0.1", 0)
    app.register_server("osc_control", protocol.status)
    port = transport.get_extra_info("sockname")[1]
    clients = [Patch(port) for _ in range(patches)]
    try:
        await body(app, protocol, *clients)
    finally:
        for c in clients:
            c.close()
        transport.close()
        await asyncio.to_thread(app.stop)


def errors(app: Application) -> int:
    return int(app.status().to_json()["control"]["errors"])


def test_a_patch_subscribes_through_a_confirmation_and_nothing_is_saved(tmp_path: Path) -> None:
    async def body(app: Application, protocol: Any, patch: Patch) -> None:
        added = await patch.subscribe()
        assert added.params == ["127.0.0.1", patch.port, "individual", 60]
        assert {s.label for s in app.targets.specs} == {f"127.0.0.1:{patch.port}/individual"}
        assert app.subscriptions and not (tmp_path / "config.json").exists()
        # The patch changes its own subscription.
        assert (await patch.ask(osc("/posenet/format", "arr"))).params == ["arr"]
        assert (await patch.ask(osc("/posenet/coords", "normalized"))).params == ["normalized"]
        assert (await patch.ask(osc("/posenet/mirror", 1))).params == ["True"]
        (spec,) = app.subscriptions
        assert (spec.format, spec.coords, spec.mirror) == ("arr", "normalized", True)
        reply = await patch.ask(osc("/posenet/info"))
        assert reply.address == "/posenet/info" and reply.params[3] == 1
        reply = await patch.ask(osc("/posenet/listeners/remove"))
        assert reply.params == ["127.0.0.1", 1] and app.subscriptions == () and app.targets.specs == ()

    run(_with_control(tmp_path, body))


def test_the_confirmation_goes_to_the_stream_port_once(tmp_path: Path) -> None:
    """add for another port: the confirm goes there, repeats send nothing more, the sender hears nothing."""

    async def body(app: Application, protocol: Any, patch: Patch, receiver: Patch) -> None:
        for _ in range(5):
            await patch.send(osc("/posenet/listeners/add", receiver.port, "bundle"))
        confirm = await receiver.recv()
        assert confirm.address == "/posenet/listeners/confirm" and confirm.params[0].startswith("n")
        assert await receiver.nothing() and await patch.nothing()
        assert app.subscriptions == ()  # nothing streams before the confirmation
        await receiver.send(osc("/posenet/listeners/confirm", confirm.params[0]))  # from any port
        added = await receiver.recv()
        assert added.params == ["127.0.0.1", receiver.port, "bundle", 60]
        # A wrong or replayed nonce does nothing and gets no answer.
        await receiver.send(osc("/posenet/listeners/confirm", confirm.params[0]))
        await receiver.send(osc("/posenet/listeners/confirm", "nbogus"))
        assert await receiver.nothing() and len(app.subscriptions) == 1 and errors(app) == 2

    run(_with_control(tmp_path, body, patches=2))


def test_two_patches_on_one_computer_control_only_their_own(tmp_path: Path) -> None:
    async def body(app: Application, protocol: Any, a: Patch, b: Patch) -> None:
        await a.subscribe()
        await b.subscribe()
        assert (await b.ask(osc("/posenet/coords", "normalized"))).params == ["normalized"]
        coords = {s.port: s.coords for s in app.subscriptions}
        assert coords == {a.port: "pixels", b.port: "normalized"}  # individual: pixels unless asked
        await b.ask(osc("/posenet/listeners/remove"))
        assert [s.port for s in app.subscriptions] == [a.port]
        # b has nothing left to change, and cannot touch a's subscription by naming its port.
        reply = await b.ask(osc("/posenet/format", "arr", a.port))
        assert reply.address == "/posenet/error" and "no subscription of yours" in reply.params[0]
        assert app.subscriptions[0].format == "individual"

    run(_with_control(tmp_path, body, patches=2))


def test_subscriptions_are_leases(tmp_path: Path) -> None:
    async def body(app: Application, protocol: Any, patch: Patch) -> None:
        clock = [1000.0]
        protocol._now = lambda: clock[0]
        await patch.subscribe()
        clock[0] += 59
        protocol.expire()
        assert len(app.subscriptions) == 1
        await patch.subscribe()  # renewing is the same round trip: the address proves itself again
        clock[0] += 59
        protocol.expire()
        assert len(app.subscriptions) == 1
        clock[0] += 2
        protocol.expire()
        assert app.subscriptions == () and app.targets.specs == ()

    run(_with_control(tmp_path, body))


def test_subscriptions_are_bounded_per_computer(tmp_path: Path) -> None:
    async def body(app: Application, protocol: Any, patch: Patch) -> None:
        for i in range(MAX_PER_HOST):
            receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            receiver.bind(("127.0.0.1", 0))
            receiver.settimeout(5)
            await patch.send(osc("/posenet/listeners/add", receiver.getsockname()[1]))
            nonce = OscMessage(await asyncio.to_thread(receiver.recv, 1000)).params[0]
            await patch.send(osc("/posenet/listeners/confirm", nonce))
            await asyncio.to_thread(receiver.recv, 1000)
            receiver.close()
            assert len(app.subscriptions) == i + 1
        reply = await patch.ask(osc("/posenet/listeners/add", 30000))
        assert reply.address == "/posenet/error" and f"at most {MAX_PER_HOST}" in reply.params[0]

    run(_with_control(tmp_path, body))


def test_with_a_token_changes_need_it_and_reads_stay_open(tmp_path: Path) -> None:
    async def body(app: Application, protocol: Any, patch: Patch) -> None:
        for message in (
            osc("/posenet/listeners/add"),
            osc("/posenet/listeners/add", patch.port, "bundle", "wrong"),
            osc("/posenet/listeners/clear"),
        ):
            reply = await patch.ask(message)
            assert reply.address == "/posenet/error" and "token required" in reply.params[0]
        assert app.subscriptions == ()
        added = await patch.subscribe(patch.port, "bundle", "s3cret")
        assert added.params == ["127.0.0.1", patch.port, "bundle", 60]
        assert (await patch.ask(osc("/posenet/listeners/clear"))).address == "/posenet/error"
        assert len(app.subscriptions) == 1
        assert (await patch.ask(osc("/posenet/info"))).address == "/posenet/info"
        assert (await patch.ask(osc("/posenet/listeners/clear", "s3cret"))).params == [1]
        assert app.subscriptions == ()

    run(_with_control(tmp_path, body, token="s3cret"))


def test_senders_outside_the_box_networks_cannot_subscribe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(oscport, "own_networks", lambda: [ipaddress.ip_network("10.99.0.0/16")])

    async def body(app: Application, protocol: Any, patch: Patch) -> None:
        reply = await patch.ask(osc("/posenet/listeners/add"))
        assert reply.address == "/posenet/error" and "own networks" in reply.params[0]
        app.update(lambda c: {**c, "osc_control": {**c["osc_control"], "subnets_only": False}})
        assert (await patch.subscribe()).address == "/posenet/listeners/added"

    run(_with_control(tmp_path, body))


def test_bad_arguments_get_an_error_answer(tmp_path: Path) -> None:
    async def body(app: Application, protocol: Any, patch: Patch) -> None:
        reply = await patch.ask(osc("/posenet/listeners/add", 70000))
        assert reply.address == "/posenet/error" and "port" in reply.params[0]
        reply = await patch.ask(osc("/posenet/listeners/add", 9000, "json"))
        assert reply.address == "/posenet/error" and "json" in reply.params[0]
        reply = await patch.ask(osc("/posenet/coords", 3))
        assert reply.address == "/posenet/error"
        assert app.subscriptions == () and errors(app) == 3

    run(_with_control(tmp_path, body))


def test_garbage_is_counted_and_ignored(tmp_path: Path) -> None:
    async def body(app: Application, protocol: Any, patch: Patch) -> None:
        # 1,000 bundles nested in each other (the 22 KB datagram that used to raise RecursionError).
        nested = osc("/posenet/info")
        for _ in range(1000):
            nested = b"#bundle\x00" + bytes(8) + struct.pack(">i", len(nested)) + nested
        for junk in (
            b"",
            b"hello",
            b"/posenet/listeners/add\x00",
            b"#bundle\x00" + b"\xff" * 20,
            osc("/unknown/address", 1),
            b"/a\x00\x00,i\x00\x00\x00",
            nested,
        ):
            await patch.send(junk)
        reply = await patch.ask(osc("/posenet/info"))  # still alive, and answers in order
        assert reply.address == "/posenet/info"
        assert errors(app) == 7 and app.subscriptions == ()

    run(_with_control(tmp_path, body))


def test_no_address_is_sent_more_than_it_sent(tmp_path: Path) -> None:
    """Answers to a sender (forged or not) never exceed its bytes plus a small allowance."""

    async def body(app: Application, protocol: Any, patch: Patch) -> None:
        request = osc("/posenet/info")
        for _ in range(100):
            await patch.send(request)
        sizes = []
        while True:
            try:
                sizes.append(len(await asyncio.wait_for(asyncio.get_running_loop().sock_recv(patch.sock, 9999), 0.3)))
            except TimeoutError:
                break
        assert 0 < len(sizes) < 100
        assert sum(sizes) <= 100 * len(request) + oscport.REPLY_ALLOWANCE

    run(_with_control(tmp_path, body))


def test_momentary_methods_take_n_i_or_nothing_and_doubles_are_numbers(tmp_path: Path) -> None:
    """OSCQuery clients send N or I (the proposal's 'no value' types) to momentary methods, and some
    senders (SuperCollider, ossia) send numbers as doubles ``,d``."""

    def typed(address: str, tag: str, value: Any = None) -> bytes:
        def pad(b: bytes) -> bytes:
            return b + b"\0" * (4 - len(b) % 4)

        payload = struct.pack(">d", value) if tag == "d" else b""  # N and I carry no bytes
        return pad(address.encode()) + pad(b"," + tag.encode()) + payload

    async def body(app: Application, protocol: Any, patch: Patch) -> None:
        for message in (osc("/posenet/info"), typed("/posenet/info", "N"), typed("/posenet/info", "I")):
            assert (await patch.ask(message)).address == "/posenet/info"
        assert (await patch.ask(typed("/posenet/listeners/clear", "N"))).params == [0]
        confirm = await patch.ask(typed("/posenet/listeners/add", "d", float(patch.port)))
        await patch.send(osc("/posenet/listeners/confirm", confirm.params[0]))
        assert (await patch.recv()).params[1] == patch.port
        assert (await patch.ask(typed("/posenet/mirror", "d", 1.0))).params == ["True"]
        assert errors(app) == 0

    run(_with_control(tmp_path, body))


def test_address_patterns_are_matched(tmp_path: Path) -> None:
    """OSC 1.0 address patterns: ``?``, ``*``, ``[...]``, ``{a,b}``; a broken one is answered."""

    async def body(app: Application, protocol: Any, patch: Patch) -> None:
        assert (await patch.ask(osc("/posenet/inf?"))).address == "/posenet/info"
        assert (await patch.ask(osc("/posenet/{info,nothing}"))).address == "/posenet/info"
        await patch.subscribe()
        assert (await patch.ask(osc("/posenet/[c]oords", "normalized"))).params == ["normalized"]
        reply = await patch.ask(osc("/posenet/listeners/re*"))  # remove, and only remove
        assert reply.address == "/posenet/listeners/removed" and reply.params == ["127.0.0.1", 1]
        assert await patch.nothing()
        reply = await patch.ask(osc("/posenet/[info"))
        assert reply.address == "/posenet/error" and "unclosed [" in reply.params[0]
        await patch.send(osc("/posenet/*/nothing"))  # matches nothing: counted, no answer
        assert (await patch.ask(osc("/posenet/info"))).address == "/posenet/info"
        assert errors(app) == 2

    run(_with_control(tmp_path, body))


def test_smoothing_is_a_saved_setting_changed_from_a_patch(tmp_path: Path) -> None:
    async def body(app: Application, protocol: Any, patch: Patch) -> None:
        assert (await patch.ask(osc("/posenet/smoothing/enabled", 0))).params == [0]
        assert app.config.smoothing.enabled is False
        reply = await patch.ask(osc("/posenet/smoothing/beta", 7.5))
        assert reply.address == "/posenet/smoothing/beta" and reply.params == [7.5]
        saved = json.loads((tmp_path / "config.json").read_text())
        assert saved["smoothing"]["enabled"] is False and saved["smoothing"]["beta"] == 7.5
        assert app.smoother.config.beta == 7.5  # in force in the running stage
        reply = await patch.ask(osc("/posenet/smoothing/min_cutoff", -1.0))
        assert reply.address == "/posenet/error" and "smoothing.min_cutoff" in reply.params[0]
        assert app.config.smoothing.min_cutoff == 0.8  # unchanged
        # A burst of changes: saved one at a time, the last one wins (superseded ones are not written).
        saves = []
        original = app.store._save_locked
        app.store._save_locked = lambda model: saves.append(model.smoothing.beta) or original(model)  # type: ignore[method-assign]
        for v in range(1, 21):
            await patch.send(osc("/posenet/smoothing/beta", float(v)))
        await asyncio.sleep(0.3)
        await protocol.drain()
        assert app.config.smoothing.beta == 20.0
        assert json.loads((tmp_path / "config.json").read_text())["smoothing"]["beta"] == 20.0
        assert saves[-1] == 20.0 and len(saves) < 20, saves

    run(_with_control(tmp_path, body))


def test_saved_settings_need_the_token_when_one_is_set(tmp_path: Path) -> None:
    async def body(app: Application, protocol: Any, patch: Patch) -> None:
        refused = await patch.ask(osc("/posenet/smoothing/enabled", 0))
        assert refused.address == "/posenet/error" and "token" in refused.params[0]
        assert app.config.smoothing.enabled is True
        assert (await patch.ask(osc("/posenet/smoothing/enabled", 0, "s3cret"))).params == [0]

    run(_with_control(tmp_path, body, token="s3cret"))
