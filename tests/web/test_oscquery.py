"""OSCQuery against a strict reading of Vidvox's proposal and against python-oscquery's own client, on
a real appliance over loopback: the namespace, HOST_INFO, the answers, CORS, and LISTEN over a
WebSocket (the ``websockets`` client)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pythonosc.osc_message import OscMessage

from appliance.config.store import ConfigStore
from appliance.core.app import Application
from appliance.web.oscquery import create_oscquery_app
from tests.support.net import free_tcp_port, free_udp_port
from tests.support.service import appliance_run_args

MODEL = "posenet_mobilenet_v1_075_353_481_16_quant_decoder.tflite"
TAGS = re.compile(r"[ifsbhtdScrmTFNI\[\]]*")


def validate(node: dict[str, Any], path: str = "/") -> int:
    """Every rule of the proposal a client relies on; returns how many nodes were checked."""
    assert node["FULL_PATH"] == path, (node["FULL_PATH"], path)
    assert node.get("ACCESS") in (0, 1, 2, 3), path
    assert isinstance(node.get("DESCRIPTION"), str), path
    if "CONTENTS" in node:
        assert node["ACCESS"] == 0 and "VALUE" not in node and "TYPE" not in node, path
        return 1 + sum(validate(child, f"{path.rstrip('/')}/{name}") for name, child in node["CONTENTS"].items())
    tags = node["TYPE"]
    assert TAGS.fullmatch(tags), (path, tags)
    n = len(tags.replace("[", "").replace("]", ""))
    if node["ACCESS"] & 1:
        assert isinstance(node.get("VALUE"), list), f"{path}: readable without a VALUE"
    if "VALUE" in node:
        assert len(node["VALUE"]) == n, (path, tags, node["VALUE"])
        for tag, v in zip(tags, node["VALUE"], strict=False):
            assert (v is None) if tag in "NI" else isinstance(v, str if tag in "sS" else (int, float)), (path, tag, v)
    if "RANGE" in node:
        assert isinstance(node["RANGE"], list) and len(node["RANGE"]) == n, (path, node["RANGE"])
        assert all(r is None or (isinstance(r, dict) and set(r) <= {"MIN", "MAX", "VALS"}) for r in node["RANGE"])
    return 1


@contextlib.contextmanager
def run_box(models_dir: Path, images_dir: Path, state: Path, target: str, *extra: str) -> Iterator[dict[str, int]]:
    """A real appliance on loopback with OSCQuery, once it has a frame of face.jpg (4 people)."""
    ports = {"http": free_tcp_port(), "oscquery": free_tcp_port(), "control": free_udp_port()}
    args = appliance_run_args(
        f"images:{images_dir}/face.jpg@10",
        models_dir / MODEL,
        state,
        *extra,
        http_port=ports["http"],
        control_port=ports["control"],
        target=target,
    )
    args[args.index("--oscquery-port") + 1] = str(ports["oscquery"])
    proc = subprocess.Popen(
        args, stderr=subprocess.PIPE, text=True, env={**os.environ, "POSENET_MODELS_DIR": str(models_dir)}
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{ports['oscquery']}/poses/amount?VALUE", timeout=1) as r:
                if json.load(r).get("VALUE") == [4]:
                    break
        except OSError:
            pass
        time.sleep(0.2)
    try:
        yield ports
    finally:
        proc.terminate()
        proc.communicate(timeout=15)


@pytest.fixture(scope="module")
def box(models_dir: Path, images_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    with run_box(models_dir, images_dir, tmp_path_factory.mktemp("oscquery"), "127.0.0.1:9/arr") as ports:
        yield ports


def get(ports: dict[str, int], path: str, headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
    request = urllib.request.Request(f"http://127.0.0.1:{ports['oscquery']}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            body = r.read()
            return r.status, json.loads(body) if body else None, r.headers
    except urllib.error.HTTPError as e:
        with e:
            return e.code, None, e.headers


def test_the_namespace_passes_a_strict_reading_of_the_proposal(box: dict[str, int]) -> None:
    status, root, headers = get(box, "/")
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "*"
    assert validate(root) > 150
    assert root["CONTENTS"]["poses"]["CONTENTS"]["amount"]["VALUE"] == [4]
    arr = root["CONTENTS"]["poses"]["CONTENTS"]["arr"]
    assert arr["TYPE"] == "iii" + "f" * 52 * 4 and arr["VALUE"][:3] == [512, 355, 4]  # this frame's people
    nose = root["CONTENTS"]["poses"]["CONTENTS"]["0"]["CONTENTS"]["nose"]
    assert nose["RANGE"][1] == {"MIN": 0.0, "MAX": 512.0}  # individual: camera pixels by default
    wek = root["CONTENTS"]["wek"]["CONTENTS"]["inputs"]
    assert wek["RANGE"][1] == {"MIN": 0.0, "MAX": 1.0}  # wekinator: 0..1
    info = root["CONTENTS"]["posenet"]["CONTENTS"]["info"]
    assert info["TYPE"] == "N" and info["ACCESS"] == 2


def test_python_oscquery_reads_it_whole(box: dict[str, int]) -> None:
    from pythonoscquery.osc_query_client import OSCQueryClient
    from pythonoscquery.shared.osc_path_node import OSCPathNode
    from zeroconf import ServiceInfo

    service = ServiceInfo(
        "_oscjson._tcp.local.",
        "box._oscjson._tcp.local.",
        port=box["oscquery"],
        addresses=[socket.inet_aton("127.0.0.1")],
    )
    client = OSCQueryClient(service)
    host = client.get_host_info()
    assert host is not None and host.osc_ip == "127.0.0.1" and host.osc_port == box["control"]
    assert host.name.startswith("posenet (") and host.extensions["LISTEN"] is True
    root = client.query_node("/")
    assert isinstance(root, OSCPathNode) and root.is_container

    def walk(node: OSCPathNode) -> int:
        return 1 + sum(walk(c) for c in node.contents or [])

    assert walk(root) > 150
    amount = client.query_node("/poses/amount")
    assert amount is not None and amount.value == [4]


@pytest.mark.parametrize(
    ("path", "status", "body"),
    [
        ("/posenet?TYPE", 200, {}),  # a container has no TYPE: an empty object
        ("/posenet/format?VALUE", 204, None),  # write-only
        ("/posenet/format?TYPE", 200, {"TYPE": "s"}),
        ("/posenet?BOGUS", 400, None),
        ("/nope", 404, None),
    ],
)
def test_answers(box: dict[str, int], path: str, status: int, body: object) -> None:
    got = get(box, path)
    assert got[:2] == (status, body)
    # Any origin may read the structure; values never carry CORS headers (see test_oscquery_private).
    assert got[2]["Access-Control-Allow-Origin"] == (None if path.endswith("?VALUE") else "*")


def test_host_info_is_stable_and_names_this_box(box: dict[str, int]) -> None:
    names = {get(box, "/?HOST_INFO")[1]["NAME"] for _ in range(3)}
    assert len(names) == 1
    r = urllib.request.Request(f"http://127.0.0.1:{box['oscquery']}/?HOST_INFO", headers={"Host": "evil.example"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(r, timeout=5)
    refused.value.close()
    assert refused.value.code == 403


def test_before_the_first_frame_a_value_is_an_empty_object(tmp_path: Path) -> None:
    store = ConfigStore.in_dir(tmp_path)
    store.load()
    app = Application(store)  # never started: no frame yet
    try:
        with TestClient(create_oscquery_app(app), base_url="http://127.0.0.1:8081") as oq:
            assert oq.get("/poses/amount?VALUE").json() == {}
            # The whole tree still reads in python-oscquery (it needs a VALUE on readable methods).
            from pythonoscquery.shared.osc_path_node import OSCPathNode

            tree = oq.get("/").json()
            assert validate(tree) > 150 and OSCPathNode.from_json(tree).is_container
            info = oq.get("/?HOST_INFO").json()
            assert "OSC_IP" not in info or info["OSC_IP"]  # never the empty string
            assert info["NAME"].startswith("posenet (")  # what mDNS will call it, from the first answer
    finally:
        app.stop()


def test_listen_streams_values_over_a_websocket(box: dict[str, int]) -> None:
    import websockets

    async def listen() -> list[OscMessage]:
        uri = f"ws://127.0.0.1:{box['oscquery']}/"
        got: list[OscMessage] = []
        async with websockets.connect(uri) as ws:
            await ws.send(json.dumps({"COMMAND": "LISTEN", "DATA": "/poses/amount"}))
            await ws.send(json.dumps({"COMMAND": "LISTEN", "DATA": "/posenet/frame"}))
            while len(got) < 6:
                data = await asyncio.wait_for(ws.recv(), 5)
                assert isinstance(data, bytes)
                got.append(OscMessage(data))
            await ws.send(json.dumps({"COMMAND": "IGNORE", "DATA": "/poses/amount"}))
            settle = time.monotonic() + 0.5  # what was already on its way may still arrive
            while time.monotonic() < settle:
                await asyncio.wait_for(ws.recv(), 5)
            after = [OscMessage(await asyncio.wait_for(ws.recv(), 5)) for _ in range(5)]
        return got + after

    messages = asyncio.run(listen())
    assert {m.address for m in messages[:6]} == {"/poses/amount", "/posenet/frame"}
    assert all(m.params == [4] for m in messages[:6] if m.address == "/poses/amount")
    assert [m.address for m in messages[6:]] == ["/posenet/frame"] * 5  # after IGNORE, no /poses/amount


def test_a_websocket_from_a_rebinding_page_is_refused(box: dict[str, int]) -> None:
    import websockets

    async def attempt() -> None:
        async with websockets.connect(
            f"ws://127.0.0.1:{box['oscquery']}/", additional_headers={"Host": "evil.example"}
        ) as ws:
            await ws.recv()

    with pytest.raises(Exception, match=r"403|1008|rejected"):
        asyncio.run(attempt())


def _patch_targets(ports: dict[str, int], targets: list[dict[str, Any]]) -> None:
    body = json.dumps({"targets": targets}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{ports['http']}/api/config",
        data=body,
        method="PATCH",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        assert r.status == 200


def test_a_shared_address_is_one_node_in_the_coordinates_its_targets_use(
    models_dir: Path, images_dir: Path, tmp_path: Path
) -> None:
    """individual and individual-bundle both send /poses/{i}/{part}. With the only target individual in
    0..1, the node's RANGE is 0..1 and its VALUE is in 0..1 (the later format used to overwrite the
    node: RANGE in pixels beside a 0..1 VALUE); with both coordinates in use, x and y have no RANGE."""
    from pythonoscquery.osc_query_client import OSCQueryClient
    from zeroconf import ServiceInfo

    unit = {"MIN": 0.0, "MAX": 1.0}
    individual = {"host": "127.0.0.1", "port": 9, "format": "individual", "coords": "normalized"}
    with run_box(models_dir, images_dir, tmp_path, "127.0.0.1:9/individual", "--coords", "normalized") as ports:
        service = ServiceInfo(
            "_oscjson._tcp.local.",
            "box._oscjson._tcp.local.",
            port=ports["oscquery"],
            addresses=[socket.inet_aton("127.0.0.1")],
        )
        client = OSCQueryClient(service)
        assert validate(get(ports, "/")[1]) > 150
        node = get(ports, "/poses/0/nose")[1]
        assert node["RANGE"] == [unit, unit, unit]
        assert node["DESCRIPTION"].endswith("(individual, individual-bundle)")
        nose = client.query_node("/poses/0/nose")
        assert nose is not None
        score, x, y = nose.value
        assert 0 < score <= 1 and 0 < x < 1 and 0 < y < 1, nose.value

        # A second target, of the other format, in pixels: no single range is true for x and y.
        _patch_targets(ports, [individual, {**individual, "format": "individual-bundle", "coords": "pixels"}])
        root = get(ports, "/")[1]
        assert validate(root) > 150
        assert root["CONTENTS"]["poses"]["CONTENTS"]["0"]["CONTENTS"]["nose"]["RANGE"] == [unit, None, None]

        # Only pixels: the range and the value follow.
        _patch_targets(ports, [{**individual, "format": "individual-bundle", "coords": "pixels"}])
        node = get(ports, "/poses/0/nose")[1]
        assert node["RANGE"] == [unit, {"MIN": 0.0, "MAX": 512.0}, {"MIN": 0.0, "MAX": 355.0}]
        score, x, y = client.query_node("/poses/0/nose").value  # type: ignore[union-attr]
        assert 1 < x <= 512 and 1 < y <= 355, (x, y)


def test_each_zone_is_a_node_whose_count_is_readable_and_listenable(
    models_dir: Path, images_dir: Path, tmp_path: Path
) -> None:
    """A zone over the whole picture counts face.jpg's 4 people: its count node reads 4 and streams
    over LISTEN; renamed through the API, the node follows the name."""
    import websockets

    door = {"name": "door", "points": [[0, 0], [1, 0], [1, 1], [0, 1]], "point": "centre"}
    (tmp_path / "config.json").write_text(json.dumps({"zones": [door]}))
    with run_box(models_dir, images_dir, tmp_path, "127.0.0.1:9/arr") as ports:
        deadline = time.monotonic() + 10
        while get(ports, "/posenet/zone/door/count?VALUE")[1] != {"VALUE": [4]}:
            assert time.monotonic() < deadline, get(ports, "/posenet/zone/door/count")
            time.sleep(0.2)
        status, node, _ = get(ports, "/posenet/zone/door/count")
        assert status == 200 and node["TYPE"] == "i" and node["ACCESS"] == 1
        assert validate(get(ports, "/")[1]) > 150

        async def listen() -> list[OscMessage]:
            async with websockets.connect(f"ws://127.0.0.1:{ports['oscquery']}/") as ws:
                await ws.send(json.dumps({"COMMAND": "LISTEN", "DATA": "/posenet/zone/door/count"}))
                return [OscMessage(await asyncio.wait_for(ws.recv(), 5)) for _ in range(3)]

        heard = asyncio.run(listen())
        assert [(m.address, m.params) for m in heard] == [("/posenet/zone/door/count", [4])] * 3
        body = json.dumps({"zones": [{**door, "name": "stage"}]}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{ports['http']}/api/config",
            data=body,
            method="PATCH",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as r:
            assert r.status == 200
        deadline = time.monotonic() + 10
        while get(ports, "/posenet/zone/stage/count?VALUE")[1] != {"VALUE": [4]}:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert get(ports, "/posenet/zone/door/count")[0] == 404
