"""The unchanged Pd example patches find the boxes by themselves (issue 25): Pd headless in one
network namespace (a bridged LAN), two boxes each in a namespace of their own, joined by veth pairs
(tests/peers/pd_discover_peer.py). Nobody types an address: each patch broadcasts
/posenet/discover, lists both boxes once by name, connects to one, subscribes and prints poses; the
box it chose restarts on another address and the poses come again; forged, broadcast and off-subnet
questions get no answer, and floods stay within the rate limits at no cost to the pipeline."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.control.discover import OVERALL_BURST, OVERALL_RATE, PER_SOURCE_BURST, PER_SOURCE_RATE
from tests.support.receivers import require

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"

EXPECT = {
    "individual": lambda ln: ln == "people: 4",
    "bundle": lambda ln: ln.startswith("frame: ") and ln.split()[2:5] == ["512", "355", "4"],
    "arr": lambda ln: ln == "size-and-count: 512 355 4",
    "wekinator": lambda ln: ln.startswith("wek: ") and len(ln.split()) == 52,
}


def test_example_patches_find_the_boxes_follow_a_move_and_resist_forgers(
    models_dir: Path, images_dir: Path, tmp_path: Path
) -> None:
    require("pd")
    if shutil.which("unshare") is None or shutil.which("nsenter") is None or shutil.which("ip") is None:
        pytest.fail("unshare, nsenter (util-linux) and ip (iproute2) are needed")
    env = {**os.environ, "POSENET_MODELS_DIR": str(models_dir), "PYTHONPATH": str(ROOT)}
    peer = [sys.executable, str(HERE / "pd_discover_peer.py"), str(models_dir), str(images_dir), str(tmp_path)]
    proc = subprocess.run(
        ["unshare", "--net", *peer], capture_output=True, text=True, timeout=150, env=env, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.splitlines()[-1])
    logs = result.pop("logs")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "pd-discovery.json").write_text(json.dumps(result, indent=2))
    for fmt, lines in logs.items():
        found = sorted(ln.split(" (")[0] for ln in lines if ln.startswith("found: "))
        assert found == ["found: alpha", "found: beta"], (fmt, found)  # both, each listed once
        connected = [ln for ln in lines if ln.startswith("connected: ")]
        assert connected[0] in ("connected: 10.88.0.2 9001", "connected: 10.88.0.3 9001"), (fmt, connected)
        assert any(ln.startswith("subscription: added 10.88.0.10 ") for ln in lines), (fmt, lines[:10])
        assert any(EXPECT[fmt](ln) for ln in lines), (fmt, lines[:10])
    # The bundle patch also prints the room (issue 22): the scene, a zone's count, a slot.
    bundle = logs["bundle"]
    scenes = [ln.split()[1:] for ln in bundle if ln.startswith("scene: ")]
    assert scenes and all(int(s[0]) == len(s) - 1 for s in scenes) and any(s[0] == "4" for s in scenes)
    assert "zone: door count 4" in bundle, [ln for ln in bundle if ln.startswith("zone")][:5]
    assert any(ln.startswith("slot: 1 centre ") for ln in bundle) and any(
        ln.startswith("slot: 4 pose ") for ln in bundle
    )
    assert any(ln.startswith("slot1: centre ") for ln in bundle)  # slot 1 picked out by its number
    # Picking the second box listed (choose_later.pd, as a click on 2): the patch moves to it.
    individual = logs["individual"]
    second = [ln for ln in individual if ln.startswith("found: ")][1].split(" ")[1:3]  # name (id)
    picked = [i for i, ln in enumerate(individual) if ln == f"chosen: {' '.join(second)}"]
    assert len(picked) == 1, [ln for ln in individual if ln.startswith(("found", "chosen", "connected"))]
    after = individual[picked[0] :]
    assert any(ln.startswith("connected: ") for ln in after) and "people: 4" in after, after[:10]
    # The bundle patch (given nothing but its quit time) follows its box to the new address.
    bundle = logs["bundle"]
    assert result["first"]["frame_line"] > 0 and result["second"]["frame_line"] > result["second"]["connected"] > 0
    assert bundle[result["second"]["connected"]] == "connected: 10.88.0.4 9001"
    printed = {ln.split(":")[0] for ln in bundle[result["second"]["connected"] :]}
    assert {"person", "keypoints", "box", "centre"} <= printed, sorted(printed)
    attacks = result["attacks"]
    # Forged from broadcast, multicast and other networks, a real computer of another network, port 0: nothing.
    assert attacks["forged_or_off_subnet_answers"] == [] and attacks["off_subnet_socket_got"] == "", attacks
    assert attacks["refused"] >= 4, attacks  # they did arrive, and were refused by the box itself
    one, many = attacks["one_source"], attacks["many_sources"]
    assert 0 < one["answers"] <= PER_SOURCE_BURST + PER_SOURCE_RATE * one["seconds"] + 1, one
    assert 0 < many["answers"] <= OVERALL_BURST + OVERALL_RATE * many["seconds"] + 1, many
    for flood in (one, many):
        assert flood["answers_to_other_hosts"] == 0 and flood["bytes_out"] < flood["bytes_in"] / 10, flood
        assert flood["frames_flood"] >= flood["frames_quiet"] - 3, flood  # the pipeline kept its pace
    assert result["saved_subscriptions"] == []
    assert result["box_rc"] == [0, 0], result["box_logs"]
