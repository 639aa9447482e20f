"""``posenet-appliance bench update FILE --key PUB``: how long an update's steps take on this machine.

Each run installs the update file into a fresh temporary prefix whose running version is an empty,
complete venv (so nothing of this machine changes), then rolls it back: verify (signature and every
hash), install (the offline pip install of every wheel), switch (the link), rollback (the link back
and the configuration). Prints each step's median over ``--runs``. The health confirmation depends
on the service's start (model load, Edge TPU probe) and is measured under systemd instead
(tests/integration/test_nspawn_update.py).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from appliance.update.install import Installer
from appliance.update.layout import Layout, read_json, rollback, write_json

__all__ = ["add_parser"]


def _prefix(root: Path) -> Layout:
    layout = Layout(root / "opt", root / "state")
    old = layout.version_dir("0.0.1")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(old / "venv")], check=True)
    write_json(old / "complete.json", {"version": "0.0.1"})
    layout.venv.parent.mkdir(parents=True, exist_ok=True)
    layout.venv.symlink_to("versions/0.0.1/venv")
    layout.state_dir.mkdir()
    (layout.state_dir / "config.json").write_text("{}")
    return layout


def one_run(file: Path, key: Path) -> dict[str, float]:
    """The steps' seconds for one install and rollback of ``file``."""
    with tempfile.TemporaryDirectory(prefix="bench-update-") as tmp:
        layout = _prefix(Path(tmp))
        outcome = Installer(layout, key).apply(file)
        trial = read_json(layout.trial) or {}
        t0 = time.monotonic()
        rollback(layout, trial, "benchmark")
        timings = dict(outcome.timings)
        timings["rollback_s"] = time.monotonic() - t0
        return timings


def cmd_update(args: argparse.Namespace) -> int:
    runs = [one_run(Path(args.file), Path(args.key)) for _ in range(args.runs)]
    size = Path(args.file).stat().st_size
    print(f"update file {Path(args.file).name}: {size / 1e6:.1f} MB, {args.runs} runs (medians)")
    for step in ("verify_s", "install_s", "switch_s", "rollback_s"):
        values = [r[step] for r in runs if step in r]
        print(f"  {step[:-2]:<9} {statistics.median(values):8.3f} s   (min {min(values):.3f}, max {max(values):.3f})")
    return 0


def add_parser(bsub: Any) -> None:
    """Register ``bench update``."""
    p = bsub.add_parser("update", help="how long an update's verify, install, switch and rollback take")
    p.add_argument("file", help="an update file (image-build/make-update.sh)")
    p.add_argument("--key", required=True, help="the public key it is signed for (update-key.pub)")
    p.add_argument("--runs", type=int, default=3)
    p.set_defaults(func=cmd_update)
