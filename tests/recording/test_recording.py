"""The recording file, the recorder (caps, disk floor, power cut) and replay timing."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from appliance.config.store import ConfigStore
from appliance.core.app import Application
from appliance.playback.player import recorded_stages, replayed, window
from appliance.pose.params import SmoothingConfig, TrackingConfig
from appliance.pose.scenes import Walker, scene
from appliance.pose.smoothing import Smoother
from appliance.pose.tracking import Tracker
from appliance.recording.fileformat import Header, RecordingError, encode_header, open_recording
from appliance.recording.recorder import Recorder, RecordingTap
from appliance.recording.schedule import Schedule
from appliance.types import Poses

SETTINGS = {"tracking": TrackingConfig().model_dump(), "smoothing": SmoothingConfig(beta=0.05).model_dump()}
WALKERS = [Walker(1, (100, 300), (4, 0)), Walker(2, (540, 300), (-4, 0), hidden=((20, 24),))]


def header() -> Header:
    return Header("box-test", "0.1.0", "posenet.tflite", "images:test", 0, 0, 0.0, SETTINGS)


def live_run(frames: list[Poses], tap: RecordingTap) -> list[Poses]:
    """What the pipeline's "send" thread does: tap, tracking, smoothing, then the listeners."""
    stages = (tap, Tracker(TrackingConfig()), Smoother(SmoothingConfig(beta=0.05)))
    out = []
    for poses in frames:
        for stage in stages:
            poses = stage(poses)
        tap.on_poses(poses)
        out.append(poses)
    return out


def record(path: Path, frames: list[Poses], **kw: object) -> tuple[Recorder, list[Poses]]:
    tap = RecordingTap()
    tap.recorder = rec = Recorder(path, header(), **kw)  # type: ignore[arg-type]
    live = live_run(frames, tap)
    rec.stop()
    return rec, live


def test_a_replay_gives_the_live_runs_output_exactly(tmp_path: Path) -> None:
    frames, _ = scene(WALKERS, 60)
    rec, live = record(tmp_path / "a.jsonl", frames)
    assert rec.status().frames == 60 and rec.status().dropped == 0 and rec.status().state == "stopped"
    recording = open_recording(tmp_path / "a.jsonl")
    assert (recording.header.width, recording.header.height) == (640, 480)
    assert recording.header.settings["smoothing"]["beta"] == 0.05
    again = [p for _, p in replayed(window(recording), recorded_stages(recording))]
    assert len(again) == len(live) == 60
    for a, b in zip(again, live, strict=True):
        np.testing.assert_array_equal(a.ids, b.ids)
        np.testing.assert_array_equal(a.entered, b.entered)
        np.testing.assert_array_equal(a.left, b.left)
        np.testing.assert_array_equal(a.keypoints, b.keypoints)  # float32-exact through the stages
        np.testing.assert_array_equal(a.scores, b.scores)
        assert (a.t_capture, a.t_wall, a.frame_index) == (b.t_capture, b.t_wall, b.frame_index)
    # the live ids and events are kept in the file, for comparison
    first = list(recording.frames())
    assert [f.live.ids for f in first] == [tuple(p.ids.tolist()) for p in live]
    assert sum(len(f.live.left) for f in first) == sum(len(p.left) for p in live)


def test_a_power_cut_mid_line_still_replays(tmp_path: Path) -> None:
    frames, _ = scene(WALKERS, 30)
    record(tmp_path / "cut.jsonl", frames)
    data = (tmp_path / "cut.jsonl").read_bytes()
    cut = tmp_path / "cut2.jsonl"
    cut.write_bytes(data[: len(data) - 200])  # the power went off while the last line was written
    recording = open_recording(cut)
    read = list(recording.frames())
    assert len(read) == 29 and recording.truncated and recording.skipped == 0
    # a damaged line in the middle is skipped and counted; the rest still reads
    lines = data.split(b"\n")
    lines[5] = b'{"f": 4, "people": [[1, 2'
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"\n".join(lines))
    recording = open_recording(bad)
    assert len(list(recording.frames())) == 29 and recording.skipped == 1


def test_bad_files_get_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "x.jsonl").write_text("hello\n")
    with pytest.raises(RecordingError, match="not a recording"):
        open_recording(tmp_path / "x.jsonl")
    (tmp_path / "v.jsonl").write_text(json.dumps({"posenet_recording": 99}) + "\n")
    with pytest.raises(RecordingError, match="format 99"):
        open_recording(tmp_path / "v.jsonl")
    with pytest.raises(RecordingError, match="No such file"):
        open_recording(tmp_path / "missing.jsonl")
    # hostile numbers and shapes: skipped and counted, never a crash
    hdr = json.dumps({"posenet_recording": 1, "width": 640, "height": 480}) + "\n"
    rows = [
        {"f": 1, "t": 1.0, "m": 0.0, "people": [{"kp": [1.0] * 50}]},
        {"f": 2, "t": 1.0, "m": 0.1, "people": [{"kp": [1e999] * 51}]},
        {"f": 3, "t": 1.0, "m": 0.2, "people": [{"kp": [1.0] * 51}] * 65},
        {"f": "x", "t": 1.0, "m": 0.3, "people": []},
        {"f": 5, "t": 1.0, "m": 0.4, "people": [{"kp": [1.0] * 51, "score": 0.5}]},
    ]
    (tmp_path / "h.jsonl").write_text(hdr + "\n".join(json.dumps(r) for r in rows) + "\n")
    recording = open_recording(tmp_path / "h.jsonl")
    got = list(recording.frames())
    assert [f.poses.frame_index for f in got] == [5] and recording.skipped == 4


