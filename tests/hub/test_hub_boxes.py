"""The hub with real boxes, on a venue network of private namespaces (tests.support.venue): two boxes
(the real appliance, ``scene:2`` poses: no model), one of them 200 ms behind (libfaketime), a hub
that finds them on mDNS (no ``--box``), and a receiver on a fourth machine.

The receiver sees every box's people, each with a global id of its own (no floor positions: no
fusion across boxes), the boxes in ``/posenet/hub/boxes``; the box 200 ms behind is reported (its
clock); killing a box drops it within ``hub.drop_seconds`` (its people leave, the other box's keep
their ids); started again, it rejoins. The hub is advertised like a box, with ``hub=1``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.venue import Machine, Sink, venue

FAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
BROWSE = Path(__file__).parents[1] / "discovery" / "browse.py"
SINK_PORT = 9000


def _service(
    m: Machine, state: Path, command: str, *extra: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    # a name of its own (on real boxes the machine id in the instance name differs; here it does not)
    if not (state / "config.json").exists():
        (state / "config.json").write_text(json.dumps({"device_name": f"{command}-{m.address.rsplit('.', 1)[1]}"}))
    argv = [sys.executable, "-m", "appliance", command, "--state-dir", str(state), "--http-bind", m.address]
    argv += ["--http-port", "8080", "--control-port", "9001", "--oscquery-port", "8081", "--interface", m.address]
    argv += ["--quiet", *extra]
    environ = {**os.environ, "PYTHONPATH": os.getcwd(), **(env or {})}
    with (state / "log").open("ab") as log:
        return subprocess.Popen(m.host_argv(*argv), env=environ, stdout=log, stderr=log, start_new_session=True)


def _box(m: Machine, tmp: Path, behind: bool = False) -> subprocess.Popen[bytes]:
    state = tmp / m.ns
    state.mkdir(exist_ok=True)
    env = {"LD_PRELOAD": FAKETIME, "FAKETIME": "-0.2", "FAKETIME_DONT_RESET": "1"} if behind else None
    return _service(m, state, "run", "--source", "scene:2@15", "--target", "127.0.0.1:9/bundle", env=env)


def _status(m: Machine) -> dict[str, Any]:
    """The machine's ``/api/status``, asked from inside its namespace."""
    url = f"http://{m.address}:8080/api/status"
    code = f"import urllib.request as u, sys; sys.stdout.write(u.urlopen({url!r}, timeout=3).read().decode())"
    out = subprocess.run(m.argv(sys.executable, "-c", code), capture_output=True, text=True, timeout=10)
    return json.loads(out.stdout) if out.returncode == 0 else {}


def _frames(messages: list[tuple[float, str, list[Any]]]) -> list[tuple[float, dict[int, float], list[int], list[Any]]]:
    """The hub's frames as the receiver saw them: (arrival, {global id: x centre 0..1}, left ids,
    /posenet/hub/boxes args), grouped by frame number."""
    out: list[tuple[float, dict[int, float], list[int], list[Any]]] = []
    current = None
    for t, address, args in messages:
        if address == "/posenet/frame":
            if current is None or current[0] != args[0]:
                current = (args[0], (t, {}, [], []))
                out.append(current[1])
        elif current is not None and address == "/posenet/person/pose":
            xs = args[3::3]
            current[1][1][args[0]] = sum(xs) / len(xs)
        elif current is not None and address == "/posenet/person/leave":
            current[1][2].append(args[0])
        elif current is not None and address == "/posenet/hub/boxes":
            current[1][3].extend(args)
    return out


