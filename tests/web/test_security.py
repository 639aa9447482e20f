"""A visitor on the venue network, tried in process: a box without an owner accepts no change from
another computer, the token never leaves the box, wrong tokens back off, hostile values are refused
with the field named and change nothing, nothing is rewritten for a change that changes nothing,
every response carries the anti-framing headers, OSCQuery checks Host, slow bodies and idle
connections are cut off, and last-known-good never undoes the owner's security settings.

``client`` is the owner on the box itself (loopback); ``visitor`` is another computer (10.1.2.3)."""

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

from appliance.config.models import AppConfig as AppConfigDefaults
from appliance.config.store import ConfigStore
from appliance.control.messages import matching
from appliance.core.app import Application
from appliance.core.factory import Folders
from appliance.web import security
from appliance.web.oscquery import create_oscquery_app
from appliance.web.server import create_app

MODEL = "posenet_mobilenet_v1_075_353_481_16_quant_decoder.tflite"
TOKEN = "s3cret-token-1"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
VISITOR = ("10.1.2.3", 40000)


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
    """The owner, on the box itself (an SSH session, the command line)."""
    with TestClient(create_app(app), base_url="http://127.0.0.1:8080", client=("127.0.0.1", 50000)) as c:
        yield c


@pytest.fixture
def visitor(app: Application) -> Iterator[TestClient]:
    """Another computer on the venue network."""
    with TestClient(create_app(app), base_url="http://10.0.0.2:8080", client=VISITOR) as c:
        yield c


def loc(r: object) -> list[object]:
    return r.json()["detail"][0]["loc"]  # type: ignore[attr-defined, no-any-return]


def test_the_token_is_write_only(client: TestClient, visitor: TestClient, app: Application) -> None:
    assert client.patch("/api/config", json={"http": {"token": TOKEN}}).status_code == 200
    for path in ("/api/config", "/api/status", "/api/config/schema", "/api/targets", "/openapi.json"):
        r = visitor.get(path)
        assert r.status_code == 200 and TOKEN not in r.text, path
    view = visitor.get("/api/config").json()
    assert view["http"]["token_set"] is True and "token" not in view["http"]
    namespace = TestClient(create_oscquery_app(app), base_url="http://127.0.0.1:8081").get("/")
    assert TOKEN not in namespace.text
    # What GET shows can be PUT back: the token stays (and a visitor's change needed it).
    view["device_name"] = "stage-left"
    r = visitor.put("/api/config", json=view)
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    assert visitor.put("/api/config", json=view, headers=AUTH).status_code == 200
    assert app.config.http.token == TOKEN and app.config.device_name == "stage-left"
    # Changing it: the old one authorises, then only the new one works.
    new = "n3w-token-long"
    assert visitor.patch("/api/config", json={"http": {"token": new}}, headers=AUTH).status_code == 200
    assert visitor.patch("/api/config", json={"device_name": "x"}, headers=AUTH).status_code == 401
    assert visitor.patch(
        "/api/config", json={"device_name": "y"}, headers={"Authorization": f"Bearer {new}"}
    ).is_success
    assert visitor.get("/api/config").json()["http"]["token_set"] is True


def test_a_box_without_an_owner_accepts_no_change_from_the_network(
    client: TestClient, visitor: TestClient, app: Application
) -> None:
    """No "first visitor wins": with no token, another computer can neither change the box nor claim
    it; the box itself (loopback) can do both."""
    attempts = [
        ("patch", "/api/config", {"http": {"token": "visitors-own-token"}}),
        ("patch", "/api/config", {"http": {"camera_view": True}}),
        ("patch", "/api/config", {"network": {"discovery": False}}),
        ("post", "/api/targets", {"host": "203.0.113.9", "port": 9000}),
        ("post", "/api/targets", {"host": "broadcast", "port": 9000}),
        ("post", "/api/targets/this-computer", {"port": 9000}),
        ("put", "/api/config", visitor.get("/api/config").json()),
        ("delete", "/api/targets/0", None),
    ]
    for method, path, body in attempts:
        r = getattr(visitor, method)(path, **({"json": body} if body is not None else {}))
        assert r.status_code == 403, (method, path, r.text)
        assert "no owner yet" in r.json()["detail"][0]["msg"]
        r = getattr(visitor, method)(
            path, headers={"Authorization": "Bearer guess-guess-guess"}, **({"json": body} if body is not None else {})
        )
        assert r.status_code in (403, 429), (method, path, r.text)
    assert app.config == AppConfigDefaults() and not app.store.path.exists()
    assert client.patch("/api/config", json={"http": {"token": TOKEN}}).status_code == 200  # the box itself
    with TestClient(create_app(app), base_url="http://10.0.0.2:8080", client=("10.1.2.4", 1)) as owner:
        assert owner.patch("/api/config", json={"device_name": "claimed"}, headers=AUTH).status_code == 200


