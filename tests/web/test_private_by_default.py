"""Private by default (issue 19, item 3), in process against a running Application: the camera
picture only for the owner and only when the owner turned it on; live poses and OSCQuery values
public unless ``http.poses_need_token``; CORS only on the OSCQuery namespace's structure, never on
values; WebSockets only from no origin or this box's own; the doctor's paths only for the owner."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from appliance.core.app import Application
from appliance.web.oscquery import create_oscquery_app
from appliance.web.server import create_app
from tests.support.owner import OWNER, TOKEN, VISITOR, change

BEARER = {"Authorization": f"Bearer {TOKEN}"}
OSCQUERY = "http://127.0.0.1:8081"
FOREIGN = {"Origin": "http://visitor.example"}


def test_the_camera_picture_is_off_by_default_for_everyone(
    running: Application, client_for: Callable[..., TestClient]
) -> None:
    owner = client_for(create_app(running), OWNER)
    r = owner.get("/api/camera.jpg")
    assert r.status_code == 404 and r.json()["detail"][0]["loc"] == ["config", "http", "camera_view"]


def test_the_camera_picture_is_the_owners_only(running: Application, client_for: Callable[..., TestClient]) -> None:
    change(running, http={"camera_view": True, "token": TOKEN})
    api = create_app(running)
    visitor, owner = client_for(api, VISITOR), client_for(api, OWNER)
    refused = visitor.get("/api/camera.jpg")
    assert refused.status_code == 401 and refused.json()["detail"][0]["loc"] == ["header", "authorization"]
    assert visitor.get("/api/camera.jpg", headers={"Authorization": "Bearer wrong-token-000"}).status_code == 401
    for client, headers in ((owner, {}), (visitor, BEARER)):  # on the box itself, or with the token
        r = client.get("/api/camera.jpg", headers=headers)
        assert r.status_code == 200 and r.content[:2] == b"\xff\xd8", r.text
        assert r.headers["Cache-Control"] == "no-store" and r.headers["X-Frame-Size"] == "512x355"


def test_wrong_tokens_on_reads_back_off_like_changes(
    running: Application, client_for: Callable[..., TestClient]
) -> None:
    change(running, http={"camera_view": True, "token": TOKEN})
    visitor = client_for(create_app(running), VISITOR)
    for _ in range(6):  # five misses are free, the sixth blocks this address for a while ...
        assert visitor.get("/api/camera.jpg", headers={"Authorization": "Bearer guess-000000"}).status_code == 401
    # ... during which even the right token is not checked (the security middleware answers 429).
    r = visitor.get("/api/camera.jpg", headers=BEARER)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1


def test_live_poses_are_public_unless_the_owner_says_otherwise(
    running: Application, client_for: Callable[..., TestClient]
) -> None:
    api = create_app(running)
    visitor, owner = client_for(api, VISITOR), client_for(api, OWNER)
    assert len(visitor.get("/api/poses/latest").json()["poses"]) == 4
    change(running, http={"poses_need_token": True, "token": TOKEN})
    for path in ("/api/poses/latest", "/api/poses/stream"):
        r = visitor.get(path)
        assert r.status_code == 401 and r.json()["detail"][0]["loc"] == ["header", "authorization"], path
    assert len(visitor.get("/api/poses/latest", headers=BEARER).json()["poses"]) == 4
    assert len(owner.get("/api/poses/latest").json()["poses"]) == 4


def test_the_doctor_shows_paths_to_the_owner_only(running: Application, client_for: Callable[..., TestClient]) -> None:
    api = create_app(running)
    mine = json.dumps(client_for(api, OWNER).get("/api/health").json(), ensure_ascii=False)
    theirs = json.dumps(client_for(api, VISITOR).get("/api/health").json(), ensure_ascii=False)
    models = str(running.folders.models)
    assert models in mine and models not in theirs
    assert "…/" + running.folders.models.name in theirs


def _nose(tree: dict) -> dict:  # type: ignore[type-arg]
    return tree["CONTENTS"]["poses"]["CONTENTS"]["0"]["CONTENTS"]["nose"]  # type: ignore[no-any-return]


def test_pages_of_other_sites_read_the_namespace_but_no_values(
    running: Application, client_for: Callable[..., TestClient]
) -> None:
    oq = client_for(create_oscquery_app(running), VISITOR, OSCQUERY)
    tool = oq.get("/").json()  # a tool, not a browser: no Origin
    assert _nose(tool)["VALUE"] != [0, 0, 0] and tool["CONTENTS"]["poses"]["CONTENTS"]["amount"]["VALUE"] == [4]
    page = oq.get("/", headers=FOREIGN)
    assert page.headers["Access-Control-Allow-Origin"] == "*" and "Origin" in page.headers["Vary"]
    tree = page.json()
    assert _nose(tree)["VALUE"] == [0, 0, 0] and tree["CONTENTS"]["poses"]["CONTENTS"]["amount"]["VALUE"] == [0]
    assert tree["CONTENTS"]["poses"]["CONTENTS"]["arr"]["TYPE"] == "iii"  # not even how many people
    assert _nose(tree)["RANGE"] == _nose(tool)["RANGE"]  # the structure is the same
    value = oq.get("/poses/amount?VALUE", headers=FOREIGN)
    assert value.status_code == 403 and "access-control-allow-origin" not in value.headers
    own = oq.get("/poses/amount?VALUE", headers={"Origin": OSCQUERY})  # this server's own origin
    assert own.json() == {"VALUE": [4]} and "access-control-allow-origin" not in own.headers
    info = oq.get("/?HOST_INFO", headers=FOREIGN)
    assert info.headers["Access-Control-Allow-Origin"] == "*" and info.json()["OSC_TRANSPORT"] == "UDP"


def _listen(oq: TestClient, headers: dict[str, str]) -> bytes:
    with oq.websocket_connect("ws://127.0.0.1:8081/", headers=headers) as ws:
        ws.send_text(json.dumps({"COMMAND": "LISTEN", "DATA": "/poses/amount"}))
        return ws.receive_bytes()


@pytest.mark.parametrize("origin", ["http://visitor.example", "null", "http://127.0.0.1:8080"])
def test_websockets_from_another_origin_are_refused(
    running: Application, client_for: Callable[..., TestClient], origin: str
) -> None:
    oq = client_for(create_oscquery_app(running), VISITOR, OSCQUERY)
    with pytest.raises(WebSocketDisconnect) as refused:
        _listen(oq, {"Origin": origin})
    assert refused.value.code == 1008
    assert _listen(oq, {}).startswith(b"/poses/amount")  # a tool: no Origin
    assert _listen(oq, {"Origin": OSCQUERY}).startswith(b"/poses/amount")  # this server's own page


def test_with_poses_need_token_values_and_listen_are_the_owners(
    running: Application, client_for: Callable[..., TestClient]
) -> None:
    change(running, http={"poses_need_token": True, "token": TOKEN})
    app = create_oscquery_app(running)
    visitor, owner = client_for(app, VISITOR, OSCQUERY), client_for(app, OWNER, OSCQUERY)
    assert _nose(visitor.get("/").json())["VALUE"] == [0, 0, 0]
    assert visitor.get("/poses/amount?VALUE").status_code == 401
    assert visitor.get("/posenet/smoothing/beta?VALUE").json() == {"VALUE": [running.config.smoothing.beta]}
    with pytest.raises(WebSocketDisconnect) as refused:
        _listen(visitor, {})
    assert refused.value.code == 1008
    assert visitor.get("/poses/amount?VALUE", headers=BEARER).json() == {"VALUE": [4]}
    assert _listen(visitor, BEARER).startswith(b"/poses/amount")  # the token in the handshake
    assert owner.get("/poses/amount?VALUE").json() == {"VALUE": [4]}  # on the box itself
    assert _nose(owner.get("/").json())["VALUE"] != [0, 0, 0]
