"""Bounded per-connection state (issue 19, item 6), in process: live streams and LISTEN sockets capped
in all and per client address (the oldest or idlest gives way to a newcomer), LISTEN only for paths
that exist, commands paced per socket, the camera picture encoded once per frame however many ask
and rate-limited per client, the OSCQuery namespace built once per change. The same attacks against
the real service, with figures: ``tests/attacks/test_web_floods.py``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from appliance.core.app import Application
from appliance.types import Poses
from appliance.web.camera import CameraView
from appliance.web.deps import CAMERA_BURST, CAMERA_RATE
from appliance.web.limits import ConnectionGuard, guarded_protocol, streaming
from appliance.web.oscquery import OscQueryApp, create_oscquery_app
from appliance.web.oscquery.listen import MAX_SOCKETS_PER_CLIENT, Listener, ListenHub
from appliance.web.server import create_app
from appliance.web.stream import END_OF_STREAM, PoseStreams, StreamListener, _offer
from tests.support.owner import OWNER, change

WS = "ws://127.0.0.1:8081/"


def test_streams_are_capped_per_client_and_in_all_the_oldest_ending() -> None:
    async def run() -> None:
        loop = asyncio.get_running_loop()
        streams = PoseStreams(max_streams=6, max_per_client=2)
        a1, a2, a3 = (StreamListener(loop) for _ in range(3))
        for s in (a1, a2):
            streams.opened(s, "10.0.0.1")
        streams.opened(a3, "10.0.0.1")  # a third from the same computer: its oldest ends
        await asyncio.sleep(0)
        assert a1.queue.get_nowait() is END_OF_STREAM and a2.queue.empty() and len(streams) == 2
        others = [StreamListener(loop) for _ in range(4)]
        for i, s in enumerate(others):
            streams.opened(s, f"10.0.1.{i}")
        assert len(streams) == 6 and a2.queue.empty()
        newcomer = StreamListener(loop)
        streams.opened(newcomer, "10.0.2.1")  # at the bound in all: the oldest of all ends
        await asyncio.sleep(0)
        assert a2.queue.get_nowait() is END_OF_STREAM and len(streams) == 6 and streams.evicted == 2

    asyncio.run(run())


def test_one_event_encoding_per_frame_however_many_streams() -> None:
    streams, poses = PoseStreams(), Poses(frame_index=7)
    first = streams.event(poses)
    assert first.startswith(b'data: {"frame":7') and first.endswith(b"\n\n")
    assert all(streams.event(poses) is first for _ in range(50))


def test_listen_sockets_give_way_idlest_first_per_client_then_in_all() -> None:
    async def run() -> None:
        loop = asyncio.get_running_loop()
        hub = ListenHub(max_sockets=4, max_per_client=2)
        busy = Listener(loop, "10.0.0.1", "")
        busy.paths.add("/poses/amount")
        idle = Listener(loop, "10.0.0.1", "")
        hub.join(busy)
        hub.join(idle)
        third = Listener(loop, "10.0.0.1", "")
        hub.join(third)  # the client's third: its idlest goes
        assert idle.evicted.is_set() and not busy.evicted.is_set() and len(hub) == 2
        third.paths.add("/poses/amount")
        strangers = [Listener(loop, f"10.0.1.{i}", "") for i in range(3)]
        for s in strangers[:2]:
            s.paths.add("/poses/amount")
            hub.join(s)
        assert len(hub) == 4 and not any(s.evicted.is_set() for s in strangers)
        busy.since -= 100  # listening, but the longest without a command
        hub.join(strangers[2])  # at the bound in all: the idlest of all goes
        assert [x for x in (busy, third, *strangers) if x.evicted.is_set()] == [busy] and hub.evicted == 2

    asyncio.run(run())


def test_commands_are_paced_per_socket() -> None:
    async def run() -> float:
        hub = ListenHub(rate=100.0, burst=10.0)
        listener = Listener(asyncio.get_running_loop(), "10.0.0.1", "")
        t0 = time.monotonic()
        for _ in range(60):
            await hub.pace(listener)
        return time.monotonic() - t0

    elapsed = asyncio.run(run())
    assert 0.45 <= elapsed < 10, elapsed  # 10 at once, then 100 a second: at least 0.5 s for 60


def _oscquery(running: Application, client_for: Callable[..., TestClient]) -> tuple[OscQueryApp, TestClient]:
    asgi = create_oscquery_app(running)
    return asgi.app, client_for(asgi, OWNER, "http://127.0.0.1:8081")


def test_listen_only_for_paths_that_exist(running: Application, client_for: Callable[..., TestClient]) -> None:
    app, oq = _oscquery(running, client_for)
    with oq.websocket_connect(WS) as ws:
        for path in ("/nope", "/posenet/format", "/poses", "/" + "x" * 3000, "/poses/amount"):
            ws.send_text(json.dumps({"COMMAND": "LISTEN", "DATA": path}))
        ws.send_text("not json")
        assert ws.receive_bytes().startswith(b"/poses/amount")
        (listener,) = app.listeners
        assert listener.paths == {"/poses/amount"} and app.listeners.ignored == 5


def test_an_idle_socket_gives_way_to_a_newcomer(running: Application, client_for: Callable[..., TestClient]) -> None:
    app, oq = _oscquery(running, client_for)
    sessions = [oq.websocket_connect(WS) for _ in range(MAX_SOCKETS_PER_CLIENT)]
    for ws in sessions:
        ws.__enter__()
    try:
        with oq.websocket_connect(WS) as newcomer:  # one more from the same computer
            assert sessions[0].receive() == {"type": "websocket.close", "code": 1013, "reason": ""}
            newcomer.send_text(json.dumps({"COMMAND": "LISTEN", "DATA": "/poses/amount"}))
            assert newcomer.receive_bytes().startswith(b"/poses/amount")
            assert len(app.listeners) == MAX_SOCKETS_PER_CLIENT and app.listeners.evicted == 1
    finally:
        for ws in sessions:
            with contextlib.suppress(Exception):
                ws.__exit__(None, None, None)


def test_the_namespace_is_built_once_per_change_not_per_request(
    running: Application, client_for: Callable[..., TestClient]
) -> None:
    app, oq = _oscquery(running, client_for)
    for _ in range(20):
        assert oq.get("/").status_code == 200
        assert oq.get("/poses/0/nose").json()["TYPE"] == "fff"
    assert app.namespace.builds == 1
    change(running, decoder={"max_poses": 3})
    assert "3" not in oq.get("/poses").json()["CONTENTS"] and app.namespace.builds == 2


def test_the_picture_is_encoded_once_per_frame_however_many_ask(running: Application) -> None:
    async def run() -> tuple[CameraView, list[object]]:
        camera = CameraView(running)
        pictures = await asyncio.gather(*(camera.jpeg() for _ in range(50)))
        return camera, list(pictures)

    camera, pictures = asyncio.run(run())
    assert camera.served == 50 and camera.encoded <= 2  # a new frame may arrive while encoding (10 fps)
    assert len({id(p) for p in pictures}) == camera.encoded


def test_the_picture_is_rate_limited_per_client(running: Application, client_for: Callable[..., TestClient]) -> None:
    change(running, http={"camera_view": True})
    api = create_app(running)
    owner = client_for(api, OWNER)
    served, t0 = 0, time.monotonic()
    while (r := owner.get("/api/camera.jpg")).status_code == 200 and served < 1000:
        served += 1
    elapsed = time.monotonic() - t0
    assert r.status_code == 429 and r.headers["Retry-After"] == "1", r.text
    assert CAMERA_BURST <= served <= CAMERA_BURST + CAMERA_RATE * elapsed + 1, (served, elapsed)
    other = client_for(api, ("127.0.0.2", 50000))  # another computer (on the box: an owner) has its own budget
    assert other.get("/api/camera.jpg").status_code == 200


def test_the_end_of_a_stream_is_never_dropped_for_newer_frames() -> None:
    """Frames handed to the loop just before a stream is ended must not push the end out of its queue
    (that left evicted streams open, holding their connections busy)."""

    async def run() -> list[Poses]:
        listener = StreamListener(asyncio.get_running_loop(), max_fps=float("inf"))
        for i in range(2):
            listener.on_poses(Poses(frame_index=i))
        listener.end()
        for i in range(2, 5):  # already on their way when the end was given
            _offer(listener.queue, Poses(frame_index=i))
        listener.on_poses(Poses(frame_index=9))  # after the end: not handed over
        await asyncio.sleep(0.01)
        return [listener.queue.get_nowait() for _ in range(listener.queue.qsize())]

    got = asyncio.run(run())
    assert any(p is END_OF_STREAM for p in got) and all(p.frame_index != 9 for p in got)


def _guarded_server(guard: ConnectionGuard) -> tuple[Any, Callable[[], Any]]:
    """A real uvicorn server behind ``guard``: ``/stream`` streams 64 KiB chunks forever (a live
    stream, marked as such), anything else answers "ok"."""
    import uvicorn

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        if scope["path"] != "/stream":
            await send({"type": "http.response.body", "body": b"ok"})
            return
        streaming(scope)

        async def disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        gone = asyncio.ensure_future(disconnect())
        while not gone.done():
            await send({"type": "http.response.body", "body": b"x" * 65536, "more_body": True})
            await asyncio.sleep(0.01)

    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, http=guarded_protocol(guard), log_level="critical", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    return server, server.serve


async def _open(port: int, path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nhost: x\r\n\r\n".encode())
    return reader, writer


def test_streams_and_clients_that_stop_reading_give_way_to_ordinary_requests() -> None:
    async def main() -> None:
        guard = ConnectionGuard(max_connections=4, header_seconds=1.0)
        server, serve = _guarded_server(guard)
        task = asyncio.create_task(serve())
        while not server.started:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        held = [await _open(port, "/stream") for _ in range(4)]  # every connection busy with a stream
        await asyncio.sleep(0.3)
        assert guard.connections == 4
        reader, writer = await _open(port, "/")  # an ordinary request: the oldest stream gives way
        assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"HTTP/1.1 200")
        assert guard.refused == 0 and guard.evicted == 1
        # The streams' clients read nothing: once their writes have been paused for a second, gone.
        await asyncio.sleep(2.5)
        assert guard.timed_out >= 3 and guard.connections <= 1, (guard.timed_out, guard.connections)
        for _, w in [*held, (reader, writer)]:
            w.close()
        server.should_exit = True
        await task

    asyncio.run(main())
