"""Peer for test_pd_examples (run inside ``unshare --net``): the box and Pd on the box's network
(10.77.0.1, not loopback, so the rules for visitors apply), a box with a subscribe key.

Starts the box (argv after ``--``), then runs the bundle example patch headless once per case named
in argv[2:] as ``name=PD_SEND_PREFIX`` (e.g. ``with=pn-key KEY;``), each subscribing its own port,
connected by hand (``pn-connect``: this namespace has no route for the broadcast discovery).
Prints one JSON object: the Pd log lines per case.
usage: pd_key_peer.py CONTROL_PORT HTTP_PORT CASE... -- BOX ARGV...
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.attacks.netlab import BOX, Box, setup
from tests.support.net import wait_udp_bound
from tests.support.receivers import pd_command

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pd" / "posenet-bundle.pd"
control_port, http_port = int(sys.argv[1]), int(sys.argv[2])
split = sys.argv.index("--")
cases = dict(case.split("=", 1) for case in sys.argv[3:split])
box_argv = sys.argv[split + 1 :]

setup()
tmp = Path(tempfile.mkdtemp())
box = Box(box_argv, http_port, tmp / "box.log")
result: dict[str, object] = {}
try:
    box.wait_running()
    wait_udp_bound(control_port)
    for i, (name, prefix) in enumerate(cases.items()):
        listen = 9100 + i
        log = tmp / f"pd-{name}.log"
        send = f"pn-listen {listen}; {prefix} pn-connect {BOX} {control_port}; pn-quit 3000"
        with log.open("w") as out:
            pd = shutil.which("pd") or "pd"
            subprocess.run(pd_command(pd, EXAMPLE, send), stdout=out, stderr=subprocess.STDOUT, timeout=30, check=True)
        result[name] = log.read_text().splitlines()
finally:
    result["box_rc"] = box.stop()
print(json.dumps(result))
