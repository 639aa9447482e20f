"""The Pd example patches, run headless: each subscribes itself through the control port (answering
the box's confirmation with its nonce) and prints the poses of its format. Nobody types the box's IP
into the appliance: the patch asks for poses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.net import free_udp_port, wait_udp_bound
from tests.support.receivers import MODEL, pd_command, require
from tests.support.service import appliance_run_args

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
EXAMPLES = ROOT / "examples" / "pd"
TOKEN, KEY = "owner-token-0123", "patch-key-42"


@pytest.mark.parametrize(
    ("fmt", "expect"),
    [
        ("individual", lambda ln: ln == "people: 4"),
        ("bundle", lambda ln: ln.startswith("frame: ") and ln.split()[2:5] == ["512", "355", "4"]),
        ("arr", lambda ln: ln == "size-and-count: 512 355 4"),
        ("wekinator", lambda ln: ln.startswith("wek: ") and len(ln.split()) == 52),
    ],
)
def test_example_patch_subscribes_and_receives(
    models_dir: Path, images_dir: Path, tmp_path: Path, fmt: str, expect: object
) -> None:
    pd = require("pd")
    control, listen = free_udp_port(), free_udp_port()
    env = {**os.environ, "POSENET_MODELS_DIR": str(models_dir)}
    box = subprocess.Popen(
        appliance_run_args(f"images:{images_dir}/face.jpg@10", MODEL, tmp_path, control_port=control),
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        wait_udp_bound(control, timeout=60)
        log = tmp_path / "pd.log"
        with log.open("w") as out:
            subprocess.run(
                pd_command(
                    pd,
                    EXAMPLES / f"posenet-{fmt}.pd",
                    f"pn-listen {listen}; pn-connect 127.0.0.1 {control}; pn-subscribe {listen} {fmt}; pn-quit 3000",
                ),
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=30,
                check=True,
            )
    finally:
        box.terminate()
        _, err = box.communicate(timeout=15)
    lines = log.read_text().splitlines()
    assert any(expect(ln) for ln in lines), lines[:10]  # type: ignore[operator]
    if fmt == "bundle":  # the person's messages and the events, each to its own print
        printed = {ln.split(":")[0] for ln in lines}
        assert {"person", "keypoints", "box", "centre", "enter"} <= printed, sorted(printed)
        assert sum(ln.startswith("enter: ") for ln in lines) == 4  # four people, each enters once
    # The confirmed subscription was announced back to the patch, with its lease, and never saved.
    assert f"subscription: added 127.0.0.1 {listen} {fmt} 60" in lines, (lines[:10], err)
    assert not (tmp_path / "config.json").exists()


def test_with_a_subscribe_key_the_patch_needs_it_and_not_the_token(
    models_dir: Path, images_dir: Path, tmp_path: Path
) -> None:
    """A box whose owner set a subscribe key (and a token): the bundle patch, on the box's network
    (not loopback), subscribes once given the key; without it, or given the access token instead,
    it gets nothing."""
    require("pd")
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.fail("unshare (util-linux) and ip (iproute2) are needed")
    state = tmp_path / "state"
    state.mkdir()
    (state / "config.json").write_text(json.dumps({"http": {"token": TOKEN}, "osc_control": {"subscribe_key": KEY}}))
    box = appliance_run_args(
        f"images:{images_dir}/face.jpg@10", models_dir / MODEL, state, control_port=19011, http_port=18091
    )
    cases = ["without=", f"token=pn-key {TOKEN};", f"key=pn-key {KEY};"]
    env = {**os.environ, "POSENET_MODELS_DIR": str(models_dir), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        ["unshare", "--net", sys.executable, str(HERE / "pd_key_peer.py"), "19011", "18091", *cases, "--", *box],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    logs = json.loads(proc.stdout.splitlines()[-1])

    def frames(lines: list[str]) -> list[str]:
        return [ln for ln in lines if ln.startswith("frame: ") and ln.split()[2:5] == ["512", "355", "4"]]

    assert not frames(logs["without"]) and not frames(logs["token"]), (logs["without"][:10], logs["token"][:10])
    assert frames(logs["key"]), logs["key"][:10]
    assert any(ln.startswith("subscription: added 10.77.0.1 9102 bundle 60") for ln in logs["key"]), logs["key"][:10]
    assert logs["box_rc"] == 0
