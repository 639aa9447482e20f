"""mDNS / DNS-SD and OSCQuery with real peers, only inside a network namespace this test creates.

``unshare --net`` gives a namespace with nothing but its own loopback, so no multicast can leave
the machine. Two appliances with the same device name run in it; python-zeroconf, in a separate
process, browses for the three service types and must find both boxes under different instance
names, with their TXT records; the OSCQuery server is then read through the advertised port.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.discovery.boxes import box_command

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

CHECK_OSCQUERY = r"""
import json, sys, urllib.request, urllib.error
base = sys.argv[1]
def get(path):
    try:
        with urllib.request.urlopen(base + path, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, b""
out = {}
for path in ["/", "/?HOST_INFO", "/posenet/format?TYPE", "/posenet/format?VALUE", "/poses/amount?VALUE",
             "/nope", "/posenet?BOGUS", "/posenet/listeners/add", "/posenet/frame?ACCESS", "/posenet/frame?VALUE"]:
    status, body = get(path)
    out[path] = {"status": status, "body": json.loads(body) if body else None}
print(json.dumps(out))
"""


PATCH_FORMAT = r"""
import json, sys, urllib.request
body = json.dumps({"targets": [{"host": "127.0.0.1", "port": 9, "format": "arr"}]}).encode()
req = urllib.request.Request(sys.argv[1] + "/api/config", method="PATCH", data=body,
                             headers={"Content-Type": "application/json"})
urllib.request.urlopen(req, timeout=5).read()
"""


def test_two_boxes_are_found_with_txt_records_and_oscquery(models_dir: Path, images_dir: Path, tmp_path: Path) -> None:
    if shutil.which("unshare") is None:
        pytest.fail("unshare (util-linux) is needed to make a private network namespace")
    py = sys.executable

    def appliance(name: str, http: int, control: int, oscquery: int) -> str:
        box = box_command(models_dir, images_dir, tmp_path / name, http=http, control=control, oscquery=oscquery)
        return f"{box} > {tmp_path / name}.log 2>&1 &"

    script = "\n".join(
        [
            "set -e",
            "ip link set lo up",
            appliance("box-a", 18080, 19001, 18081),
            "A=$!",
            appliance("box-b", 28080, 29001, 28081),
            "B=$!",
            f"{py} {HERE / 'browse.py'} 127.0.0.1 40 6 12 > {tmp_path / 'found.jsonl'} &",
            "W=$!",
            f"until grep -q READY {tmp_path / 'found.jsonl'}; do sleep 0.1; done",
            f"{py} -c '{CHECK_OSCQUERY}' http://127.0.0.1:18081 > {tmp_path / 'oscquery.json'}",
            # a configuration change is re-announced ...
            f"{py} -c '{PATCH_FORMAT}' http://127.0.0.1:18080",
            "sleep 2",
            # ... and a stopped box says goodbye
            "kill -TERM $A",
            "wait $A",
            "sleep 2",
            "kill -TERM $B",
            "wait $B",
            "kill $W; wait $W || true",
        ]
    )
    env = {**os.environ, "POSENET_MODELS_DIR": str(models_dir), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        ["unshare", "--net", "sh", "-c", script], capture_output=True, text=True, timeout=150, env=env, check=False
    )
    logs = "\n".join(
        (tmp_path / f"{n}.log").read_text() for n in ("box-a", "box-b") if (tmp_path / f"{n}.log").exists()
    )
    assert proc.returncode == 0, proc.stderr + logs

    lines = (tmp_path / "found.jsonl").read_text().splitlines()
    ready = lines.index("READY")
    found = [json.loads(line) for line in lines[:ready]]
    events = [json.loads(line) for line in lines[ready + 1 :]]
    by_type: dict[str, list[dict]] = {}
    for s in found:
        by_type.setdefault(s["type"], []).append(s)
    assert sorted(by_type) == ["_http._tcp.local.", "_osc._udp.local.", "_oscjson._tcp.local."], found
    osc = sorted(by_type["_osc._udp.local."], key=lambda s: s["port"])
    assert [s["port"] for s in osc] == [19001, 29001]
    names = {s["name"].split("._osc")[0] for s in osc}
    assert len(names) == 2, f"two boxes must get different instance names: {names}"
    assert all(n.startswith("posenet (") for n in names)
    txt = osc[0]["properties"]
    assert txt["txtvers"] == "1" and txt["osc_port"] == "19001" and txt["oscjson_port"] == "18081"
    assert txt["http_port"] == "18080" and txt["formats"] == "bundle" and txt["model"].startswith("posenet_")
    assert txt["backend"].startswith("cpu") and txt["version"]
    assert osc[0]["addresses"] == ["127.0.0.1"]
    http = {s["port"] for s in by_type["_http._tcp.local."]}
    assert http == {18080, 28080}

    q = json.loads((tmp_path / "oscquery.json").read_text())
    root = q["/"]["body"]
    assert q["/"]["status"] == 200 and root["FULL_PATH"] == "/" and {"posenet"} <= set(root["CONTENTS"])
    host = q["/?HOST_INFO"]["body"]
    assert host["OSC_PORT"] == 19001 and host["OSC_TRANSPORT"] == "UDP" and host["NAME"] in names
    assert host["EXTENSIONS"]["ACCESS"] is True
    assert q["/posenet/format?TYPE"]["body"] == {"TYPE": "s"}
    assert q["/posenet/format?VALUE"]["status"] == 204  # write-only: no value
    assert q["/poses/amount?VALUE"]["body"] == {"VALUE": [4]}  # every format's outputs, this frame's values
    frame = q["/posenet/frame?VALUE"]["body"]["VALUE"]
    assert frame[1:4] == [512, 355, 4] and len(frame) == 6
    assert q["/nope"]["status"] == 404 and q["/posenet?BOGUS"]["status"] == 400
    add = q["/posenet/listeners/add"]["body"]
    assert add["ACCESS"] == 2 and add["TYPE"] == "is" and add["FULL_PATH"] == "/posenet/listeners/add"
    assert q["/posenet/frame?ACCESS"]["body"] == {"ACCESS": 1}

    # Re-announced after the change: box A's TXT now lists the new format.
    box_a = next(s["name"] for s in osc if s["port"] == 19001).split("._osc")[0]
    updated = [e["updated"] for e in events if "updated" in e and e["updated"]["name"].startswith(box_a)]
    assert any(u["properties"].get("formats") == "arr" for u in updated), events
    # Withdrawn on shutdown: goodbyes for all three of box A's services.
    removed = {e["removed"] for e in events if "removed" in e}
    assert {f"{box_a}.{t}" for t in by_type} <= removed, events


def test_a_patch_finds_subscribes_and_receives_without_an_address(
    models_dir: Path, images_dir: Path, tmp_path: Path
) -> None:
    """The whole zero-configuration promise, end to end, in a private namespace."""
    py = sys.executable
    script = "\n".join(
        [
            "set -e",
            "ip link set lo up",
            box_command(models_dir, images_dir, tmp_path / "state", fps=10, target="127.0.0.1:9/arr")
            + f" > {tmp_path}/box.log 2>&1 &",
            "BOX=$!",
            f"{py} {HERE / 'zeroconf_patch.py'} 127.0.0.1 40 > {tmp_path}/patch.json",
            "kill -TERM $BOX; wait $BOX",
        ]
    )
    env = {**os.environ, "POSENET_MODELS_DIR": str(models_dir), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        ["unshare", "--net", "sh", "-c", script], capture_output=True, text=True, timeout=120, env=env, check=False
    )
    assert proc.returncode == 0, proc.stderr + (tmp_path / "box.log").read_text()
    result = json.loads((tmp_path / "patch.json").read_text())
    assert result["host_info"]["osc_port"] == 19001 and result["host_info"]["osc_ip"] == "127.0.0.1"
    assert result["host_info"]["name"].startswith("posenet (") and result["amount"] == [4]
    assert result["add_type"] == ["int", "str"]  # python-oscquery typed the method from our TYPE "is"
    assert result["reply"][0] == "/posenet/listeners/added" and result["reply"][3] == "bundle"
    assert result["frames"] == 3 and result["people"] == 4
    assert result["listened"] == [["/poses/amount", 4]] * 3  # LISTEN over the OSCQuery WebSocket


POKE = r"""
import json, os, signal, sys, time, urllib.request as u
base = "http://127.0.0.1:18080"
if sys.argv[1] == "wait":
    while True:
        try:
            u.urlopen(base + "/api/status", timeout=1).read()
            break
        except OSError:
            time.sleep(0.2)
else:  # the change, and SIGTERM the moment it is answered
    body = json.dumps({"targets": [{"host": "127.0.0.1", "port": 9, "format": sys.argv[1]}]}).encode()
    u.urlopen(u.Request(base + "/api/config", data=body, method="PATCH", headers={"Content-Type": "application/json"}))
    os.kill(int(sys.argv[2]), signal.SIGTERM)
"""


def test_a_change_just_before_shutdown_is_not_announced_after_the_goodbyes(
    models_dir: Path, images_dir: Path, tmp_path: Path
) -> None:
    """Three times: a change, then SIGTERM at once. The last word on each service is its goodbye."""
    py = sys.executable
    box = box_command(models_dir, images_dir, tmp_path / "state") + f" >> {tmp_path}/box.log 2>&1 &"
    poke = tmp_path / "poke.py"
    poke.write_text(POKE)
    rounds = []
    for fmt in ("arr", "individual", "wekinator"):
        rounds += [box, "A=$!", f"{py} {poke} wait", "sleep 1", f"{py} {poke} {fmt} $A", "wait $A"]
    script = "\n".join(
        [
            "set -e",
            "ip link set lo up",
            f"{py} {HERE / 'browse.py'} 127.0.0.1 1 0 60 > {tmp_path / 'events.jsonl'} &",
            "W=$!",
            f"until grep -q READY {tmp_path / 'events.jsonl'}; do sleep 0.1; done",
            *rounds,
            "sleep 4",
            "kill $W; wait $W || true",
        ]
    )
    env = {**os.environ, "POSENET_MODELS_DIR": str(models_dir), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        ["unshare", "--net", "sh", "-c", script], capture_output=True, text=True, timeout=150, env=env, check=False
    )
    log = (tmp_path / "box.log").read_text() if (tmp_path / "box.log").exists() else ""
    assert proc.returncode == 0, proc.stderr + log
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines[lines.index("READY") + 1 :]]
    last: dict[str, str] = {}
    for e in events:
        kind, value = next(iter(e.items()))
        name = value["name"] if kind == "updated" else value
        last[name] = kind
    assert len(last) == 3 and set(last.values()) == {"removed"}, events
    assert log.count("stopped:") == 3 and "never retrieved" not in log and "Traceback" not in log, log[-3000:]
