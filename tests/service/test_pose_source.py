"""The whole service fed by a source of poses (``scene:``) with no model file: the HTTP status says
no model is needed, and poses arrive as OSC on a real UDP socket (loopback)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import urllib.request
from pathlib import Path
from typing import Any

from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_message import OscMessage

from appliance.config.models import AppConfig
from appliance.config.store import ConfigStore
from appliance.core.app import NO_MODEL, Application
from appliance.core.factory import Folders
from appliance.service.serve import serve
from tests.support.net import free_tcp_port, free_udp_port


def _status(port: int) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=5) as r:
        return json.loads(r.read())


def _addresses(datagram: bytes) -> list[str]:
    bundle = OscBundle(datagram)
    return [OscMessage(bundle.content(i).dgram).address for i in range(bundle.num_contents)]


def test_a_pose_source_runs_the_whole_service_without_a_model(tmp_path: Path, udp_receiver: socket.socket) -> None:
    (tmp_path / "models").mkdir()  # empty: no model file at all
    store = ConfigStore.in_dir(tmp_path / "state")
    store.load()
    http = free_tcp_port()
    store.config = AppConfig.model_validate(
        {
            "source": "scene:2@20",
            "targets": [{"host": "127.0.0.1", "port": udp_receiver.getsockname()[1], "format": "bundle"}],
            "http": {"bind": "127.0.0.1", "port": http},
            "osc_control": {"port": free_udp_port()},
            "network": {"discovery": False, "oscquery_port": 0},
        }
    )
    app = Application(store, Folders(tmp_path / "models", tmp_path / "media"))

    async def scenario() -> tuple[Any, list[bytes]]:
        server = asyncio.create_task(serve(app, duration=30))
        try:
            datagrams: list[bytes] = []
            frames: set[int] = set()
            while len(frames) < 20:  # 20 frames (a bundle target also gets the room's bundles)
                datagrams.append(await asyncio.to_thread(udp_receiver.recv, 65536))
                frames |= {OscMessage(OscBundle(datagrams[-1]).content(0).dgram).params[0]}
            status: Any = None
            for _ in range(50):
                with contextlib.suppress(OSError):
                    status = await asyncio.to_thread(_status, http)
                    if status["pipeline"]["fps"] > 0:
                        break
                await asyncio.sleep(0.1)
            return status, datagrams
        finally:
            server.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await server

    status, datagrams = asyncio.run(scenario())
    assert status["state"] == "running" and status["model"] == NO_MODEL and status["backend"] == "none"
    assert status["source"] == "scene:2@20" and status["pipeline"]["people"] == 2, status
    assert 10 < status["pipeline"]["fps"] < 30 and status["pipeline"]["inference_ms"] == 0
    addresses = [a for d in datagrams for a in _addresses(d)]
    # the two people, tracked, each entering once per scene (the scene loops in step with the clock:
    # a cut may fall in this second, where both leave and enter again)
    enter, leave = addresses.count("/posenet/person/enter"), addresses.count("/posenet/person/leave")
    assert enter - leave == 2 and enter in (2, 4), addresses
    assert addresses.count("/posenet/person/pose") >= 30 and "/posenet/frame" in addresses
