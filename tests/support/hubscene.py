"""Boxes that see windows of one synthetic scene, for the hub's proofs: the real service (``run``,
``scene:PEOPLE@FPS,x0=..,x1=..``: poses, no model) with the floor calibration of its window, so
that every box places a person at the same floor point, and the hub (``hub --box ...``), each a
child process on loopback (no mDNS, HTTP on a free port, no OSCQuery)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from appliance.capture.scene_source import ROOM, crop_floor

__all__ = ["ROOM", "scene_box", "service", "stop_all", "window_source"]

Window = tuple[float, float, float, float]


def service(state: Path, command: str, *extra: str) -> subprocess.Popen[bytes]:
    """``posenet-appliance COMMAND`` with its state in ``state``, in a session of its own (a test may
    kill it whole: ``os.killpg``)."""
    argv = [sys.executable, "-m", "appliance", command, "--state-dir", str(state), "--http-bind", "127.0.0.1"]
    argv += ["--http-port", "0", "--oscquery-port", "0", "--no-discovery", "--quiet", *extra]
    return subprocess.Popen(argv, stderr=subprocess.DEVNULL, start_new_session=True, env={**os.environ})


def window_source(people: int, fps: float, window: Window) -> str:
    """The scene source of a box seeing ``window`` = (x0, x1, y0, y1), 0..1 of the scene's picture."""
    return "scene:{}@{:g},x0={:g},x1={:g},y0={:g},y1={:g}".format(people, fps, *window)


def scene_box(
    state: Path, window: Window, control_port: int, people: int = 2, fps: float = 15.0
) -> subprocess.Popen[bytes]:
    """A box seeing ``window`` of the scene, calibrated on ``ROOM`` (its ``floor`` section saved in
    ``state`` first), subscribed to over ``control_port``."""
    state.mkdir(parents=True, exist_ok=True)
    (state / "config.json").write_text(json.dumps({"floor": crop_floor(window, ROOM)}))
    source = window_source(people, fps, window)
    return service(state, "run", "--source", source, "--control-port", str(control_port))


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    """Terminate every process still running (its whole session) and wait for it."""
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(5)
