"""The live pipeline with a real CPU engine, real loopback receivers and controllable sources."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_message import OscMessage

from appliance.capture import create_source
from appliance.errors import HardwareUnavailable
from appliance.models import load_model as create_backend
from appliance.models.engine import PoseEngine
from appliance.pipeline import runner as runner_mod
from appliance.pipeline.mailbox import LatestFrame
from appliance.pipeline.runner import PipelineRunner
from appliance.transport.targets import TargetSet
from appliance.transport.udp import TargetSpec
from appliance.types import Frame

MODEL = "posenet_mobilenet_v1_075_353_481_16_quant_decoder.tflite"


def test_mailbox_keeps_only_the_newest_and_counts_drops() -> None:
    box: LatestFrame[int] = LatestFrame()
    assert box.get(0.01) is None
    box.put(1)
    box.put(2)
    box.put(3)
    assert box.get(0.01) == 3 and box.dropped == 2
    assert box.get(0.01) is None


@pytest.fixture(scope="module")
def engine(models_dir: Path) -> Iterator[PoseEngine]:
    backend = create_backend(models_dir / MODEL, "cpu", threads=1)
    yield PoseEngine(backend)
    backend.close()


def test_images_to_osc_end_to_end(engine: PoseEngine, images_dir: Path, udp_receiver: socket.socket) -> None:
    port = udp_receiver.getsockname()[1]
    source = create_source(f"images:{images_dir}/face.jpg@20")
    with TargetSet([TargetSpec("127.0.0.1", port, "bundle", "pixels")]) as targets:
        runner = PipelineRunner(source, engine, targets)
        runner.start()
        try:
            bundles = [OscBundle(udp_receiver.recv(65536)) for _ in range(12)]  # 4 people: 2 bundles a frame
        finally:
            assert runner.stop()
        stats = runner.stats()
        target_stats = targets.stats()
    header = OscMessage(bundles[-1].content(0).dgram)
    assert header.address == "/posenet/frame" and header.params[1:4] == [512, 355, 4]
    # Stable ids: the same photo again gives the same four ids (gathered by frame number; the first
    # frame has nobody yet: a person is reported once seen in two frames in a row).
    frames: dict[int, list[int]] = {}
    for b in bundles:
        frame = OscMessage(b.content(0).dgram).params[0]
        contents = [OscMessage(b.content(i).dgram) for i in range(1, b.num_contents)]
        frames.setdefault(frame, []).extend(m.params[0] for m in contents if m.address == "/posenet/person/pose")
    whole = [sorted(ids) for ids in frames.values() if len(ids) == 4]
    assert len(whole) >= 3 and all(ids == [0, 1, 2, 3] for ids in whole)
    # Sent immediately (time tag 1); the capture time (Unix, wall clock) rides in the frame message.
    assert struct.unpack(">Q", bundles[-1].dgram[8:16])[0] == 1
    assert 0 <= time.time() - (header.params[4] + header.params[5] / 1e6) < 5
    assert stats.frames_processed >= 5 and stats.source_state == "ok" and stats.people == 4
    # inference_ms is the last frame's; latencies are over many frames, so compare like with like.
    assert stats.inference_ms > 0 and 0 < stats.latency_p50_ms <= stats.latency_p99_ms
    assert target_stats[0].datagrams >= 5 and target_stats[0].errors == 0
    assert not runner.running


class GatedSource:
    """A source that delivers frames only while ``gate`` is set (a stalled camera otherwise)."""

    name = "gated"

    def __init__(self, fail_opens: int = 0) -> None:
        self.gate = threading.Event()
        self.fail_opens = fail_opens
        self.opens = 0
        self.index = 0

    def open(self) -> None:
        self.opens += 1
        if self.opens <= self.fail_opens:
            raise HardwareUnavailable("no camera connected")

    def read(self, timeout: float) -> Frame | None:
        if not self.gate.wait(timeout):
            return None
        time.sleep(0.02)
        self.index += 1
        return Frame(np.full((120, 160, 3), 90, np.uint8), self.index, time.monotonic(), time.time())

    def close(self) -> None:
        pass


def wait_for(predicate, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner_mod, "STALL_SECONDS", 0.3)
    monkeypatch.setattr(runner_mod, "READ_TIMEOUT", 0.05)
    monkeypatch.setattr(runner_mod, "REOPEN_BACKOFF", (0.05, 0.1))


@pytest.mark.usefixtures("fast")
def test_a_stalled_source_is_reported_and_recovers(engine: PoseEngine) -> None:
    source = GatedSource()
    with TargetSet() as targets:
        runner = PipelineRunner(source, engine, targets)
        runner.start()
        try:
            source.gate.set()
            assert wait_for(lambda: runner.stats().frames_processed >= 2)
            source.gate.clear()
            assert wait_for(lambda: runner.stats().source_state == "stalled")
            beat = runner.heartbeat
            assert wait_for(lambda: runner.heartbeat > beat), "the process loop must keep beating while idle"
            done = runner.stats().frames_processed
            source.gate.set()
            assert wait_for(lambda: runner.stats().source_state == "ok" and runner.stats().frames_processed > done)
        finally:
            assert runner.stop()


@pytest.mark.usefixtures("fast")
def test_an_absent_camera_is_retried_until_it_appears(engine: PoseEngine) -> None:
    source = GatedSource(fail_opens=3)
    source.gate.set()
    with TargetSet() as targets:
        runner = PipelineRunner(source, engine, targets)
        runner.start()
        try:
            assert wait_for(lambda: runner.stats().source_state.startswith("error: no camera"))
            assert wait_for(lambda: runner.stats().frames_processed >= 1)
            assert source.opens == 4 and runner.stats().source_state == "ok"
        finally:
            assert runner.stop()


def test_slow_processing_drops_stale_frames(engine: PoseEngine, images_dir: Path) -> None:
    """Capture at 200 fps into a ~30 fps engine: frames are dropped and counted, never queued."""
    source = create_source(f"images:{images_dir}/face.jpg@200")
    with TargetSet() as targets:
        runner = PipelineRunner(source, engine, targets)
        runner.start()
        try:
            assert wait_for(lambda: runner.stats().frames_processed >= 5)
        finally:
            assert runner.stop()
        s = runner.stats()
    assert s.frames_dropped > 0
    assert s.frames_in >= s.frames_processed + s.frames_dropped
    # In flight when stopped: at most one each in the mailbox, prepared, in process and the outbox.
    assert s.frames_in - s.frames_processed - s.frames_dropped <= 4


def test_frame_rate_reads_slow_streams_too() -> None:
    """fps over 2 s; under one frame per 2 s (a big model on a small CPU) over 10 s, not 0."""
    from collections import deque

    from appliance.pipeline.runner import _rate

    assert _rate(deque([10.0 + k / 10 for k in range(20)]), 12.0) == pytest.approx(10.0, rel=0.06)
    every_4s = deque([0.0, 4.0, 8.0, 12.0])
    assert _rate(every_4s, 12.0) == pytest.approx(2 / 8)  # 3 frames within 10 s: 0.25 fps, not 0
    assert _rate(every_4s, 16.0) == pytest.approx(1 / 8)  # stalled: it decays ...
    assert _rate(every_4s, 21.0) == 0.0  # ... to 0 once fewer than two frames are recent
    assert _rate(deque(), 1.0) == 0.0


def test_a_pose_source_feeds_the_stages_and_listeners_with_no_engine() -> None:
    """No model: "capture" hands the source's poses to "send" (tracking, then the listeners); no
    "prepare" or "process" thread runs, and the published frame is a black picture of their size."""
    got: list[int] = []

    class Count:
        def on_poses(self, poses: Any) -> None:
            got.append(len(poses))

    runner = PipelineRunner(create_source("scene:3@200,320x240"), None, Count())
    runner.start()
    try:
        deadline = time.monotonic() + 5
        while len(got) < 10 and time.monotonic() < deadline:
            time.sleep(0.01)
        names = sorted(t.name for t in runner._threads)
        latest = runner.latest_frame
    finally:
        assert runner.stop()
    assert names == ["capture", "send"] and got[-1] == 3
    assert latest is not None and latest[0].image.shape == (240, 320, 3) and not latest[0].image.any()
    ids = latest[1].ids.tolist()
    assert len(set(ids)) == 3 and min(ids) >= 0  # the tracker gave them ids
    stats = runner.stats()
    assert stats.backend == "none" and stats.inference_ms == 0 and stats.errors == 0
    # The metrics' histograms: every frame decoded and sent, none prepared or inferred.
    timings = runner.timings
    sent = timings.send.snapshot()[0][-1]
    assert sent >= 10 and timings.frame_age.snapshot()[0][-1] == sent == timings.decode.snapshot()[0][-1]
    assert timings.inference.snapshot() == ([0] * (len(timings.inference.bounds) + 1), 0.0)
    assert timings.prepare.snapshot()[0][-1] == 0
