"""The Pd example patches with a subscribe key, run headless on the box's network (connected by hand:
``pn-connect``). How they find the box by themselves, and every format's poses: test_pd_discovery."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.receivers import MODEL, require
from tests.support.service import appliance_run_args

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TOKEN, KEY = "owner-token-0123", "patch-key-42"


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
