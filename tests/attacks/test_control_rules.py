"""The control port's smaller holes (issue 19), tried on a real box in a private network namespace
(tests/attacks/rules_peer.py: real subscribers on the box's network, forged frames on a veth wire).

Before (988748f, the same peer): forged clear ended every subscription and forged smoothing changes
were saved; a forged add from another port of a subscriber's computer changed its format; two hosts
took all 16 leases and a newcomer was refused; 300 forged adds left 0 of 9 real subscriptions
working; 14,859 token guesses a second were checked.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.control.leases import MAX_PER_HOST
from tests.support.service import appliance_run_args

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
MODEL = "posenet_mobilenet_v1_075_353_481_16_quant_decoder.tflite"
ARTIFACTS = ROOT / "tests" / "artifacts"


def test_forgers_and_visitors_change_nothing_that_is_not_theirs(
    models_dir: Path, images_dir: Path, tmp_path: Path
) -> None:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.fail("unshare (util-linux) and ip (iproute2) are needed")
    box = appliance_run_args(
        f"images:{images_dir}/test_couple.jpg@5", models_dir / MODEL, tmp_path, control_port=19001, http_port=18080
    )
    env = {**os.environ, "POSENET_MODELS_DIR": str(models_dir), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        ["unshare", "--net", sys.executable, str(HERE / "rules_peer.py"), "19001", "18080", "--", *box],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.splitlines()[-1])
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "control-rules.json").write_text(json.dumps(result, indent=2))
    forged = result["forged_clear_and_settings"]
    assert forged["subscribed"] and forged["subscriptions_before"] == forged["subscriptions_after"] == 1, forged
    assert not forged["smoothing_changed"], forged
    changes = result["forged_changes"]
    assert changes["echoed"] == 1 and changes["after_forged_add"] == changes["before"], changes
    assert changes["unasked_confirmations"] == 3 and changes["after_forged_changes"] == changes["before"], changes
    leases = result["leases"]
    assert set(leases["per_host"].values()) == {MAX_PER_HOST} and leases["newcomer"], leases
    assert result["flood"]["forged_adds_read"] == 300 and result["flood"]["working"] == 9, result["flood"]
    guessing = result["guessing"]
    assert guessing["checked"] <= 8 and guessing["refused_unchecked"] > 100, guessing  # 5 free, then 1 s, 2 s ...
    assert "wait" in guessing["right_token_during_back_off"][-1], guessing
    assert result["box_rc"] == 0 and "Traceback" not in result["box_log_tail"], result["box_log_tail"]