def test_tokens_are_long_and_a_good_one_is_offered(client: TestClient, app: Application) -> None:
    r = client.patch("/api/config", json={"http": {"token": "short"}})
    assert r.status_code == 422 and loc(r) == ["body", "http", "token"]
    msg = r.json()["detail"][0]["msg"]
    assert "at least 12 characters" in msg
    offered = msg.split("for example ")[1].rstrip(")")
    assert len(offered) >= 20 and client.patch("/api/config", json={"http": {"token": offered}}).status_code == 200
    r = client.patch("/api/config", json={"osc_control": {"subscribe_key": offered}})
    assert r.status_code == 422 and loc(r) == ["body", "osc_control", "subscribe_key"]  # never the token
    assert client.patch("/api/config", json={"osc_control": {"subscribe_key": "patch-key-1"}}).status_code == 200
    view = client.get("/api/config").json()
    assert view["osc_control"]["subscribe_key_set"] is True and "patch-key-1" not in str(view)
    assert app.config.osc_control.subscribe_key == "patch-key-1"


def test_the_hubs_subscribe_key_is_write_only_and_kept_by_a_put(client: TestClient, app: Application) -> None:
    assert client.patch("/api/config", json={"http": {"token": TOKEN}}).status_code == 200
    r = client.patch("/api/config", json={"hub": {"subscribe_key": TOKEN}})
    assert r.status_code == 422 and loc(r) == ["body", "hub", "subscribe_key"]  # never the token
    r = client.patch("/api/config", json={"hub": {"subscribe_key": "two words"}})
    assert r.status_code == 422 and loc(r) == ["body", "hub", "subscribe_key"]
    assert client.get("/api/config").json()["hub"]["subscribe_key_set"] is False
    assert client.patch("/api/config", json={"hub": {"subscribe_key": "venue-key-77"}}).status_code == 200
    view = client.get("/api/config").json()
    assert view["hub"]["subscribe_key_set"] is True and "venue-key-77" not in json.dumps(view)
    view["hub"]["late_ms"] = 200.0
    assert client.put("/api/config", json=view).status_code == 200  # what GET showed, PUT back
    assert app.config.hub.subscribe_key == "venue-key-77" and app.config.hub.late_ms == 200.0  # type: ignore[attr-defined]
    assert "venue-key-77" not in json.dumps(client.get("/api/status").json())
    assert not matching("/posenet/hub/subscribe_key")  # no control-port setting (nor OSCQuery node) shows it


def test_wrong_tokens_back_off_per_source(client: TestClient, app: Application) -> None:
    """A guesser gets 5 tries, then waits 1, 2, 4 ... s per miss (429 + Retry-After), on every method;
    the box itself and other addresses are not held up, and the right token works after the wait."""
    assert client.patch("/api/config", json={"http": {"token": TOKEN}}).status_code == 200
    guard = create_app(app)
    codes = []
    with TestClient(guard, base_url="http://10.0.0.2:8080", client=VISITOR) as guesser:
        for i in range(12):
            r = guesser.patch("/api/config", json={"device_name": "x"}, headers={"Authorization": f"Bearer guess{i}"})
            codes.append(r.status_code)
        assert codes[:5] == [401] * 5 and codes[5] == 401 and set(codes[6:]) == {429}, codes
        r = guesser.get("/api/camera.jpg", headers={"Authorization": "Bearer guess-get"})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        r = guesser.patch("/api/config", json={"device_name": "x"}, headers=AUTH)
        assert r.status_code == 429  # even the right one waits: the guesser cannot probe during the wait
    with TestClient(guard, base_url="http://10.0.0.2:8080", client=("10.9.9.9", 1)) as other:
        assert other.patch("/api/config", json={"device_name": "other"}, headers=AUTH).status_code == 200
    with TestClient(guard, base_url="http://127.0.0.1:8080", client=("127.0.0.1", 1)) as local:
        assert local.patch("/api/config", json={"device_name": "local"}).status_code == 200
    assert guard.backoff.refused >= 6 and guard.refused >= 12  # type: ignore[attr-defined]


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
    assert client.patch("/api/config", json={"http": {"port": port}}).status_code == 202  # free now: on trial


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
        "client": ("127.0.0.1", 1),
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


def test_first_boot_claims_a_box_nobody_claimed(tmp_path: Path) -> None:
    """No token after posenet.json: one is generated, written to the boot partition, never logged."""
    from appliance.service.firstboot import TOKEN_NAME, FirstBootPaths, apply_boot_settings, ensure_owner

    state, boot = tmp_path / "state", tmp_path / "boot"
    boot.mkdir()
    paths = FirstBootPaths(boot, state, tmp_path / "h", tmp_path / "hs")
    (boot / "posenet.json").write_text(json.dumps({"http": {"token": "short"}}))
    assert "invalid" in apply_boot_settings(paths) and "token" in (boot / "posenet.json.error.txt").read_text()
    assert ensure_owner(paths) == f"access token: generated, see {TOKEN_NAME} on the boot partition"
    token = ConfigStore.in_dir(state).load().http.token
    assert len(token) >= 20 and token in (boot / TOKEN_NAME).read_text()
    assert ensure_owner(paths) == "access token: set"  # idempotent: every boot
    (boot / "posenet.json").write_text(json.dumps({"http": {"token": "the-owners-own-token"}}))
    assert apply_boot_settings(paths).startswith("applied")
    assert ConfigStore.in_dir(state).load().http.token == "the-owners-own-token"


