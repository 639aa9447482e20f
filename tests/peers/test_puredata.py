"""Pure Data (vanilla, headless) receives the individual format; its patch checks every value."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.net import free_udp_port, wait_udp_bound
from tests.support.receivers import MODEL, pd_command, require, run_appliance

PATCH = Path(__file__).resolve().parent / "check_individual.pd"


def test_pd_receives_individual_and_every_value_is_valid(models_dir: Path, images_dir: Path, tmp_path: Path) -> None:
    pd = require("pd")
    port = free_udp_port()
    log = tmp_path / "pd.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            pd_command(pd, PATCH, f"oscport {port}; quitafter 60000"),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_udp_bound(port)
            targets = [f"127.0.0.1:{port}/individual"]
            run = run_appliance(models_dir, images_dir, targets, 2.5, tmp_path / "state", "--coords", "normalized")
            assert run.returncode == 0, run.stderr
        finally:
            proc.terminate()
            proc.wait(10)
    lines = log.read_text().splitlines()
    amounts = [ln for ln in lines if ln.startswith("AMOUNT:")]
    valid = [ln for ln in lines if ln.startswith("VALID:")]
    kps = [ln.split()[1:] for ln in lines if ln.startswith("KP:")]
    # The first frame has nobody yet (a person is reported once seen in two frames in a row).
    assert len(amounts) >= 5 and amounts[0] == "AMOUNT: 0" and set(amounts[1:]) == {"AMOUNT: 4"}
    assert len(valid) == len(kps) == 4 * 17 * (len(amounts) - 1)
    assert set(valid) == {"VALID: 1"}, "the patch found a value outside 0..1"
    # Pd saw the same nose as `detect` reports (normalised), to Pd's 6 significant digits.
    det = subprocess.run(
        [
            sys.executable,
            "-m",
            "appliance",
            "detect",
            str(images_dir / "face.jpg"),
            "--json",
            "--model",
            str(models_dir / MODEL),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    doc = json.loads(det.stdout)
    nose = doc["poses"][0]["keypoints"][0]
    first = next(k for k in kps if k[:2] == ["0", "nose"])
    score, x, y = map(float, first[2:])
    assert abs(score - nose["score"]) < 1e-3
    assert abs(x - nose["x"] / doc["width"]) < 1e-3 and abs(y - nose["y"] / doc["height"]) < 1e-3
