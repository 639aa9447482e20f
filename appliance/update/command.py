"""``posenet-appliance update ...``: install an update file, make a key pair, build an update file.

posenet-appliance update FILE [--force]        install, switch, restart, keep only if healthy (root)
posenet-appliance update pending               what the web page uploaded (posenet-update.service)
posenet-appliance update status                the last update's outcome
posenet-appliance update keygen DIR            a new key pair: DIR/update-key, DIR/update-key.pub
posenet-appliance update build KEY OUT --wheels DIR --requirements FILE --version V
                                               (what image-build/make-update.sh runs)
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

from appliance.errors import ConfigError
from appliance.update.bundle import build, keygen
from appliance.update.install import HEALTH_SECONDS, Installer
from appliance.update.layout import Layout, read_json

__all__ = ["PENDING", "SERVICE", "add_parser"]

SERVICE = "posenet-appliance.service"
#: Where the web page's upload waits, verified, for ``posenet-update.service`` (a path unit).
PENDING = "update/pending.update"


def add_parser(sub: Any) -> None:
    p = sub.add_parser("update", help="install a signed update file (or: keygen DIR, build ..., pending, status)")
    p.add_argument("what", nargs="+", help="FILE | keygen DIR | build KEY OUT | pending | status")
    p.add_argument("--force", action="store_true", help="install even if not newer than the running version")
    p.add_argument("--prefix", default=os.environ.get("POSENET_PREFIX", "/opt/posenet-appliance"))
    p.add_argument("--state-dir", default="/var/lib/posenet-appliance")
    p.add_argument("--key", help="the box's public key (default PREFIX/update-key.pub)")
    p.add_argument("--no-restart", action="store_true", help="switch but do not restart the service")
    p.add_argument("--health-seconds", type=float, default=HEALTH_SECONDS, help="time to become healthy")
    p.add_argument("--wheels", help="build: folder of the appliance's wheel and its dependencies' wheels")
    p.add_argument("--requirements", help="build: the hash-locked requirements file")
    p.add_argument("--version", dest="build_version", help="build: the version (numbers and dots)")
    p.add_argument("--machine", default="", help="build: the target machine (default this one's)")
    p.set_defaults(func=cmd_update)


def cmd_update(args: argparse.Namespace) -> int:
    what = args.what
    os.umask(0o022)  # what is installed in the prefix is read by the service's user
    if what[0] == "keygen":
        if len(what) != 2:
            raise ConfigError("usage: posenet-appliance update keygen DIR")
        private, public = keygen(Path(what[1]))
        print(f"private key (keep it off the boxes): {private}\npublic key (for the image build): {public}")
        return 0
    if what[0] == "build":
        return _build(args)
    layout = Layout(Path(args.prefix), Path(args.state_dir))
    if what[0] == "status":
        print(json.dumps(read_json(layout.status) or {"state": "none"}, indent=1))
        return 0
    if len(what) != 1:
        raise ConfigError("usage: posenet-appliance update FILE [--force]")
    force = args.force
    if what[0] == "pending":
        pending = layout.state_dir / PENDING
        if not pending.exists():
            print("no update is pending")
            return 0
        flags = read_json(pending.with_suffix(".json")) or {}
        force = bool(flags.get("force"))
        path = layout.work / "applying.update"
        layout.work.mkdir(parents=True, exist_ok=True)
        pending.replace(path)  # taken: the path unit does not fire again for it
        pending.with_suffix(".json").unlink(missing_ok=True)
        if not stat.S_ISREG(path.lstat().st_mode):  # a link or a FIFO the service's user put there
            path.unlink()
            raise ConfigError("the pending update is not a plain file: refused")
    else:
        path = Path(what[0])
        if not path.is_file():
            raise ConfigError(f"no such update file: {path}")
    if not os.access(layout.prefix, os.W_OK):
        raise ConfigError(f"{layout.prefix} is not writable: run it as root (sudo), or give --prefix")
    installer = Installer(
        layout,
        Path(args.key) if args.key else layout.prefix / "update-key.pub",
        restart=None if args.no_restart or not Path("/run/systemd/system").is_dir() else _restart,
        health_seconds=args.health_seconds,
    )
    try:
        outcome = installer.apply(path, force=force)
    finally:
        if what[0] == "pending":
            path.unlink(missing_ok=True)
    print(outcome.message)
    print("timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in outcome.timings.items()))
    return 0 if outcome.state in ("ok", "installed") else 1


def _restart() -> None:
    subprocess.run(["systemctl", "restart", "--no-block", SERVICE], check=True, timeout=60)


def _build(args: argparse.Namespace) -> int:
    if len(args.what) != 3 or not (args.wheels and args.requirements and args.build_version):
        raise ConfigError("usage: posenet-appliance update build KEY OUT --wheels DIR --requirements FILE --version V")
    wheels = sorted(Path(args.wheels).glob("*.whl"))
    own = [w for w in wheels if w.name.startswith("posenet_appliance-")]
    if len(own) != 1:
        raise ConfigError(f"{args.wheels} must hold exactly one posenet_appliance wheel, found {len(own)}")
    manifest = build(
        Path(args.what[1]),
        Path(args.what[2]),
        wheel=own[0],
        wheels=[w for w in wheels if w != own[0]],
        requirements=Path(args.requirements),
        version=args.build_version,
        machine=args.machine,
    )
    size = Path(args.what[2]).stat().st_size
    print(
        f"{args.what[2]}: version {manifest.version} for {manifest.machine}, Python {manifest.python}, "
        f"{len(manifest.files)} files, {size / 1e6:.1f} MB"
    )
    return 0
