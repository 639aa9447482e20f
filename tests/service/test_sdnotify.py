"""sd_notify against a real AF_UNIX datagram socket, and the watchdog decision."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.service.sdnotify import Notifier, watchdog_interval
from appliance.service.watchdog import should_pet
from tests.support.service import appliance_run_args


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = str(tmp_path / "notify")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(5)
    yield path, s
    s.close()


def test_messages_arrive(notify_socket: tuple[str, socket.socket]) -> None:
    path, s = notify_socket
    n = Notifier(path)
    assert n.enabled
    n.ready("starting")
    n.status("12 fps\nsecond line")
    n.watchdog()
    n.stopping()
    got = [s.recv(4096).decode() for _ in range(4)]
    assert got == ["READY=1\nSTATUS=starting", "STATUS=12 fps second line", "WATCHDOG=1", "STOPPING=1"]
    n.close()
    n.close()


def test_abstract_socket_names() -> None:
    name = f"posenet-test-{os.getpid()}"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("\0" + name)
    s.settimeout(5)
    n = Notifier("@" + name)
    try:
        assert n.watchdog()
        assert s.recv(100) == b"WATCHDOG=1"
    finally:
        n.close()
        s.close()


def test_without_systemd_it_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    n = Notifier()
    assert not n.enabled and not n.ready() and not n.watchdog()


def test_watchdog_interval_from_the_environment() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "15000000"}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "15000000", "WATCHDOG_PID": "1"}) is None  # for another process
    assert watchdog_interval({}) is None and watchdog_interval({"WATCHDOG_USEC": "x"}) is None


@pytest.mark.parametrize(
    ("running", "heartbeat_age", "frames", "frame_age", "pet"),
    [
        (True, 0.1, 100, 0.1, True),  # frames flow
        (True, 9.0, 100, 0.1, False),  # process thread stuck in a call (TPU hung)
        (True, 0.1, 100, 9.0, False),  # camera delivered, then stalled
        (True, 0.1, 0, 99.0, True),  # camera absent from the start: a status, not a restart loop
        (False, 99.0, 0, 99.0, True),  # degraded (no model): the control plane is alive
    ],
)
def test_watchdog_decision(running: bool, heartbeat_age: float, frames: int, frame_age: float, pet: bool) -> None:
    now = 1000.0
    assert (
        should_pet(
            now=now,
            interval=15.0,
            pipeline_running=running,
            heartbeat=now - heartbeat_age,
            frames_in=frames,
            last_frame=now - frame_age,
        )
        is pet
    )


def _collect(sock: socket.socket, seconds: float) -> list[tuple[float, str]]:
    out, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        sock.settimeout(max(end - time.monotonic(), 0.01))
        try:
            out.append((time.monotonic(), sock.recv(4096).decode()))
        except TimeoutError:
            break
    return out


def _run(models_dir: Path, tmp_path: Path, source: str, notify: str) -> subprocess.Popen[str]:
    env = {**os.environ, "POSENET_MODELS_DIR": str(models_dir), "NOTIFY_SOCKET": notify, "WATCHDOG_USEC": "2000000"}
    env.pop("WATCHDOG_PID", None)
    return subprocess.Popen(
        appliance_run_args(source, "posenet_mobilenet_v1_075_353_481_16_quant_decoder.tflite", tmp_path / "state"),
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_watchdog_stops_when_a_working_camera_stalls(
    models_dir: Path, tmp_path: Path, notify_socket: tuple[str, socket.socket]
) -> None:
    path, s = notify_socket
    proc = _run(models_dir, tmp_path, "synthetic:stall=20@10", path)
    messages: list[tuple[float, str]] = []
    try:
        # Until the pets have stopped for 4 s (with WatchdogSec=2 s they come every second while the
        # pipeline progresses), however long start-up takes on a busy machine; at most 40 s.
        deadline = time.monotonic() + 40.0
        while time.monotonic() < deadline:
            messages += _collect(s, 0.5)
            pets = [t for t, m in messages if m == "WATCHDOG=1"]
            if len(pets) >= 2 and time.monotonic() - pets[-1] > 4.0:
                break
        end = time.monotonic()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    texts = [m for _, m in messages]
    assert texts[0].startswith("READY=1\nSTATUS="), texts[:3]
    pets = [t for t, m in messages if m == "WATCHDOG=1"]
    assert len(pets) >= 2, texts
    # 20 frames at 10 fps: the camera stalls about 2 s in; the pets stop, so systemd would restart us.
    assert end - pets[-1] > 3.0, texts
    assert any(m.startswith("STATUS=") and "stalled" in m for m in texts) or "stalled" in err
    assert proc.returncode == 0


def test_a_missing_camera_is_ready_and_not_a_restart_loop(
    models_dir: Path, tmp_path: Path, notify_socket: tuple[str, socket.socket]
) -> None:
    path, s = notify_socket
    proc = _run(models_dir, tmp_path, "picamera2", path)
    try:
        messages = _collect(s, 6.0)
    finally:
        proc.terminate()
        proc.communicate(timeout=15)
        stop = _collect(s, 2.0)
    texts = [m for _, m in messages]
    assert texts[0].startswith("READY=1")
    assert texts.count("WATCHDOG=1") >= 3  # keeps petting: systemd does not restart a box without camera
    assert any(m == "STOPPING=1" for _, m in stop)
