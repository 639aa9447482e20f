"""A visitor on the venue network, tried in process: the token never leaves the box, hostile values are
refused with the field named and change nothing, nothing is rewritten for a change that changes
nothing, every response carries the anti-framing headers, OSCQuery checks Host, slow bodies and idle
connections are cut off."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from appliance.config.store import ConfigStore
from appliance.core.app import Application
from appliance.core.factory import Folders
from appliance.web import security
from appliance.web.oscquery import create_oscquery_app
from appliance.web.server import create_app

MODEL = "posenet_mobilenet_v1_075_353_481_16_quant_decoder.tflite"
AUTH = {"Authorization": "Bearer s3cret"}


@pytest.fixture
def folders(tmp_path: Path) -> Folders:
    (tmp_path / "models").mkdir()
    (tmp_path / "media").mkdir()
    return Folders(tmp_path / "models", tmp_path / "media")


@pytest.fixture
def app(tmp_path: Path, folders: Folders) -> Iterator[Application]:
    store = ConfigStore.in_dir(tmp_path / "state")
    store.load()
    application = Application(store, folders)
    yield application
    application.stop()


@pytest.fixture
def client(app: Application) -> Iterator[TestClient]:
    with TestClient(create_app(app), base_url="http://127.0.0.1:8080") as c:
        yield c


def loc(r: object) -> list[object]:
    return r.json()["detail"][0]["loc"]  # type: ignore[attr-defined, no-any-return]


def test_the_token_is_write_only(client: TestClient, app: Application) -> None:
    assert client.patch("/api/config", json={"http": {"token": "s3cret"}}).status_code == 200
    for path in ("/api/config", "/api/status", "/api/config/schema", "/api/targets", "/openapi.json"):
        r = client.get(path)
        assert r.status_code == 200 and "s3cret" not in r.text, path
    view = client.get("/api/config").json()
    assert view["http"]["token_set"] is True and "token" not in view["http"]
    namespace = TestClient(create_oscquery_app(app), base_url="http://127.0.0.1:8081").get("/")
    assert "s3cret" not in namespace.text
    # What GET shows can be PUT back: the token stays (and the change needed it).
    view["device_name"] = "stage-left"
    assert client.put("/api/config", json=view).status_code == 401
    assert client.put("/api/config", json=view, headers=AUTH).status_code == 200
    assert app.config.http.token == "s3cret" and app.config.device_name == "stage-left"
    # Changing it: the old one authorises, then only the new one works; clearing opens changes again.
    assert client.patch("/api/config", json={"http": {"token": "n3w"}}, headers=AUTH).status_code == 200
    assert client.patch("/api/config", json={"device_name": "x"}, headers=AUTH).status_code == 401
    new = {"Authorization": "Bearer n3w"}
    assert client.patch("/api/config", json={"http": {"token": ""}}, headers=new).status_code == 200
    assert client.patch("/api/config", json={"device_name": "y"}).status_code == 200
    assert client.get("/api/config").json()["http"]["token_set"] is False


@pytest.mark.parametrize(
    ("patch", "where"),
    [
        ({"inference": {"model": "/dev/zero"}}, ["body", "inference", "model"]),
        ({"inference": {"model": "../../etc/passwd"}}, ["body", "inference", "model"]),
        ({"inference": {"model": "missing.tflite"}}, ["body", "inference", "model"]),
        ({"source": "video:/etc/shadow"}, ["body", "source"]),
        ({"source": "images:/etc/*"}, ["body", "source"]),
        ({"source": "images:../../etc/*.conf"}, ["body", "source"]),
        ({"source": "v4l2:/dev/sda"}, ["body", "source"]),
        ({"http": {"bind": "203.0.113.7"}}, ["body", "http", "bind"]),
        ({"http": {"bind": "box.example"}}, ["body", "http", "bind"]),
        ({"http": {"port": "7"}}, ["body", "http", "port"]),
        ({"decoder": {"max_poses": True}}, ["body", "decoder", "max_poses"]),
        ({"device_name": "posenet\n"}, ["body", "device_name"]),
        ({"network": {"oscquery_port": 8080}}, ["body"]),
        ({"http": {"allowed_hosts": ["evil example"]}}, ["body", "http", "allowed_hosts"]),
    ],
)
def test_hostile_values_are_refused_naming_the_field(
    client: TestClient, app: Application, patch: dict[str, object], where: list[object]
) -> None:
    before = app.config
    r = client.patch("/api/config", json=patch)
    assert r.status_code == 422, r.text
    assert loc(r) == where
    assert app.config == before and not app.store.path.exists()
    assert "passwd" not in r.text.replace(str(patch), "") and "shadow" not in r.json()["detail"][0]["msg"]


def test_a_port_held_by_another_program_is_refused(client: TestClient, app: Application) -> None:
    with socket.socket() as other:
        other.bind(("0.0.0.0", 0))
        other.listen()
        port = other.getsockname()[1]
        r = client.patch("/api/config", json={"http": {"port": port}})
    assert r.status_code == 422 and loc(r) == ["body", "http", "port"] and "in use" in r.json()["detail"][0]["msg"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
        other.bind(("0.0.0.0", 0))
        r = client.patch("/api/config", json={"osc_control": {"port": other.getsockname()[1]}})
    assert r.status_code == 422 and loc(r) == ["body", "osc_control", "port"]
    assert client.patch("/api/config", json={"http": {"port": port}}).status_code == 200  # free now


def test_a_privileged_port_is_refused_for_the_service_user(tmp_path: Path) -> None:
    """The service runs as its own user without capabilities: it cannot bind port 80, so the change is
    refused, not saved (here: root without CAP_NET_BIND_SERVICE, which is what the unit has)."""
    if shutil.which("setpriv") is None:
        pytest.fail("setpriv (util-linux) is needed")
    code = (
        "from pathlib import Path\n"
        "from appliance.config.models import AppConfig\n"
        "from appliance.core.checks import check_change\n"
        "from appliance.errors import RefusedChange\n"
        "old = AppConfig()\n"
        "try:\n"
        "    check_change(old, AppConfig.model_validate({'http': {'port': 80}}), Path('/nonexistent'))\n"
        "except RefusedChange as exc:\n"
        "    print(exc)\n"
    )
    proc = subprocess.run(
        ["setpriv", "--bounding-set=-net_bind_service", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.stdout.strip() == "http.port: cannot listen there: port 80 is privileged (below 1024) for the service"


def test_models_and_media_are_named_inside_their_folders(
    client: TestClient, app: Application, folders: Folders, models_dir: Path
) -> None:
    (folders.models / MODEL).write_bytes((models_dir / MODEL).read_bytes())
    (folders.models / "fifo.tflite").symlink_to("/dev/zero")
    r = client.patch("/api/config", json={"inference": {"model": "fifo.tflite"}})
    assert r.status_code == 422 and loc(r) == ["body", "inference", "model"]
    assert client.patch("/api/config", json={"inference": {"model": MODEL}}).status_code == 200
    assert client.patch("/api/config", json={"source": "images:*.jpg@5"}).status_code == 200
    assert app.folders.media == folders.media


def test_a_change_that_changes_nothing_writes_nothing(client: TestClient, app: Application) -> None:
    assert client.patch("/api/config", json={"device_name": "same"}).status_code == 200
    before = app.store.path.stat()
    for _ in range(20):
        assert client.patch("/api/config", json={"device_name": "same"}).status_code == 200
        assert client.put("/api/config", json=client.get("/api/config").json()).status_code == 200
    after = app.store.path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert not app.store.path.with_name("config.json.bak").exists()


@pytest.mark.parametrize("path", ["/", "/api/status", "/static/app.js", "/nope"])
def test_every_answer_forbids_framing(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"


def test_oscquery_checks_host_and_is_read_only(app: Application) -> None:
    with TestClient(create_oscquery_app(app), base_url="http://127.0.0.1:8081") as oq:
        assert oq.get("/?HOST_INFO").status_code == 200
        r = oq.get("/?HOST_INFO", headers={"Host": "attacker.example"})
        assert r.status_code == 403 and "NAME" not in r.text
        assert oq.post("/", json={}).status_code == 405
        assert oq.get("/").headers["x-frame-options"] == "DENY"


def test_a_slow_body_is_cut_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(security, "BODY_SECONDS", 0.2)
    sent: list[dict[str, object]] = []

    async def never(scope: object, receive: object, send: object) -> None:  # pragma: no cover
        raise AssertionError("the app must not be reached")

    async def receive() -> dict[str, object]:
        await asyncio.sleep(0.1)
        return {"type": "http.request", "body": b"x", "more_body": True}  # a byte at a time, forever

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    mw = security.SecurityMiddleware(never, token=lambda: "", extra_hosts=lambda: [])
    scope = {
        "type": "http",
        "method": "POST",
        "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"), (b"content-length", b"9000")],
    }
    asyncio.run(mw(scope, receive, send))  # type: ignore[arg-type]
    assert sent[0]["status"] == 408


def test_idle_connections_are_closed_and_evicted_for_newcomers() -> None:
    """A small guard (4 connections, 0.5 s to send a request) on a real uvicorn server."""
    import uvicorn

    from appliance.web.limits import ConnectionGuard, guarded_protocol

    async def ok(scope: dict[str, object], receive: object, send: object) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b"ok"})  # type: ignore[operator]

    async def main() -> None:
        guard = ConnectionGuard(max_connections=4, header_seconds=0.5)
        config = uvicorn.Config(ok, host="127.0.0.1", port=0, http=guarded_protocol(guard), log_level="error")
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(4)]
        await asyncio.sleep(0.1)
        assert guard.connections == 4
        reader, writer = await asyncio.open_connection("127.0.0.1", port)  # the fifth: someone evicted
        writer.write(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        assert (await asyncio.wait_for(reader.readline(), 2)).startswith(b"HTTP/1.1 200")
        assert guard.evicted == 1
        assert await asyncio.wait_for(idle[0][0].read(), 2) == b""  # the oldest idle one was closed
        await asyncio.sleep(2.0)
        assert guard.timed_out >= 3 and guard.connections <= 1
        for _, w in [*idle, (reader, writer)]:
            w.close()
        server.should_exit = True
        await task

    asyncio.run(main())


def test_boot_partition_settings_recover_a_lost_token(tmp_path: Path) -> None:
    from appliance.service.firstboot import FirstBootPaths, apply_boot_settings

    state, boot = tmp_path / "state", tmp_path / "boot"
    boot.mkdir()
    store = ConfigStore.in_dir(state)
    store.load()
    store.save({"http": {"token": "forgotten"}, "targets": [{"host": "10.0.0.5", "port": 9000}]})
    (boot / "posenet.json").write_text(json.dumps({"http": {"token": ""}}))
    assert apply_boot_settings(FirstBootPaths(boot, state, tmp_path / "h", tmp_path / "hs")).startswith("applied")
    saved = ConfigStore.in_dir(state).load()
    assert saved.http.token == "" and saved.targets[0].host == "10.0.0.5"  # the rest is kept
