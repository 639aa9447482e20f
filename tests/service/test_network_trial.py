"""No setting can cut the owner off: a change of the ports or the bind address is served beside the old
one and kept only when the owner confirms it from the new address; otherwise it is undone by itself
(the real servers of ``serve()``, in process, on loopback; the trial shortened to a few seconds)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from appliance.config.models import AppConfig
from appliance.config.store import ConfigStore
from appliance.core import trial as trial_module
from appliance.core.app import Application
from appliance.core.factory import Folders
from appliance.service.serve import serve
from tests.support.net import free_tcp_port, free_udp_port


def _call(port: int, method: str = "GET", path: str = "/api/status", body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


async def _until(check: Any, seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await asyncio.to_thread(check):
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


@pytest.fixture
def application(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Application:
    monkeypatch.setattr(trial_module, "TRIAL_SECONDS", 4.0)
    (tmp_path / "models").mkdir()
    store = ConfigStore.in_dir(tmp_path / "state")
    store.load()
    store.config = AppConfig.model_validate(
        {
            "source": "synthetic@5",
            "http": {"bind": "127.0.0.1", "port": free_tcp_port()},
            "osc_control": {"port": free_udp_port()},
            "network": {"discovery": False, "oscquery_port": 0},
        }
    )
    return Application(store, Folders(tmp_path / "models", tmp_path / "media"))


def test_a_new_port_is_kept_only_when_confirmed_from_it(application: Application) -> None:
    a = application.config.http.port

    async def scenario() -> None:
        server = asyncio.create_task(serve(application, duration=40))
        await _until(lambda: _listening(a))
        b, c, control_new = free_tcp_port(), free_tcp_port(), free_udp_port()  # picked while a is held
        assert len({a, b, c}) == 3
        code, _ = await asyncio.to_thread(
            _call, a, "PATCH", "/api/config", {"http": {"port": b}, "osc_control": {"port": control_new}}
        )
        assert code == 202
        await _until(lambda: _listening(b))  # the new address serves beside the old one
        code, status = await asyncio.to_thread(_call, b)
        assert code == 200 and status["network_trial"]["changes"] == {"http.port": b, "osc_control.port": control_new}
        assert application.store.load().http.port == a  # nothing saved yet
        # A second network change while one is on trial is refused, naming the field.
        code, doc = await asyncio.to_thread(_call, a, "PATCH", "/api/config", {"http": {"port": c}})
        assert code == 422 and doc["detail"][0]["loc"] == ["body", "http", "port"]
        code, doc = await asyncio.to_thread(_call, a, "POST", "/api/network/confirm")
        assert code == 409 and "new address" in doc["detail"][0]["msg"]  # not from the old address
        code, doc = await asyncio.to_thread(_call, b, "POST", "/api/network/confirm")
        assert code == 200 and doc["kept"]["http.port"] == b
        await _until(lambda: not _listening(a))  # the old address closes
        saved = application.store.load()
        assert saved.http.port == b and saved.osc_control.port == control_new
        code, status = await asyncio.to_thread(_call, b)
        assert "network_trial" not in status and status["servers"]["http"]["port"] == b, status
        assert status["servers"]["osc_control"]["port"] == control_new and "http_trial" not in status["servers"]

        # Unconfirmed: served for the trial, then undone by itself; the box stays where it was.
        code, doc = await asyncio.to_thread(_call, b, "PATCH", "/api/config", {"http": {"port": c}})
        assert code == 202, doc
        await _until(lambda: _listening(c))
        await _until(lambda: not _listening(c), seconds=15)
        assert _listening(b) and application.store.load().http.port == b and application.trial is None
        code, status = await asyncio.to_thread(_call, b)
        assert code == 200 and "http_trial" not in status["servers"]

        # The owner can undo a trial at once, too.
        code, _ = await asyncio.to_thread(_call, b, "PATCH", "/api/config", {"http": {"port": c}})
        assert code == 202
        code, doc = await asyncio.to_thread(_call, b, "DELETE", "/api/network/trial")
        assert code == 200 and doc["undone"] == {"http.port": c}
        await _until(lambda: not _listening(c))
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server

    asyncio.run(scenario())


def test_a_bind_change_on_the_same_port_replaces_the_server_and_comes_back(application: Application) -> None:
    """127.0.0.1 -> 127.0.0.2 on the same port cannot listen beside the old one: the trial server
    replaces it, and the old one comes back when nobody confirms."""
    a = application.config.http.port

    def listening_on(host: str) -> bool:
        with socket.socket() as s:
            s.settimeout(1)
            return s.connect_ex((host, a)) == 0

    async def scenario() -> None:
        server = asyncio.create_task(serve(application, duration=40))
        await _until(lambda: listening_on("127.0.0.1"))
        code, _ = await asyncio.to_thread(_call, a, "PATCH", "/api/config", {"http": {"bind": "127.0.0.2"}})
        assert code == 202
        await _until(lambda: listening_on("127.0.0.2"))
        await _until(lambda: listening_on("127.0.0.1") and not listening_on("127.0.0.2"), seconds=15)
        assert application.store.load().http.bind == "127.0.0.1"
        server.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await server

    asyncio.run(scenario())
