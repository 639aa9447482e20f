"""A visitor forges the source address of control packets (raw frames on a veth pair in a private
network namespace): the box sends the victim at most one small confirmation, never a stream, and
forged changes without the access token change nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.service import appliance_run_args

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MODEL = "posenet_mobilenet_v1_075_353_481_16_quant_decoder.tflite"
ARTIFACTS = ROOT / "tests" / "artifacts"


def test_spoofed_subscriptions_reflect_nothing(models_dir: Path, images_dir: Path, tmp_path: Path) -> None:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.fail("unshare (util-linux) and ip (iproute2) are needed")
    box = appliance_run_args(
        f"images:{images_dir}/test_couple.jpg@5", models_dir / MODEL, tmp_path, control_port=19001, http_port=18080
    )
    env = {**os.environ, "POSENET_MODELS_DIR": str(models_dir), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        ["unshare", "--net", sys.executable, str(HERE / "spoof_peer.py"), "19001", "18080", "--", *box],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.splitlines()[-1])
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "spoofing.json").write_text(json.dumps(result, indent=2))
    add = result["spoofed_add"]
    # 15 forged subscriptions: one confirmation goes to the victim, nothing else, and nothing subscribed.
    assert add["packets_to_victim"] == 1 and add["bytes_to_victim"] < 1024, add
    assert add["first"].startswith("/posenet/listeners/confirm"), add
    assert add["targets"] == 1  # only the box's own saved target
    forged = result["forged_without_token"]
    assert forged["targets_before"] == forged["targets_after"] == 2, forged
    # Errors go back to the (forged) sender, but never more bytes than came in (plus the allowance).
    assert forged["bytes_to_victim"] <= forged["bytes_in"] + 2048, forged
    assert result["box_rc"] == 0, result["box_log_tail"]
