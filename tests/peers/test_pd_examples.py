"""The Pd example patches, run headless: each subscribes itself through the control port (answering
the box's confirmation with its nonce) and prints the poses of its format. Nobody types the box's IP
into the appliance: the patch asks for poses."""

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


def test_a_patch_with_the_token_subscribes_and_one_without_gets_nothing(
    models_dir: Path, images_dir: Path, tmp_path: Path
) -> None:
    """With an access token set, the example patch subscribes once it is given the token."""
    pd = require("pd")
    control = free_udp_port()
    env = {**os.environ, "POSENET_MODELS_DIR": str(models_dir)}
    (tmp_path / "config.json").write_text(json.dumps({"http": {"token": "s3cret"}}))
    box = subprocess.Popen(
        appliance_run_args(f"images:{images_dir}/face.jpg@10", MODEL, tmp_path, control_port=control),
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    logs = {}
    try:
        wait_udp_bound(control, timeout=60)
        for name, token in (("without", ""), ("with", "pn-token s3cret; ")):
            listen = free_udp_port()
            logs[name] = tmp_path / f"pd-{name}.log"
            with logs[name].open("w") as out:
                subprocess.run(
                    pd_command(
                        pd,
                        EXAMPLES / "posenet-bundle.pd",
                        f"pn-listen {listen}; pn-connect 127.0.0.1 {control}; {token}"
                        f"pn-subscribe {listen} bundle; pn-quit 3000",
                    ),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=30,
                    check=True,
                )
    finally:
        box.terminate()
        box.communicate(timeout=15)
    without, with_token = logs["without"].read_text().splitlines(), logs["with"].read_text().splitlines()
    assert not any(ln.startswith("frame: ") for ln in without), without[:10]
    assert any(ln.startswith("frame: ") and ln.split()[2:5] == ["512", "355", "4"] for ln in with_token), with_token[
        :10
    ]
