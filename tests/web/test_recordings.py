"""/api/recordings: the owner records, lists, downloads and deletes; a visitor can do none of it;
bad names get a 400 naming the field; a recording of the running box replays."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from appliance.core.app import Application
from appliance.recording.fileformat import open_recording
from appliance.web.server import create_app
from tests.support.owner import OWNER, TOKEN, VISITOR, change


def test_the_owner_records_lists_downloads_and_deletes(running: Application, client_for: Callable[..., Any]) -> None:
    api: TestClient = client_for(create_app(running), OWNER)
    assert api.get("/api/recordings").json()["recordings"] == []
    r = api.post("/api/recordings", json={"name": "evening.jsonl"})
    assert r.status_code == 201 and r.json()["state"] == "recording", r.text
    assert api.post("/api/recordings", json={}).status_code == 409  # one at a time
    time.sleep(1.0)  # 10 fps: about ten frames
    status = api.get("/api/status").json()["recording"]
    assert status["name"] == "evening.jsonl" and status["state"] == "recording"
    stopped = api.post("/api/recordings/stop").json()
    assert stopped["state"] == "stopped" and stopped["frames"] >= 5
    assert api.post("/api/recordings/stop").status_code == 404
    listed = api.get("/api/recordings").json()
    assert [f["name"] for f in listed["recordings"]] == ["evening.jsonl"]
    body = api.get("/api/recordings/evening.jsonl")
    assert body.status_code == 200 and body.headers["content-type"].startswith("application/x-ndjson")
    path = running.recordings.path("evening.jsonl")
    assert body.content == path.read_bytes()
    rec = open_recording(path)
    frames = list(rec.frames())
    assert len(frames) == stopped["frames"] and all(len(f.poses) == 4 for f in frames)
    assert "token" not in rec.header.settings.get("http", {}) and rec.header.model
    assert api.delete("/api/recordings/evening.jsonl").json() == {"deleted": "evening.jsonl"}
    assert api.get("/api/recordings/evening.jsonl").status_code == 404


def test_recordings_are_for_the_owner_only(running: Application, client_for: Callable[..., Any]) -> None:
    change(running, http={"token": TOKEN})
    visitor: TestClient = client_for(create_app(running), VISITOR)
    owner: TestClient = client_for(create_app(running), OWNER)
    assert owner.post("/api/recordings", json={"name": "private.jsonl", "seconds": 30}).status_code == 201
    try:
        assert visitor.get("/api/recordings").status_code == 401
        assert visitor.get("/api/recordings/private.jsonl").status_code == 401
        assert visitor.post("/api/recordings/stop").status_code in (401, 403)
        assert visitor.delete("/api/recordings/private.jsonl").status_code in (401, 403)
        # a visitor may see that the box records (people in front of it may ask), not what
        assert visitor.get("/api/status").json()["recording"]["state"] == "recording"
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert visitor.get("/api/recordings", headers=auth).status_code == 200
        assert running.recordings.status().state == "recording"  # type: ignore[union-attr]
    finally:
        owner.post("/api/recordings/stop")
        owner.delete("/api/recordings/private.jsonl")


def test_bad_names_and_durations_name_the_field(running: Application, client_for: Callable[..., Any]) -> None:
    api: TestClient = client_for(create_app(running), OWNER)
    for name in ("../config.json", "x.json", ".hidden.jsonl", "a/b.jsonl", "a" * 70 + ".jsonl"):
        r = api.post("/api/recordings", json={"name": name})
        assert r.status_code in (400, 422), (name, r.text)
        assert r.json()["detail"][0]["loc"][-1] == "name", r.text
    r = api.post("/api/recordings", json={"seconds": -1})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "seconds"
    assert api.get("/api/recordings/..%2Fconfig.json").status_code in (400, 404)
    assert api.get("/api/recordings/config.json").status_code == 400
    assert api.delete("/api/recordings/nope.jsonl").status_code == 404
    last = running.recordings.status()
    assert last is None or last.state != "recording"


def test_a_recording_with_video_keeps_the_frames(running: Application, client_for: Callable[..., Any]) -> None:
    """The video's frames are the recorded frames: as many, each line naming its own (``v``), and it
    plays as a video source."""
    from appliance.capture import create_source
    from appliance.capture.base import EndOfSource

    api: TestClient = client_for(create_app(running), OWNER)
    assert api.post("/api/recordings", json={"name": "seen.jsonl", "video": True}).status_code == 201
    time.sleep(1.2)
    stopped = api.post("/api/recordings/stop").json()
    assert stopped["frames"] >= 5
    listed = api.get("/api/recordings").json()["recordings"]
    assert listed[0]["name"] == "seen.jsonl" and listed[0]["video"] == "seen.mp4"
    video = api.get("/api/recordings/seen.mp4")
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    path = running.recordings.file("seen.mp4")
    source = create_source(f"video:{path}@200,once")  # what --source video: on it reads
    source.open()
    count = 0
    try:
        while True:
            frame = source.read(1.0)
            count += frame is not None
    except EndOfSource:
        pass
    finally:
        source.close()
    rec = open_recording(running.recordings.path("seen.jsonl"))
    lines = [json.loads(x) for x in running.recordings.path("seen.jsonl").read_text().splitlines()[1:]]
    assert rec.header.video == "seen.mp4" and count == len(lines) == stopped["frames"]
    assert [x["v"] for x in lines] == list(range(count))
    assert api.delete("/api/recordings/seen.jsonl").status_code == 200 and not path.exists()