def _wait(sink: Sink, until: Callable[[list[Any]], bool], timeout: float) -> list[Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frames = _frames(sink.messages())
        if until(frames):
            return frames
        time.sleep(0.2)
    pytest.fail(f"not within {timeout} s; last frames: {_frames(sink.messages())[-3:]}")


def test_hub_follows_real_boxes_found_on_mdns_drops_and_rejoins_them(tmp_path: Path) -> None:
    if not Path(FAKETIME).exists():
        pytest.fail("libfaketime is needed (.ci/setup installs it)")
    with venue("hub", 4) as (a, b, hub, receiver):
        boxes = {a.address: _box(a, tmp_path), b.address: _box(b, tmp_path, behind=True)}
        (tmp_path / "hub").mkdir()
        the_hub = _service(hub, tmp_path / "hub", "hub", "--target", f"{receiver.address}:{SINK_PORT}/bundle")
        sink = Sink(receiver, SINK_PORT, tmp_path / "sink.jsonl")
        try:
            _wait(sink, lambda fs: any(f[3][:2] == [2, 2] and len(f[1]) == 4 for f in fs), 40)
            for _ in range(10):  # (a box says its clock once a second: the hub may not have heard it yet)
                status = _status(hub)
                by_address = {box["address"]: box for box in status["hub"]["boxes"]}
                if not by_address[b.address]["clock"].startswith("behind or late"):
                    break
                time.sleep(0.5)
            assert by_address[a.address]["clock"] == "ok", by_address
            # the box says its clock (synchronised or not, as the machine running the test is: libfaketime
            # moves its time, not the kernel's or chrony's word), so the hub tells "lags" from "clock off"
            late = by_address[b.address]["clock"]
            print(f"the box 200 ms behind: clock {late!r}, delay {by_address[b.address]['delay_ms']} ms")
            off = late.removeprefix("clock off by ").removesuffix(" ms: fused by arrival time")
            assert late == "lags: clock in order, fused by arrival time" or 180 <= int(off) <= 400, by_address
            assert 180 <= by_address[b.address]["delay_ms"] <= 400, by_address
            order = [box["address"] for box in status["hub"]["boxes"]]
            slot = order.index(a.address)
            frames = _frames(sink.messages())
            last = next(f for f in reversed(frames) if len(f[1]) == 4)
            a_ids = {gid for gid, x in last[1].items() if int(x * 2) == slot}
            assert len(a_ids) == 2, last

            os.killpg(boxes[a.address].pid, signal.SIGKILL)
            killed = time.time()
            boxes[a.address].wait(5)
            frames = _wait(sink, lambda fs: any(f[0] > killed and f[3][:2] == [1, 2] for f in fs), 10)
            dropped = next(f for f in frames if f[0] > killed and f[3][:2] == [1, 2])
            print(f"box killed: dropped from fusion after {dropped[0] - killed:.2f} s (hub.drop_seconds 1.0)")
            assert dropped[0] - killed < 1.6
            between = [f for f in frames if killed < f[0] <= dropped[0]]
            assert a_ids <= {gid for f in between for gid in f[2]}  # its people left when it was dropped
            before = next(f for f in reversed(frames) if f[0] < killed)
            b_before = {gid for gid, x in before[1].items() if int(x * 2) != slot}
            # the other box's people keep their ids (unless its own scene looped meanwhile: a cut, they left)
            assert set(dropped[1]) == b_before or b_before <= {gid for f in between for gid in f[2]}, (before, dropped)

            boxes[a.address] = _box(a, tmp_path)
            _wait(sink, lambda fs: any(f[0] > dropped[0] and f[3][:2] == [2, 2] and len(f[1]) == 4 for f in fs), 40)
            seen = _browse(receiver)
            assert seen.get(hub.address) == "1" and seen.get(b.address) is None, seen
        finally:
            sink.close()
            for proc in [the_hub, *boxes.values()]:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(15)


def _browse(m: Machine) -> dict[str, str | None]:
    """Each machine advertising ``_http._tcp``: its TXT ``hub`` (python-zeroconf in ``m``)."""
    out = subprocess.run(
        m.argv(sys.executable, str(BROWSE), m.address, "8", "9"), capture_output=True, text=True, timeout=30
    )
    found: dict[str, str | None] = {}
    for line in out.stdout.splitlines():
        if line.startswith("{") and '"type": "_http._tcp.local."' in line:
            item = json.loads(line)
            for address in item["addresses"]:
                found[address] = item["properties"].get("hub")
    return found