def test_an_over_long_line_costs_bounded_memory(tmp_path: Path) -> None:
    hdr = json.dumps({"posenet_recording": 1, "width": 640, "height": 480}) + "\n"
    good = json.dumps({"f": 2, "t": 1.0, "m": 0.1, "people": []})
    (tmp_path / "long.jsonl").write_bytes(hdr.encode() + b"[" + b"1," * 3_000_000 + b"1]\n" + good.encode() + b"\n")
    recording = open_recording(tmp_path / "long.jsonl")
    assert [f.poses.frame_index for f in recording.frames()] == [2] and recording.skipped == 1


def test_recording_stops_at_the_size_cap_and_the_disk_floor(tmp_path: Path) -> None:
    frames, _ = scene(WALKERS, 200)
    rec, _ = record(tmp_path / "cap.jsonl", frames, max_bytes=20_000)
    st = rec.status()
    assert st.state == "stopped" and "size cap" in st.reason
    assert (tmp_path / "cap.jsonl").stat().st_size <= 20_000 and 0 < st.frames < 200
    assert len(list(open_recording(tmp_path / "cap.jsonl").frames())) == st.frames

    free = [10**9]
    tap = RecordingTap()
    tap.recorder = rec = Recorder(tmp_path / "floor.jsonl", header(), min_free=10**6, free_bytes=lambda _: free[0])
    live_run(frames[:10], tap)
    free[0] = 10**5  # the disk fills up (something else writes)
    deadline = time.monotonic() + 5
    while rec.active and time.monotonic() < deadline:
        live_run(frames[10:11], tap)
        time.sleep(0.05)
    assert not rec.active and "disk floor" in rec.status().reason
    rec.stop()
    with pytest.raises(RecordingError, match="free on the disk"):
        Recorder(tmp_path / "full.jsonl", header(), min_free=10**6, free_bytes=lambda _: 10**5)
    with pytest.raises(RecordingError, match="exists already"):
        Recorder(tmp_path / "cap.jsonl", header())


def test_a_slow_disk_drops_frames_instead_of_blocking(tmp_path: Path) -> None:
    frames, _ = scene(WALKERS, 600)
    tap = RecordingTap()
    tap.recorder = rec = Recorder(tmp_path / "slow.jsonl", header())
    gate = threading.Event()
    original = rec._write

    def slow(data: bytes) -> bool:
        gate.wait(5)
        return original(data)

    rec._write = slow  # type: ignore[method-assign]
    t0 = time.perf_counter()
    live_run(frames, tap)
    elapsed = time.perf_counter() - t0
    gate.set()
    st = rec.stop()
    assert elapsed < 3 and st.dropped > 0 and st.frames + st.dropped == 600


def test_the_schedule_never_accumulates_error() -> None:
    now = [100.0]
    s = Schedule(speed=2.0, first_at=5.0, clock=lambda: now[0])
    assert s.due(5.0) == 100.0 and s.due(7.0) == 101.0
    s.next_pass(last_at=9.0, period=0.5)  # loop: 4 s of recording + one period
    assert s.due(5.0) == pytest.approx(102.25)
    with pytest.raises(ValueError, match="speed"):
        Schedule(speed=0)
    # a frame sent late makes only itself late: the next one is due where the schedule says
    now[0] = 105.0  # far behind
    assert s.wait(5.5) == pytest.approx(105.0 - s.due(5.5))
    assert s.due(6.0) - s.due(5.5) == pytest.approx(0.25)


def test_time_that_runs_backwards_or_stops_for_long_is_skipped(tmp_path: Path) -> None:
    """A hostile file cannot make a replay wait for ever (a huge pause) or race (time going back)."""
    hdr = json.dumps({"posenet_recording": 1, "width": 640, "height": 480}) + "\n"
    rows = [
        {"f": 1, "t": 1.0, "m": 0.0, "people": []},
        {"f": 2, "t": 1.0, "m": 1e12, "people": []},  # a pause of 31,700 years
        {"f": 3, "t": 1.0, "m": 0.1, "people": []},
        {"f": 4, "t": 1.0, "m": 0.05, "people": []},  # back in time
        {"f": 5, "t": 1.0, "m": 0.2, "people": []},
    ]
    (tmp_path / "t.jsonl").write_text(hdr + "\n".join(json.dumps(r) for r in rows) + "\n")
    recording = open_recording(tmp_path / "t.jsonl")
    assert [f.poses.frame_index for f in recording.frames()] == [1, 3, 5] and recording.skipped == 2


def test_a_recordings_header_holds_no_secret_the_hubs_subscribe_key_neither(tmp_path: Path) -> None:
    """A recording is a file people share: its settings leave out the owner's token, the box's
    subscribe key and the venue's key a hub gives its boxes (``hub.subscribe_key``)."""
    store = ConfigStore.in_dir(tmp_path)
    store.load()
    secrets = {"http": {"token": "owner-token-0123"}, "osc_control": {"subscribe_key": "box-key-4567"}}
    store.save({**secrets, "hub": {"subscribe_key": "venue-key-8910"}})
    app = Application(store)
    try:
        text = encode_header(app._recording_header()).decode()
    finally:
        app.stop()
    assert json.loads(text)["settings"]["hub"]["distance_m"] == 0.5
    assert not [s for s in ("owner-token-0123", "box-key-4567", "venue-key-8910") if s in text]