def test_claim_from_the_box_itself(tmp_path: Path) -> None:
    """``posenet-appliance claim`` with no service running: saved, printed once, 12+ characters."""
    env = {"PYTHONPATH": str(Path(__file__).resolve().parents[2]), "PATH": "/usr/bin:/bin"}
    run = [sys.executable, "-m", "appliance", "claim", "--state-dir", str(tmp_path), "--http-port", "1"]
    proc = subprocess.run(run, capture_output=True, text=True, timeout=60, check=False, env=env)
    assert proc.returncode == 0, proc.stderr
    token = proc.stdout.split("access token: ")[1].split()[0]
    assert ConfigStore.in_dir(tmp_path).load().http.token == token and len(token) >= 20
    again = subprocess.run([*run, "--if-unclaimed"], capture_output=True, text=True, timeout=60, check=False, env=env)
    assert "already has an access token" in again.stdout and token not in again.stdout
    bad = subprocess.run([*run, "--token", "short"], capture_output=True, text=True, timeout=60, check=False, env=env)
    assert bad.returncode == 2 and bad.stderr.startswith("error: --token: at least 12 characters")


def test_last_known_good_never_undoes_the_owners_security_settings(tmp_path: Path) -> None:
    """The owner sets a token and other settings; the process dies before they ran healthy: the other
    settings are undone, the token (and the camera and key settings) stay."""
    from appliance.service import lastgood

    store = ConfigStore.in_dir(tmp_path)
    store.load()
    store.save({"device_name": "good"})
    (tmp_path / "config.good.json").write_bytes(store.path.read_bytes())
    store.save(
        {
            "device_name": "new",
            "http": {"token": TOKEN, "camera_view": True},
            "osc_control": {"subscribe_key": "k-12345678"},
        }
    )
    lastgood.RunRecord(store).begin()  # the trial begins; then the process dies (no end())
    fresh = ConfigStore.in_dir(tmp_path)
    fresh.load()
    assert "never ran healthy" in lastgood.recover(fresh)
    c = fresh.config
    assert c.device_name == "good" and c.http.token == TOKEN and c.http.camera_view
    assert c.osc_control.subscribe_key == "k-12345678"
    assert ConfigStore.in_dir(tmp_path).load().http.token == TOKEN  # saved, not only in memory


def test_a_death_under_a_flood_is_not_held_against_the_settings(tmp_path: Path) -> None:
    from appliance.service import lastgood

    store = ConfigStore.in_dir(tmp_path)
    store.load()
    store.save({"device_name": "owners-change"})
    record = lastgood.RunRecord(store)
    record.begin()
    record.tick(True, refused=1000, lag_ms=0.0)
    record.tick(True, refused=1000 + lastgood.FLOOD_REFUSALS, lag_ms=0.0)  # a flood of bad packets
    assert "refused" in json.loads((tmp_path / "run.json").read_text())["flood"]
    fresh = ConfigStore.in_dir(tmp_path)
    fresh.load()
    assert lastgood.recover(fresh) == "" and fresh.config.device_name == "owners-change" and not fresh.safe_mode
    record = lastgood.RunRecord(fresh)
    record.begin()
    record.tick(True, refused=0, lag_ms=lastgood.FLOOD_LAG_MS)  # the loop stalled
    assert json.loads((tmp_path / "run.json").read_text())["flood"]
    record.begin()  # a new trial forgets the flood
    assert "flood" not in json.loads((tmp_path / "run.json").read_text())


def test_health_shows_no_paths_to_visitors(client: TestClient, visitor: TestClient, tmp_path: Path) -> None:
    owner_view, visitor_view = client.get("/api/health").text, visitor.get("/api/health").text
    assert str(tmp_path) in owner_view  # the models folder, named for the owner
    assert str(tmp_path) not in visitor_view and "/tmp/" not in visitor_view
    names = [c["name"] for c in visitor.get("/api/health").json()["checks"]]
    assert "access" in names and visitor.get("/api/health").json()["checks"][names.index("access")]["status"] == "warn"


def test_the_owner_cannot_be_cut_off_by_clearing_the_token_remotely(client: TestClient, app: Application) -> None:
    assert client.patch("/api/config", json={"http": {"token": TOKEN}}).status_code == 200
    with TestClient(create_app(app), base_url="http://10.0.0.2:8080", client=("10.1.2.5", 1)) as owner:
        r = owner.patch("/api/config", json={"http": {"token": ""}}, headers=AUTH)
        assert r.status_code == 422 and loc(r) == ["body", "http", "token"] and "lock every computer out" in r.text
        view = owner.get("/api/config").json()
        view["http"]["token"] = ""
        assert owner.put("/api/config", json=view, headers=AUTH).status_code == 422
    assert app.config.http.token == TOKEN
    assert client.patch("/api/config", json={"http": {"token": ""}}).status_code == 200  # on the box itself
