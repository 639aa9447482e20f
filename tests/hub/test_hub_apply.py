"""Calibration help applied with one click, with real boxes and a real hub on a venue network
(tests.support.venue): three boxes (``scene:1`` poses, no model) see the same walker; box A's floor
marks are the room's, boxes B and C have theirs turned 10 and -6 degrees and shifted. B and C are
claimed (a token), A is not. The hub (named boxes, no mDNS: it asks each box its HTTP port over the
control port) offers a correction per box against the reference box (the first it heard with one
person: B or C, started before A); ``POST /api/hub/calibration/apply`` then:

* from a visitor of the hub (no hub token): refused, nothing changed;
* with a wrong token for the box: refused (says so), the box's floor unchanged;
* to an unclaimed box: refused (says so), unchanged;
* with the right token: the box's saved floor marks are the correction applied to the old ones
  (GET /api/config on the box shows them), close to the reference box's; the same walk again is
  refused (never applied twice), and the hub's next correction for that box is from a new walk.

Floor positions: metres, (x, y)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from appliance.pose.calibrate import corrected
from tests.support.owner import TOKEN
from tests.support.venue import Machine, venue

IMAGE = [[0, 0], [1, 0], [1, 1], [0, 1]]
ROOM = [[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0]]
HUB_TOKEN = "hub-owner-token-4567"


def _service(m: Machine, state: Path, command: str, config: dict[str, Any], *extra: str) -> subprocess.Popen[bytes]:
    state.mkdir(exist_ok=True)
    (state / "config.json").write_text(json.dumps({"device_name": f"{command}-{m.ns}", **config}))
    argv = [sys.executable, "-m", "appliance", command, "--state-dir", str(state), "--http-bind", m.address]
    argv += ["--http-port", "8080", "--control-port", "9001", "--oscquery-port", "0", "--no-discovery", "--quiet"]
    environ = {**os.environ, "PYTHONPATH": os.getcwd()}
    with (state / "log").open("ab") as log:
        return subprocess.Popen(m.argv(*argv, *extra), env=environ, stdout=log, stderr=log, start_new_session=True)


_HTTP = """
import json, sys, urllib.request as u, urllib.error as e
method, url, body, token = sys.argv[1:5]
r = u.Request(url, method=method, data=body.encode() or None, headers={"Content-Type": "application/json"})
if token:
    r.add_header("Authorization", "Bearer " + token)
try:
    with u.urlopen(r, timeout=15) as a:
        print(a.status); print(a.read().decode())
except e.HTTPError as x:
    print(x.code); print(x.read().decode())
