"""One clock on the box: ``posenet-appliance clock apply | status`` and the service's part of
``clock.server = "auto"``.

The service runs unprivileged and never touches chrony. With ``clock.server`` "auto" it writes the
address of the box that serves time (a verified mDNS peer whose TXT says ``clock=serve``) to
``clock-server`` in its state directory; ``posenet-clock.path`` sees that file (or the saved
configuration) change and runs ``posenet-appliance clock apply`` as root, which writes chrony's
drop-in and sources from the *validated* settings (``appliance.timesync``: nothing but a host name
or an IP address reaches chrony's files) and restarts or reloads chronyd.
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import json
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from appliance.core.status import Peer
from appliance.timesync import AUTO, chrony_conf, sources_text, tracking, write_if_changed

__all__ = ["SERVER_FILE", "SERVES", "add_parser", "apply", "chosen_server", "write_choice"]

#: The file in the state directory naming the time server found on mDNS (one IPv4 address, or empty).
SERVER_FILE = "clock-server"
#: The TXT property a box serving time advertises (``clock=serve``).
SERVES = ("clock", "serve")
#: Where ``clock apply`` writes by default (Debian's chrony includes ``/etc/chrony/conf.d/*.conf``).
CONF = Path("/etc/chrony/conf.d/posenet.conf")
SOURCES_DIR = Path("/etc/chrony/posenet.d")


def chosen_server(peers: Iterable[Peer]) -> str:
    """The address of the box that serves time among ``peers`` (verified mDNS peers): the first by
    instance name of those whose TXT says ``clock=serve``, so every box picks the same one; "" if none."""
    serving = sorted((p for p in peers if p.txt.get(SERVES[0]) == SERVES[1]), key=lambda p: p.name)
    return serving[0].address if serving else ""


def write_choice(state_dir: Path, peers: Iterable[Peer]) -> bool:
    """Write ``chosen_server(peers)`` to ``SERVER_FILE`` unless it already says so; whether it wrote."""
    return write_if_changed(state_dir / SERVER_FILE, chosen_server(peers) + "\n")


def _found_server(state_dir: Path) -> str:
    """The address the service wrote, if it is one ("" otherwise: a file it did not write is ignored)."""
    try:
        text = (state_dir / SERVER_FILE).read_text()[:64].strip()
        return str(ipaddress.ip_address(text))
    except (OSError, ValueError):
        return ""


def apply(config: Any, state_dir: Path, conf: Path, sources_dir: Path, reload: bool = True) -> str:
    """Write chrony's drop-in (and, for "auto", the sources file) for ``config.clock``; restart chronyd
    when the drop-in changed, reload its sources when only they did. One line of what it did."""
    clock = config.clock
    changed = write_if_changed(conf, chrony_conf(clock.serve, clock.server, str(sources_dir)))
    found = _found_server(state_dir) if clock.server == AUTO else ""
    sources = write_if_changed(sources_dir / "hub.sources", sources_text(found))
    if reload and changed:
        subprocess.run(["systemctl", "try-restart", "chrony.service"], check=False, timeout=30)
    elif reload and sources:
        subprocess.run(["chronyc", "reload", "sources"], check=False, capture_output=True, timeout=10)
    server = clock.server or "the image's default sources"
    if clock.server == AUTO:
        server = f"auto ({found or 'no box serves time yet'})"
    what = "changed" if changed or sources else "unchanged"
    return f"chrony {what}: serve={'yes' if clock.serve else 'no'}, server={server}"


def cmd_clock(args: argparse.Namespace) -> int:
    """``clock apply`` (root: chrony's files from the saved settings) or ``clock status``."""
    if args.action == "status":
        t = tracking()
        if args.json:
            print(json.dumps(None if t is None else dataclasses.asdict(t) | {"synchronised": t.synchronised}))
        elif t is None:
            print("chrony does not answer (not installed or not running)")
        else:
            sync = "synchronised" if t.synchronised else "not synchronised"
            print(f"{sync}: {t.reference} stratum {t.stratum}, offset {t.offset_s * 1000:+.3f} ms, leap {t.leap}")
        return 0 if t is not None and t.synchronised else 1
    from appliance.config.models import AppConfig
    from appliance.config.store import default_state_dir, load_config_file

    path = Path(args.config) if args.config else Path(args.state_dir or default_state_dir()) / "config.json"
    try:
        config = load_config_file(path)
    except FileNotFoundError:
        config = AppConfig()  # nothing saved yet: the defaults are in force
    except Exception as exc:  # any reason the saved file is unusable: one line, nothing written
        print(f"error: {path}: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    print(apply(config, path.parent, Path(args.conf), Path(args.sources_dir), reload=args.reload))
    return 0


def add_parser(sub: Any) -> None:
    """``clock apply | status``."""
    p = sub.add_parser("clock", help="one clock for several boxes: apply the clock settings to chrony, or show it")
    p.add_argument("action", choices=["apply", "status"])
    p.add_argument("--json", action="store_true", help="status: chrony's tracking as JSON")
    p.add_argument("--config", help="configuration file (default: config.json in the state directory)")
    p.add_argument("--state-dir", help="folder of the saved configuration (default: $STATE_DIRECTORY ...)")
    p.add_argument("--conf", default=str(CONF), help=f"apply: chrony drop-in to write (default {CONF})")
    p.add_argument("--sources-dir", default=str(SOURCES_DIR), help=f"apply: chrony sourcedir (default {SOURCES_DIR})")
    p.add_argument("--no-reload", dest="reload", action="store_false", help="apply: write only")
    p.set_defaults(func=cmd_clock)
