"""Rehearsing: a recording of a live run replays the same messages (laptop `replay` into a real UDP
receiver), and its oscdump export, replayed by liblo's `oscsendfile` into `oscdump`, prints the
same lines as `oscdump` printed live."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from appliance.recording.fileformat import open_recording
from tests.support.net import free_udp_port, wait_udp_bound
from tests.support.receivers import Sink, require, run_appliance

Frames = dict[int, list[tuple[str, tuple[Any, ...]]]]


def by_frame(messages: list[Any]) -> Frames:
    """The bundle format's messages grouped by frame number; the capture time (the frame message's
    last two arguments) left out: a replay sends at its own time. The box's clock (``/posenet/clock``,
    once a second: about the box, not its poses) is not recorded, so it is left out too."""
    out: Frames = defaultdict(list)
    frame = -1
    for m in messages:
        args = tuple(m.params)
        if m.address == "/posenet/frame":
            frame, args = args[0], args[:4]
        out[frame].append((m.address, args))
    return dict(out)


def _without_clock(items: list[Any], address: Any) -> list[Any]:
    """``items`` (messages in order; every bundle starts with its frame header) without the box's
    clock (``/posenet/clock``, once a second: about the box, not its poses, never recorded), and
    without a bundle it leaves holding nothing but its frame header."""
    groups: list[list[Any]] = []
    for item in items:
        if not groups or address(item) == "/posenet/frame":
            groups.append([])
        groups[-1].append(item)
    out: list[Any] = []
    for group in groups:
        kept = [i for i in group if address(i) != "/posenet/clock"]
        if len(kept) < len(group) and [address(i) for i in kept] == ["/posenet/frame"]:
            continue
        out += kept
    return out


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, models_dir: Path, images_dir: Path) -> dict[str, Any]:
    """One live run over two photos (a cut between them), recorded, its bundle output kept by a
    socket and by oscdump."""
    oscdump = require("oscdump")
    tmp = tmp_path_factory.mktemp("rehearse")
    sink, port = Sink(), free_udp_port()
    log = (tmp / "live.txt").open("w")
    dump = subprocess.Popen([oscdump, "-L", str(port)], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_udp_bound(port)
        run = run_appliance(
            models_dir,
            images_dir,
            [f"127.0.0.1:{sink.port}/bundle", f"127.0.0.1:{port}/bundle"],
            4.0,
            tmp / "state",
            "--record",
            str(tmp / "live.jsonl"),
            source=f"images:{images_dir}/test_couple.jpg@15",
        )
        assert run.returncode == 0, run.stderr
        time.sleep(0.3)
    finally:
        sink.close()
        dump.terminate()
        dump.wait(10)
        log.close()
    messages = _without_clock(sink.messages(), lambda m: m.address)
    lines = [ln for ln in (tmp / "live.txt").read_text().splitlines() if len(ln.split()) > 1]
    dump_text = "\n".join(_without_clock(lines, lambda ln: ln.split()[1]))
    return {"tmp": tmp, "messages": messages, "oscdump": dump_text}


def test_a_live_recording_replays_the_same_messages(live: dict[str, Any]) -> None:
    recording = open_recording(live["tmp"] / "live.jsonl")
    recorded = list(recording.frames())
    live_frames = by_frame(live["messages"])
    assert len(recorded) >= 30 and not recording.truncated and not recording.skipped
    sink = Sink()
    try:
        cmd = [sys.executable, "-m", "appliance", "replay", str(recording.path), "--target", f"127.0.0.1:{sink.port}"]
        run = subprocess.run([*cmd, "--speed", "4"], capture_output=True, text=True, timeout=60, check=False)
        assert run.returncode == 0, run.stderr
        time.sleep(0.3)
    finally:
        sink.close()
    replayed = by_frame(sink.messages())
    assert sorted(replayed) == [f.poses.frame_index for f in recorded]
    # every recorded frame: the same messages, byte for byte in value (ids, events, smoothed points)
    common = [f for f in replayed if f in live_frames]
    assert len(common) >= len(recorded) - 1
    for f in common:
        assert replayed[f] == live_frames[f], f"frame {f}"
    assert any(len(v) > 2 for v in replayed.values())  # people were in it
    assert "late by median" in run.stderr


def _lines(text: str) -> list[str]:
    """oscdump lines without their time tag, and the frame message's capture time left out."""
    out = []
    for ln in text.splitlines():
        parts = ln.split()
        if len(parts) < 2 or not parts[1].startswith("/"):
            continue
        if parts[1] == "/posenet/frame":
            parts = parts[:-2]
        out.append(" ".join(parts[1:]))
    return out


def test_an_oscdump_export_round_trips_through_liblo(live: dict[str, Any]) -> None:
    oscdump, oscsendfile = require("oscdump"), require("oscsendfile")
    tmp = live["tmp"]
    export = tmp / "export.txt"
    cmd = [sys.executable, "-m", "appliance", "recording", "export", str(tmp / "live.jsonl"), "--to", "oscdump"]
    run = subprocess.run([*cmd, "-o", str(export)], capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    port = free_udp_port()
    with (tmp / "replayed.txt").open("w") as log:
        dump = subprocess.Popen([oscdump, "-L", str(port)], stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_udp_bound(port)
            sent = subprocess.run([oscsendfile, "127.0.0.1", str(port), str(export), "8"], timeout=60, check=False)
            assert sent.returncode == 0
            time.sleep(0.5)
        finally:
            dump.terminate()
            dump.wait(10)
    live_lines, replayed = _lines(live["oscdump"]), _lines((tmp / "replayed.txt").read_text())
    assert len(replayed) > 60
    # the recording starts with the first frame that reached the listeners: the live log may hold
    # one more frame at the end (sent, then stopped before the recorder's turn)
    assert replayed == live_lines[: len(replayed)]
    assert len(live_lines) - len(replayed) <= max(len(v) for v in by_frame(live["messages"]).values())


def test_csv_export_has_a_row_per_keypoint(live: dict[str, Any]) -> None:
    cmd = [sys.executable, "-m", "appliance", "recording", "export", str(live["tmp"] / "live.jsonl"), "--to", "csv"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    rows = run.stdout.splitlines()
    assert rows[0] == "frame,time,id,keypoint,x,y,score"
    people = sum(len([m for m in v if m[0] == "/posenet/person/pose"]) for v in by_frame(live["messages"]).values())
    assert 0 <= people * 17 - (len(rows) - 1) <= 17 * 4  # the live log may hold one frame more
    _, _, pid, name, x, _, s = rows[1].split(",")
    assert name == "nose" and int(pid) >= 0 and 0 <= float(x) <= 1920 and 0 <= float(s) <= 1
