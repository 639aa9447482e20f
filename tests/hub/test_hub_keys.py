"""A box that requires a subscribe key, and three real hubs on a venue network of private namespaces
(tests.support.venue: on loopback the box would take the hub for itself, which needs no key): the hub
with the venue's key (``hub.subscribe_key``) gets the box's people; the hub with a wrong key and the
hub with none are refused, say so for that box (``/api/status`` hub.boxes[].refused, subscribed
false) and get no people, while the key shows in no answer of theirs."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.support.venue import Machine, venue

KEY = "venue-key-2026"


def _service(m: Machine, state: Path, config: dict[str, Any], command: str, *extra: str) -> subprocess.Popen[bytes]:
    state.mkdir()
    (state / "config.json").write_text(
        json.dumps({"device_name": f"{command}-{m.address.rsplit('.', 1)[1]}", **config})
    )
    argv = [sys.executable, "-m", "appliance", command, "--state-dir", str(state), "--http-bind", m.address]
    argv += ["--http-port", "8080", "--control-port", "9001", "--oscquery-port", "0", "--no-discovery"]
    argv += ["--target", "127.0.0.1:9/bundle", "--quiet", *extra]
    environ = {**os.environ, "PYTHONPATH": os.getcwd()}
    with (state / "log").open("ab") as log:
        return subprocess.Popen(m.argv(*argv), env=environ, stdout=log, stderr=log, start_new_session=True)


def _get(m: Machine, path: str) -> str:
    """``path`` of the machine's HTTP API, asked from inside its namespace ("" when it does not answer)."""
    url = f"http://{m.address}:8080{path}"
    code = f"import urllib.request as u, sys; sys.stdout.write(u.urlopen({url!r}, timeout=3).read().decode())"
    out = subprocess.run(m.argv(sys.executable, "-c", code), capture_output=True, text=True, timeout=10)
    return out.stdout if out.returncode == 0 else ""


def _box_state(m: Machine) -> dict[str, Any]:
    """The hub's one box as its status reports it ({} before it reports one)."""
    text = _get(m, "/api/status")
    boxes = (json.loads(text).get("hub") or {}).get("boxes", []) if text else []
    return boxes[0] if boxes else {}


def test_the_hub_with_the_key_gets_the_boxs_people_and_the_others_are_refused(tmp_path: Path) -> None:
    with venue("hk", 4) as (box, right, wrong, none):
        procs = [
            _service(box, tmp_path / "box", {"osc_control": {"subscribe_key": KEY}}, "run", "--source", "scene:2@15")
        ]
        hub = ["--box", f"{box.address}:9001"]
        procs.append(_service(right, tmp_path / "right", {"hub": {"subscribe_key": KEY}}, "hub", *hub))
        procs.append(_service(wrong, tmp_path / "wrong", {"hub": {"subscribe_key": "not-the-key-1"}}, "hub", *hub))
        procs.append(_service(none, tmp_path / "none", {}, "hub", *hub))
        try:
            deadline = time.monotonic() + 60
            states: dict[str, dict[str, Any]] = {}
            while time.monotonic() < deadline:
                states = {h.ns: _box_state(h) for h in (right, wrong, none)}
                if states[right.ns].get("people", 0) >= 1 and all(states[h.ns].get("refused") for h in (wrong, none)):
                    break
                time.sleep(0.5)
            assert states[right.ns].get("subscribed") and states[right.ns]["people"] >= 1, states
            assert states[right.ns]["refused"] == "", states
            for refused in (wrong, none):
                for _ in range(6):  # and stay so: no poses flow
                    state = _box_state(refused)
                    assert "wrong or missing subscribe key" in state["refused"], state
                    assert not state["subscribed"] and not state["live"] and state["people"] == 0, state
                    time.sleep(0.5)
            shown = _get(right, "/api/config")
            assert json.loads(shown)["hub"]["subscribe_key_set"] is True
            assert KEY not in shown and KEY not in _get(right, "/api/status")
        finally:
            for proc in procs:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(15)
