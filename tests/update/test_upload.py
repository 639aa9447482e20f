"""``POST /api/update``: the owner's upload is bounded, verified before anything changes, and handed to
the privileged installer (here run as ``posenet-appliance update pending``, as the path unit does)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

from appliance.cli import main as cli
from appliance.config.store import ConfigStore
from appliance.core.app import Application
from appliance.core.factory import Folders
from appliance.update.command import PENDING
from appliance.web.routes import update as route
from appliance.web.server import create_app
from tests.update.helpers import Box, flip, member_offset

OWNER, VISITOR = ("127.0.0.1", 50000), ("10.1.2.3", 40000)
TOKEN = "owner-token-0123"
OCTETS = {"content-type": "application/octet-stream"}


@pytest.fixture
def web(box: Box, monkeypatch: pytest.MonkeyPatch, models_dir: Path, images_dir: Path) -> Iterator[TestClient]:
    monkeypatch.setenv("POSENET_PREFIX", str(box.layout.prefix))
    store = ConfigStore.in_dir(box.layout.state_dir)
    store.load()
    app = Application(store, Folders(models_dir, images_dir))
    with TestClient(create_app(app), base_url="http://127.0.0.1:8080", client=OWNER) as client:
        yield client


def nothing_left(box: Box) -> None:
    work = box.layout.state_dir / "update"
    assert not (box.layout.state_dir / PENDING).exists()
    assert not (work / "upload.part").exists()
    assert box.runs() == "standin 0.1.0 dep-1.0"


def test_the_owner_uploads_an_update_and_the_installer_takes_it(web: TestClient, box: Box) -> None:
    file = box.update("0.2.0")
    r = web.post("/api/update", content=file.read_bytes(), headers=OCTETS)
    assert r.status_code == 202, r.text
    assert r.json()["update"]["state"] == "pending" and r.json()["update"]["version"] == "0.2.0"
    assert (box.layout.state_dir / PENDING).read_bytes() == file.read_bytes()
    assert web.get("/api/status").json()["update"]["state"] == "pending"
    again = web.post("/api/update", content=file.read_bytes(), headers=OCTETS)
    assert again.status_code == 409  # one at a time
    prefix, state = str(box.layout.prefix), str(box.layout.state_dir)
    assert cli(["update", "pending", "--prefix", prefix, "--state-dir", state, "--no-restart"]) == 0
    assert box.runs() == "standin 0.2.0 dep-1.0"
    assert not (box.layout.state_dir / PENDING).exists()
    assert web.get("/api/status").json()["update"]["state"] == "trial"  # at its next start


def test_visitors_cannot_update(web: TestClient, box: Box) -> None:
    file = box.update("0.2.0").read_bytes()
    r = web.post("/api/update", content=file, headers=OCTETS)  # sanity: the owner could
    assert r.status_code == 202
    (box.layout.state_dir / PENDING).unlink()
    visitor = TestClient(web.app, base_url="http://127.0.0.1:8080", client=VISITOR)
    assert visitor.post("/api/update", content=file, headers=OCTETS).status_code == 403  # unclaimed box
    nothing_left(box)


def test_a_tampered_upload_is_refused_with_one_line(web: TestClient, box: Box) -> None:
    file = box.update("0.2.0")
    flip(file, member_offset(file, "wheels/standin_dep-1.0-py3-none-any.whl") + 50)
    r = web.post("/api/update", content=file.read_bytes(), headers=OCTETS)
    assert r.status_code == 422, r.text
    msg = r.json()["detail"][0]["msg"]
    assert "does not match its signed hash" in msg and "\n" not in msg
    nothing_left(box)


def test_uploads_are_bounded_before_they_are_read(web: TestClient, box: Box, monkeypatch: pytest.MonkeyPatch) -> None:
    big = {**OCTETS, "content-length": str(route.MAX_UPDATE_BYTES + 1)}
    r = web.post("/api/update", content=b"x", headers=big)
    assert r.status_code == 413 and "at most 200 MiB" in r.text
    assert web.post("/api/update", content=b"{}", headers={"content-type": "application/json"}).status_code == 415
    r = web.post("/api/update", content=iter([b"x" * 100]), headers=OCTETS)  # chunked: no length
    assert r.status_code == 411
    monkeypatch.setattr(route, "RESERVE_BYTES", 1 << 60)
    r = web.post("/api/update", content=box.update("0.2.0").read_bytes(), headers=OCTETS)
    assert r.status_code == 507 and "too little free disk" in r.text
    nothing_left(box)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_trickled_upload_is_cut_off(web: TestClient, box: Box, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real server and a real socket: 10 bytes, then silence. The route answers 408 after
    CHUNK_SECONDS, removes what it received, and the next upload goes through."""
    monkeypatch.setattr(route, "CHUNK_SECONDS", 1.0)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(web.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            head = "POST /api/update HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
            s.sendall((head + "Content-Length: 1000000\r\n\r\n").encode() + b"0123456789")
            t0 = time.monotonic()
            answer = s.recv(4096).decode()
            took = time.monotonic() - t0
        print(f"trickled upload answered after {took:.2f} s: {answer.splitlines()[0]}")
        assert answer.startswith("HTTP/1.1 408") and took < 5
        assert not (box.layout.state_dir / "update/upload.part").exists()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    nothing_left(box)
