"""The room on a hub: a zone on the floor (issue 22's stage ``zones``) counts the *fused* people the
boxes place on the floor, and the hub re-emits the floor messages with global ids. The hub is the
real service on loopback (``posenet-appliance hub --box ...``, a floor zone in its settings); the two
boxes are ``tests.support.fakebox`` boxes each seeing one person walk back and forth along y = 3 m
(1 m <= x <= 3 m), through the zone ``door`` (1.5..2.5 m)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from appliance.output.osc.wire import parse_packet
from tests.support.fakebox import FakeBox, walk

DOOR = [[1.5, 2.5], [2.5, 2.5], [2.5, 3.5], [1.5, 3.5]]


def along(i: int) -> tuple[float, float]:
    x = (i * 0.04) % 4.0
    return (1.0 + (x if x <= 2.0 else 4.0 - x), 3.0)


def near(i: int) -> tuple[float, float]:
    x, y = along(i)
    return (x + 0.1, y - 0.05)  # box B sees the same person 11 cm off: one person


def test_a_floor_zone_on_the_hub_counts_the_fused_people(tmp_path: Path) -> None:
    boxes = [FakeBox(), FakeBox()]
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    out.bind(("127.0.0.1", 0))
    out.settimeout(0.2)
    (tmp_path / "config.json").write_text(json.dumps({"zones": [{"name": "door", "points": DOOR, "space": "floor"}]}))
    argv = [sys.executable, "-m", "appliance", "hub", "--state-dir", str(tmp_path), "--http-bind", "127.0.0.1"]
    argv += ["--http-port", "0", "--control-port", "0", "--oscquery-port", "0", "--no-discovery", "--quiet"]
    argv += [x for b in boxes for x in ("--box", f"127.0.0.1:{b.port}")]
    argv += ["--target", f"127.0.0.1:{out.getsockname()[1]}/bundle"]
    hub = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
    stop = threading.Event()
    sender = threading.Thread(target=walk, args=(boxes, [along, near], 60, stop), daemon=True)
    sender.start()
    seen: dict[str, list[list[object]]] = {}
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and not {"/posenet/zone/door/enter", "/posenet/zone/door/leave"} <= set(seen):
            try:
                data = out.recv(65536)
            except TimeoutError:
                continue
            for address, args in parse_packet(data):
                seen.setdefault(address, []).append(args)
    finally:
        stop.set()
        sender.join(2)
        hub.terminate()
        hub.wait(15)
        out.close()
        for b in boxes:
            b.close()
    gids = {args[0] for args in seen.get("/posenet/person/pose", [])}
    assert len(gids) == 1, gids  # one person, seen by both boxes, one global id
    assert [a[0] for a in seen["/posenet/zone/door/enter"]] == [a[0] for a in seen["/posenet/zone/door/leave"]][:1]
    assert seen["/posenet/zone/door/enter"][0][0] in gids
    floors = seen["/posenet/person/floor"]
    assert all(a[0] in gids and 1.0 <= a[1] <= 3.11 and 2.94 <= a[2] <= 3.01 for a in floors)  # one box or both
    assert all(a[0] in gids for a in seen["/posenet/hub/floor"])
