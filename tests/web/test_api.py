"""The HTTP API in process (FastAPI's test client): config, schema, targets, status, guards."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from appliance.config.store import ConfigStore
from appliance.core.app import Application
from appliance.types import Poses
from appliance.web.server import create_app

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Application]:
    store = ConfigStore.in_dir(tmp_path)
    store.load()
    application = Application(store)
    yield application
    application.stop()


@pytest.fixture
def client(app: Application) -> Iterator[TestClient]:
    with TestClient(create_app(app), base_url="http://127.0.0.1:8080", client=("127.0.0.1", 50000)) as c:
        yield c


def test_read_and_replace_config(client: TestClient, app: Application, tmp_path: Path) -> None:
    config = client.get("/api/config").json()
    assert config["schema_version"] == 2
    config["targets"] = [{"host": "127.0.0.5", "port": 7000, "format": "bundle", "coords": "pixels", "mirror": True}]
    r = client.put("/api/config", json=config)
    assert r.status_code == 200 and r.json()["targets"][0]["port"] == 7000
    assert json.loads((tmp_path / "config.json").read_text())["targets"][0]["format"] == "bundle"
    # Changes take effect at once: the running target list follows.
    assert [s.label for s in app.targets.specs] == ["127.0.0.5:7000/bundle"]


def test_invalid_change_is_422_naming_the_field_and_changes_nothing(client: TestClient, tmp_path: Path) -> None:
    client.patch("/api/config", json={"decoder": {"max_poses": 5}})
    before = (tmp_path / "config.json").read_bytes()
    r = client.patch("/api/config", json={"decoder": {"max_poses": 50}, "targets": [{"host": "x", "port": 0}]})
    assert r.status_code == 422
    locs = {tuple(d["loc"]) for d in r.json()["detail"]}
    assert ("body", "decoder", "max_poses") in locs and ("body", "targets", 0, "port") in locs
    assert (tmp_path / "config.json").read_bytes() == before
    r = client.put("/api/config", json={"bogus": True})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "bogus"]


def test_patch_merges(client: TestClient) -> None:
    r = client.patch("/api/config", json={"decoder": {"min_pose_score": 0.4}, "device_name": "stage-left"})
    assert r.status_code == 200
    cfg = client.get("/api/config").json()
    assert cfg["decoder"]["min_pose_score"] == 0.4 and cfg["decoder"]["max_poses"] == 10
    assert cfg["device_name"] == "stage-left"


def test_schema_and_openapi(client: TestClient) -> None:
    schema = client.get("/api/config/schema").json()
    assert schema["additionalProperties"] is False and "targets" in schema["properties"]
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/config", "/api/status", "/api/targets", "/api/poses/stream"} <= set(paths)


def test_openapi_describes_every_answer(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            ok = op["responses"].get("200") or op["responses"].get("201") or op["responses"].get("202")
            assert ok is not None and ok.get("content"), (method, path)
            schema = next(iter(ok["content"].values())).get("schema")
            media = next(iter(ok["content"]))
            assert schema or media != "application/json", (method, path, "no schema")
    status = doc["paths"]["/api/status"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    document = doc["components"]["schemas"][status["$ref"].split("/")[-1]]
    assert {"state", "loop_lag_ms", "pipeline", "targets", "servers", "control"} <= set(document["properties"])


def test_every_answer_matches_its_documented_model(client: TestClient, app: Application) -> None:
    """What each GET route answers validates against the schema /openapi.json documents for it."""
    from jsonschema import Draft202012Validator

    doc = client.get("/openapi.json").json()
    checked = set()
    for path, operations in doc["paths"].items():
        ok = operations.get("get", {}).get("responses", {}).get("200", {})
        schema = ok.get("content", {}).get("application/json", {}).get("schema")
        if schema is None or "{" in path:
            continue
        answer = client.get(path)
        assert answer.status_code == 200, path
        validator = Draft202012Validator({**schema, "components": doc["components"]})
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(answer.json())]
        assert not errors, (path, errors[:5])
        checked.add(path)
    assert {"/api/status", "/api/config", "/api/health", "/api/poses/latest", "/api/choices"} <= checked
    status = client.get("/api/status").json()
    assert status == app.status().to_json() | {"uptime_s": status["uptime_s"]}  # the same keys and values


def test_targets_add_remove_and_this_computer(client: TestClient) -> None:
    r = client.post("/api/targets", json={"host": "127.0.0.4", "port": 9000, "format": "arr"})
    assert r.status_code == 201 and r.json()[-1]["format"] == "arr"
    r = client.post("/api/targets/this-computer", json={"port": 9123, "format": "wekinator"})
    assert r.status_code == 201 and r.json()[-1] == {
        "host": "127.0.0.1",
        "port": 9123,
        "format": "wekinator",
        "coords": "normalized",
        "mirror": False,
        "timetag": "immediate",
    }
    assert client.delete("/api/targets/0").status_code == 200
    assert [t["port"] for t in client.get("/api/targets").json()] == [9123]
    r = client.delete("/api/targets/7")
    assert r.status_code == 404 and r.json()["detail"][0]["loc"] == ["path", "index"]
    for i in range(15):
        client.post("/api/targets", json={"host": "127.0.0.1", "port": 10000 + i})
    r = client.post("/api/targets", json={"host": "127.0.0.1", "port": 11000})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "targets"]


def test_status_and_latest(client: TestClient) -> None:
    s = client.get("/api/status").json()
    assert {"state", "backend", "model", "safe_mode", "device_name"} <= set(s)
    latest = client.get("/api/poses/latest").json()
    assert latest["poses"] == [] and len(latest["names"]) == 17


def test_page_and_static_files_are_served_locally(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert "http" not in page.text.replace("http-equiv", "")  # no CDN
    assert client.get("/static/app.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/static/../server.py").status_code == 404


# -- guards ------------------------------------------------------------------------------------------
def test_foreign_origin_is_refused(client: TestClient) -> None:
    r = client.patch("/api/config", json={"device_name": "x"}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and r.json()["detail"][0]["loc"] == ["header", "origin"]
    ok = client.patch("/api/config", json={"device_name": "x"}, headers={"Origin": "http://127.0.0.1:8080"})
    assert ok.status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "attacker.com:8080", "posenet.evil.example"])
def test_dns_rebinding_host_is_refused(client: TestClient, host: str) -> None:
    r = client.get("/api/status", headers={"Host": host})
    assert r.status_code == 403 and r.json()["detail"][0]["loc"] == ["header", "host"]


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "localhost", "[::1]:8080", "10.1.2.3", "posenet.local"])
def test_own_names_and_addresses_are_accepted(client: TestClient, host: str) -> None:
    assert client.get("/api/status", headers={"Host": host}).status_code == 200


def test_changes_must_be_json(client: TestClient) -> None:
    r = client.post(
        "/api/targets", content=b"host=evil&port=9000", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert r.status_code == 415 and r.json()["detail"][0]["loc"] == ["header", "content-type"]
    r = client.post("/api/targets", content=b'{"host": "a", "port": 1}', headers={"Content-Type": "text/plain"})
    assert r.status_code == 415


def test_token_protects_changes(client: TestClient, app: Application) -> None:
    """The box itself (loopback) is the owner; another computer needs the token."""
    assert client.patch("/api/config", json={"http": {"token": "s3cret-token-1"}}).status_code == 200
    with TestClient(create_app(app), base_url="http://127.0.0.1:8080", client=("10.2.3.4", 1)) as other:
        r = other.patch("/api/config", json={"device_name": "y"})
        assert r.status_code == 401 and r.json()["detail"][0]["loc"] == ["header", "authorization"]
        wrong = {"Authorization": "Bearer wrong"}
        assert other.patch("/api/config", json={"device_name": "y"}, headers=wrong).status_code == 401
        right = {"Authorization": "Bearer s3cret-token-1"}
        assert other.patch("/api/config", json={"device_name": "y"}, headers=right).status_code == 200
        assert other.get("/api/status").status_code == 200  # reading stays open
    assert client.patch("/api/config", json={"device_name": "z"}).status_code == 200  # the box itself


def test_request_size_is_limited(client: TestClient) -> None:
    big = json.dumps({"device_name": "x" * 100_000})
    r = client.patch("/api/config", content=big.encode(), headers=JSON)
    assert r.status_code == 413


def test_chunked_oversized_body_is_refused(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"device_name": "'
        for _ in range(100):
            yield b"x" * 1000
        yield b'"}'

    r = client.patch("/api/config", content=chunks(), headers=JSON)
    assert r.status_code == 413


def test_corrupt_saved_config_starts_in_safe_mode_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"targets": [{"host": "127.0.0.1", "port": 99999}]}')
    store = ConfigStore.in_dir(tmp_path)
    store.load()
    app = Application(store)
    try:
        with TestClient(create_app(app), base_url="http://127.0.0.1", client=("127.0.0.1", 50000)) as client:
            status = client.get("/api/status").json()
            assert status["state"] == "safe mode" and "targets.0.port" in status["safe_mode"]
            # A good change ends safe mode and is saved over the (set-aside) bad file.
            assert client.patch("/api/config", json={"device_name": "fixed"}).status_code == 200
            assert client.get("/api/status").json()["safe_mode"] == ""
    finally:
        app.stop()
    assert any(".bad-" in p.name for p in tmp_path.iterdir())


def test_the_live_stream_carries_at_most_30_frames_a_second() -> None:
    """A box at 120 fps hands a page at most 30 frames a second, dropped on the send thread."""
    import asyncio
    import time

    from appliance.web.stream import StreamListener

    async def run() -> int:
        listener = StreamListener(asyncio.get_running_loop())
        got = 0
        t0 = time.monotonic()
        while time.monotonic() - t0 < 1.0:
            listener.on_poses(Poses(frame_index=1))
            await asyncio.sleep(1 / 120)
            while not listener.queue.empty():
                listener.queue.get_nowait()
                got += 1
        return got

    assert 25 <= asyncio.run(run()) <= 33  # 30 a second, and one more at each end of the window
