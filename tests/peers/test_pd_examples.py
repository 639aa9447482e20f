"""The Pd example patches, run headless: each subscribes itself through the control port and prints
the poses of its format. Nobody types the box's IP into the appliance: the patch asks for poses."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import appliance_run_args, free_udp_port
from tests.peers.conftest import MODEL, pd_command, require, wait_udp_bound

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "pd"


@pytest.mark.parametrize(
    ("fmt", "expect"),
    [
        ("individual", lambda ln: ln == "people: 4"),
        ("bundle", lambda ln: ln.startswith("frame: ") and ln.endswith(" 512 355 4")),
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
    saved = json.loads((tmp_path / "config.json").read_text())
    assert {"host": "127.0.0.1", "port": listen, "format": fmt, "coords": "normalized", "mirror": False} in saved[
        "targets"
    ], err
