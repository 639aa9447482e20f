"""``replay:FILE``: a recording as the box's source of poses, on its recorded schedule; and the whole
service run from a recording made by the box itself (no model)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_message import OscMessage

from appliance.capture import check_confined, create_source, parse_source
from appliance.capture.base import EndOfSource
from appliance.config.models import AppConfig
from appliance.config.store import ConfigStore
from appliance.core.app import Application
from appliance.core.factory import Folders
from appliance.errors import ConfigError, SourceError
from appliance.pose.scenes import Walker, scene
from appliance.recording.fileformat import Header, encode_frame, encode_header, open_recording
from appliance.service.serve import serve
from tests.support.net import free_tcp_port, free_udp_port


def write_recording(path: Path, frames: int = 30, fps: float = 50.0) -> list[Any]:
    poses, _ = scene([Walker(1, (100, 300), (5, 0)), Walker(2, (500, 300), (-5, 0))], frames, fps=fps)
    with path.open("wb") as f:
        f.write(encode_header(Header("box-a", "0.1.0", "m.tflite", "scene", 640, 480, 0.0, {})))
        for p in poses:
            f.write(encode_frame(p, p.t_capture - poses[0].t_capture, size=(640, 480)))
    return poses


def test_options_are_checked_and_confined() -> None:
    spec = parse_source("replay:evening.jsonl@speed=2,start=5,end=60,once")
    assert (spec.param("speed", 1), spec.param("start", 0), spec.param("end", 0), spec.loop) == (2, 5, 60, False)
    for bad, why in (("replay:x.jsonl@speed=0", "out of range"), ("replay:x.jsonl@speed=fast", "not a number")):
        with pytest.raises(ConfigError, match=why):
            parse_source(bad)
    with pytest.raises(ConfigError, match="needs an argument"):
        parse_source("replay")
    with pytest.raises(ConfigError, match="folder"):
        check_confined(parse_source("replay:../state/config.json"))
    with pytest.raises(ConfigError):
        parse_source("scene@speed=2")  # another kind's option


def test_frames_come_in_order_on_schedule_then_loop_or_end(tmp_path: Path) -> None:
    recorded = write_recording(tmp_path / "r.jsonl", frames=20, fps=50.0)
    source = create_source("replay:r.jsonl@speed=2,once", recordings=tmp_path)
    source.open()
    got, t0 = [], time.monotonic()
    ended = False
    while not ended:
        try:
            p = source.read(1.0)
        except EndOfSource:
            ended = True
        else:
            if p is not None:
                got.append(p)
    elapsed = time.monotonic() - t0
    source.close()
    assert len(got) == 20 and [p.frame_index for p in got] == list(range(1, 21))
    for a, b in zip(got, recorded, strict=True):
        np.testing.assert_array_equal(a.keypoints, b.keypoints)  # as decoded, float32-exact
        assert a.frame_size == (640, 480) and (a.ids == -1).all()
    # 19 gaps of 20 ms at speed 2: the stages see the recorded spacing halved (scheduled, not measured)
    assert got[-1].t_capture - got[0].t_capture == pytest.approx(19 * 0.02 / 2, abs=1e-6)
    assert elapsed >= 0.18
    looped = create_source("replay:r.jsonl@speed=100", recordings=tmp_path)
    looped.open()
    scenes = {p.scene for p in (looped.read(1.0) for _ in range(45)) if p is not None}
    looped.close()
    assert len(scenes) == 3  # two passes done, a third begun: each a new scene (a cut for the tracker)
    with pytest.raises(SourceError, match="no recording"):
        create_source("replay:missing.jsonl", recordings=tmp_path).open()  # type: ignore[union-attr]


def _status(port: int) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=5) as r:
        return json.loads(r.read())


def _messages(datagram: bytes) -> list[OscMessage]:
    bundle = OscBundle(datagram)
    return [OscMessage(bundle.content(i).dgram) for i in range(bundle.num_contents)]


def test_a_recording_of_the_box_runs_the_whole_box(tmp_path: Path, udp_receiver: socket.socket) -> None:
    """Record a live run (people from ``scene:``), then run the box from the recording: the status
    says it is a replay and of what, and the same people enter and move over OSC."""
    (tmp_path / "models").mkdir()
    store = ConfigStore.in_dir(tmp_path / "state")
    store.load()
    http = free_tcp_port()
    base = {
        "targets": [{"host": "127.0.0.1", "port": udp_receiver.getsockname()[1], "format": "bundle"}],
        "http": {"bind": "127.0.0.1", "port": http},
        "osc_control": {"port": free_udp_port()},
        "network": {"discovery": False, "oscquery_port": 0},
    }
    store.config = AppConfig.model_validate({**base, "source": "scene:2@30"})
    live = Application(store, Folders(tmp_path / "models", tmp_path / "media"))
    live.start()
    try:
        live.recordings.start("live.jsonl")
        time.sleep(1.5)
        recorded = live.recordings.stop()
    finally:
        live.stop()
    assert recorded is not None and recorded.frames >= 20
    rec = open_recording(tmp_path / "state" / "recordings" / "live.jsonl")
    people = sum(len(f.poses) for f in rec.frames())

    store.config = AppConfig.model_validate({**base, "source": "replay:live.jsonl@speed=2,once"})
    app = Application(store, Folders(tmp_path / "models", tmp_path / "media"))
    udp_receiver.settimeout(0.2)
    live_flags = []
    with contextlib.suppress(OSError):
        while True:  # what the live run sent: never a replay flag
            live_flags += [m for m in _messages(udp_receiver.recv(65536)) if m.address == "/posenet/replay"]

    async def scenario() -> tuple[Any, list[bytes]]:
        server = asyncio.create_task(serve(app, duration=30))
        got: list[bytes] = []
        status: Any = None
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                with contextlib.suppress(OSError):
                    got.append(await asyncio.to_thread(udp_receiver.recv, 65536))
                    continue
                with contextlib.suppress(OSError):
                    status = await asyncio.to_thread(_status, http)
                if got and status and status["pipeline"] and status["pipeline"]["source_state"] == "ended":
                    break
            return status, got
        finally:
            server.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await server

    status, datagrams = asyncio.run(scenario())
    assert status["source"] == "replay:live.jsonl@speed=2,once", status
    assert status["source_name"].startswith("replay of live.jsonl") and "speed 2" in status["source_name"]
    pipe = status["pipeline"]
    # every recorded frame was read; on a busy machine the pipeline may drop one (counted), never more
    assert status["model"].startswith("none") and pipe["frames_in"] == recorded.frames
    assert pipe["frames_processed"] + pipe["frames_dropped"] == recorded.frames and pipe["frames_dropped"] <= 3
    messages = [m for d in datagrams for m in _messages(d)]
    frames = {m.params[0] for m in messages if m.address == "/posenet/frame"}  # extras' bundles repeat it
    assert len(frames) == pipe["frames_processed"]
    assert sum(1 for m in messages if m.address == "/posenet/person/enter") == 2
    # the tracker confirms a person in their second frame: all but those first sightings are sent
    # every replayed frame says so (recorded frame number, pass 0); the live run's frames did not
    flags = [m.params for m in messages if m.address == "/posenet/replay"]
    assert len(flags) == len(frames) and all(p[1] == 0 for p in flags)
    recorded_numbers = [f.poses.frame_index for f in rec.frames()]
    assert {p[0] for p in flags} <= set(recorded_numbers) and flags[0][0] == recorded_numbers[0]
    assert not live_flags
    poses = sum(1 for m in messages if m.address == "/posenet/person/pose")
    assert people - 2 - 2 * pipe["frames_dropped"] <= poses <= people


def test_a_replay_with_video_shows_its_recorded_pictures(tmp_path: Path) -> None:
    """The camera view of a replay shows the recorded video's frame of the poses on show (decoded only
    when asked), with the poses' picture size: here a red, then a blue recorded picture."""
    import io

    from PIL import Image

    from appliance.pipeline.runner import PipelineRunner
    from appliance.recording.video import VideoWriter
    from appliance.web.camera import encode

    poses, _ = scene([Walker(1, (100, 300), (5, 0))], 2, fps=50.0)
    video = VideoWriter(tmp_path / "v.mp4")
    for colour in ((0, 0, 255), (255, 0, 0)):  # BGR: red, then blue
        video.write(np.full((240, 320, 3), colour, np.uint8))
    video.close()
    with (tmp_path / "v.jsonl").open("wb") as f:
        f.write(encode_header(Header("box-a", "0.1.0", "m.tflite", "scene", 640, 480, 0.0, {}, "v.mp4")))
        for i, p in enumerate(poses):
            f.write(encode_frame(p, i * 0.02, size=(640, 480), video=i))
    source = create_source("replay:v.jsonl@once", recordings=tmp_path)
    source.open()
    runner = PipelineRunner(source, None)
    try:
        for want in ((255, 0, 0), (0, 0, 255)):
            shown = source.read(1.0)
            assert shown is not None
            frame = runner._frame_of(shown)
            assert frame.render is not None and frame.image.max() == 0  # black until someone looks
            picture = encode(frame)
            rgb = np.asarray(Image.open(io.BytesIO(picture.jpeg)).convert("RGB"), np.int16)
            assert picture.size == (640, 480) and np.abs(rgb.mean(axis=(0, 1)) - want).max() < 40
    finally:
        source.close()
