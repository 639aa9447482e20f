"""Attack peer, run inside a private network namespace (``unshare --net``) by test_spoofed_source.

It builds the veth pair of ``netlab`` (the box on v0, 10.77.0.1/24; the attacker's wire v1; a
victim 10.77.0.99 that never answers), starts the box (argv), and writes whole Ethernet+IPv4+UDP
frames with the victim's forged source address onto v1. An AF_PACKET socket on v0 counts every
packet the box sends to the victim. Prints one JSON object.
usage: spoof_peer.py CONTROL_PORT HTTP_PORT -- BOX ARGV...
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from tests.attacks.netlab import BOX, VICTIM, Box, Patch, Wire, osc, setup

control_port, http_port = int(sys.argv[1]), int(sys.argv[2])
box_argv = sys.argv[sys.argv.index("--") + 1 :]
TOKEN = "spoof-test-token-0123"

setup()
box = Box(box_argv, http_port, Path(tempfile.mkdtemp()) / "box.log")
result: dict[str, object] = {}
try:
    box.wait_running()
    wire = Wire(control_port)
    add = osc("/posenet/listeners/add", "is", 9000, "bundle")
    sent = 0
    for _ in range(15):  # the 15 packets that used to fill every slot
        sent += wire.send(add, VICTIM)
        time.sleep(0.05)
    got = wire.sent_to(VICTIM, 6.0)
    result["spoofed_add"] = {
        "bytes_in": sent,
        "packets_to_victim": len(got),
        "bytes_to_victim": sum(len(g) for g in got),
        "first": got[0][:40].decode("latin-1") if got else "",
        "targets": len(box.status().get("targets", [])),
    }
    # With a token: a real subscriber on the box's network, then forged clear/add without the token.
    box.patch({"http": {"token": TOKEN}})  # from the box itself: the owner
    patch = Patch(BOX, control_port)
    assert patch.subscribe(), "the real subscriber could not subscribe"
    time.sleep(1.0)
    before = len(box.status()["targets"])
    sent = 0
    for _ in range(10):
        sent += wire.send(osc("/posenet/listeners/clear"), VICTIM)
        sent += wire.send(osc("/posenet/listeners/add", "is", 9000, "bundle"), VICTIM)
    got = wire.sent_to(VICTIM, 3.0)
    result["forged_without_token"] = {
        "targets_before": before,
        "targets_after": len(box.status()["targets"]),
        "bytes_in": sent,
        "packets_to_victim": len(got),
        "bytes_to_victim": sum(len(g) for g in got),
        "errors": box.status()["control"]["errors"],
    }
finally:
    result["box_rc"] = box.stop()
result["box_log_tail"] = box.log.read_text()[-500:]
print(json.dumps(result))