"""


def _http(m: Machine, method: str, url: str, body: Any = None, token: str = "") -> tuple[int, Any]:
    """One request from inside machine ``m``: (status, JSON answer)."""
    data = "" if body is None else json.dumps(body)
    argv = m.argv(sys.executable, "-c", _HTTP, method, url, data, token)
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        return 0, out.stderr[-300:]
    code, _, text = out.stdout.partition("\n")
    return int(code), json.loads(text)


def _turned(degrees: float, dx: float, dy: float) -> list[list[float]]:
    return [[round(v, 4) for v in p] for p in corrected(ROOM, degrees, dx, dy)]


def _close(a: list[list[float]], b: list[list[float]], within: float) -> bool:
    return all(math.dist(p, q) <= within for p, q in zip(a, b, strict=True))


def test_a_correction_is_applied_to_the_box_once_with_its_token_only(tmp_path: Path) -> None:
    with venue("hap", 5) as (a, b, c, hub, visitor):
        floors = {a.address: ROOM, b.address: _turned(10.0, 0.4, -0.3), c.address: _turned(-6.0, -0.3, 0.2)}
        procs = []

        def start(m: Machine) -> None:
            claim = {} if m is a else {"http": {"token": TOKEN}}
            config = {"floor": {"image": IMAGE, "floor": floors[m.address]}, **claim}
            procs.append(_service(m, tmp_path / m.ns, "run", config, "--source", "scene:1@15"))

        start(b)
        start(c)
        boxes = [x for m in (a, b, c) for x in ("--box", f"{m.address}:9001")]
        procs.append(_service(hub, tmp_path / "hub", "hub", {"http": {"token": HUB_TOKEN}}, *boxes))
        apply_url = f"http://{hub.address}:8080/api/hub/calibration/apply"
        try:
            _live(visitor, hub, 2)
            start(a)  # later: the hub's reference box is B or C, so the unclaimed A is offered a correction
            offered = _corrections(visitor, hub, want=2, timeout=60, box=f"{a.address}:9001")
            ref = next(iter(offered.values()))["reference"]
            print(f"reference {ref}; offered: {offered}")
            for name, corr in offered.items():
                box = name.partition(":")[0]
                order = {"box": name, "walk": corr["walk"], "token": TOKEN}
                code, answer = _http(visitor, "POST", apply_url, order)  # a visitor of the hub
                assert code == 401, answer
                if box == a.address:  # unclaimed (its walker out of step with the others': its correction is off)
                    code, answer = _http(visitor, "POST", apply_url, order, HUB_TOKEN)
                    assert code == 403 and "no owner token" in answer["detail"][0]["msg"], answer
                    assert _floor(visitor, box) == floors[box]
                    continue
                code, answer = _http(visitor, "POST", apply_url, {**order, "token": "wrong-token-000000"}, HUB_TOKEN)
                assert code == 403 and "refused the token" in answer["detail"][0]["msg"], answer
                assert answer["detail"][0]["loc"] == ["body", "token"]
                assert _floor(visitor, box) == floors[box]  # nothing changed
            claimed = [n for n in offered if n.partition(":")[0] != a.address]
            name = claimed[0]
            box, corr = name.partition(":")[0], offered[name]
            started = time.monotonic()
            code, answer = _http(
                visitor, "POST", apply_url, {"box": name, "walk": corr["walk"], "token": TOKEN}, HUB_TOKEN
            )
            print(f"applied in {time.monotonic() - started:.2f} s (with the request's own process): {answer}")
            assert code == 200, answer
            expected = [
                [round(v, 4) for v in p] for p in corrected(floors[box], answer["degrees"], answer["dx"], answer["dy"])
            ]
            assert answer["before"] == floors[box] and answer["floor"] == expected
            now = _floor(visitor, box)
            assert now == expected, now
            reference = floors[ref.partition(":")[0]]
            print(f"{box}'s floor marks now {now}; the reference's {reference}")
            assert _close(now, reference, 0.45), (now, reference)
            saved = json.loads(
                (tmp_path / next(m.ns for m in (a, b, c) if m.address == box) / "config.json").read_text()
            )
            assert saved["floor"]["floor"] == expected
            again = {"box": name, "walk": corr["walk"], "token": TOKEN}
            code, answer = _http(visitor, "POST", apply_url, again, HUB_TOKEN)
            assert code == 409 and answer["detail"][0]["loc"] == ["body", "walk"], answer
            assert _floor(visitor, box) == expected  # not applied twice
            started = time.monotonic()
            later = _corrections(visitor, hub, want=1, timeout=40, box=name, not_walk=corr["walk"])
            print(f"a new walk's correction for {name} after {time.monotonic() - started:.1f} s: {later[name]}")
            assert later[name]["walk"] > corr["walk"], (
                later,
                corr,
            )  # a new walk (how long it took to be offered varies)
            assert abs(later[name]["degrees"]) < 1.5 and math.hypot(later[name]["dx"], later[name]["dy"]) < 0.3
        finally:
            for p in procs:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGTERM)
                p.wait(15)


def _floor(m: Machine, box: str) -> list[list[float]]:
    code, doc = _http(m, "GET", f"http://{box}:8080/api/config")
    assert code == 200, doc
    floor: list[list[float]] = doc["floor"]["floor"]
    return floor


def _live(m: Machine, hub: Machine, boxes: int) -> None:
    """Until the hub fuses ``boxes`` boxes."""
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        code, status = _http(m, "GET", f"http://{hub.address}:8080/api/status")
        hub_doc = status.get("hub") if code == 200 and isinstance(status, dict) else None
        if sum(box["live"] for box in (hub_doc or {}).get("boxes", [])) >= boxes:
            return
        time.sleep(0.5)
    pytest.fail(f"the hub did not fuse {boxes} boxes within 40 s")


def _corrections(
    m: Machine, hub: Machine, want: int, timeout: float, box: str = "", not_walk: int = 0
) -> dict[str, Any]:
    """The hub's corrections by box once ``want`` boxes have one (and ``box`` among them, from
    another walk than ``not_walk``)."""
    deadline = time.monotonic() + timeout
    found: dict[str, Any] = {}
    while time.monotonic() < deadline:
        code, status = _http(m, "GET", f"http://{hub.address}:8080/api/status")
        hub_doc = status.get("hub") if code == 200 and isinstance(status, dict) else None
        found = {corr["box"]: corr for corr in (hub_doc or {}).get("corrections", [])}
        if len(found) >= want and (not box or (box in found and found[box]["walk"] != not_walk)):
            return found
        time.sleep(1.0)
    pytest.fail(f"no {want} corrections within {timeout} s: {found}")
