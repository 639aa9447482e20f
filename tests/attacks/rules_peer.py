"""Attack peer (run inside ``unshare --net`` by test_control_rules): the control port's smaller holes.

Real subscribers live on 10.77.0.2-4 (addresses of the box's network), a guesser on 10.77.0.5;
forged frames come from the wire (netlab). Scenarios, in order, on one box that starts unclaimed:

* ``forged_clear_and_settings``: a real subscription, then ``clear`` and ``/posenet/smoothing/*``
  forged from 10.77.0.99 (on the subnet) and 192.0.2.7 (off it), without the token;
* ``forged_changes``: an ``add`` forged from another port of a subscriber's computer while it echoes
  every confirmation (as the example patches do); ``format``, ``coords`` and ``remove`` forged with
  its exact address (it does not echo confirmations it did not ask for); and, for the record, its
  exact address forged while it echoes everything (the one case a confirmation cannot stop);
* ``leases``: two hosts try 16 subscriptions each; then a third host tries one;
* ``flood``: 9 subscribers (3 hosts) send ``add`` and hold their confirmations while 300 ``add``s
  forged from 240 addresses of the subnet are read by the box; then they confirm;
* ``guessing``: the owner sets a token; a guesser tries tokens as fast as the answers come, 3 s,
  then the right one.

Between scenarios the box itself (loopback: the owner) clears the subscriptions. Prints one JSON
object. usage: rules_peer.py CONTROL_PORT HTTP_PORT -- BOX ARGV...
"""

from __future__ import annotations

import json
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.attacks.netlab import BOX, OFF_SUBNET, VICTIM, Box, Patch, Wire, osc, parse, setup

control_port, http_port = int(sys.argv[1]), int(sys.argv[2])
box_argv = sys.argv[sys.argv.index("--") + 1 :]
HOSTS = ("10.77.0.2", "10.77.0.3", "10.77.0.4")
GUESSER, NEWCOMER = "10.77.0.5", "10.77.0.6"
TOKEN = "rules-test-token-0123"


def subscriptions(box: Box) -> list[str]:
    """The labels of the targets that are not the box's saved one (host:port/format)."""
    return sorted(t["target"] for t in box.status()["targets"] if not t["target"].startswith("127.0.0.1:9/"))


def owner_clear() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(osc("/posenet/listeners/clear"), ("127.0.0.1", control_port))
    time.sleep(0.3)


def forged_clear_and_settings(box: Box, wire: Wire) -> dict[str, Any]:
    patch = Patch(HOSTS[0], control_port)
    subscribed = patch.subscribe()
    before, config_before = subscriptions(box), box.get("/api/config")["smoothing"]
    for source in (VICTIM, OFF_SUBNET):
        for _ in range(5):
            wire.send(osc("/posenet/listeners/clear"), source)
            wire.send(osc("/posenet/smoothing/beta", "f", 9.5), source)
            wire.send(osc("/posenet/smoothing/enabled", "i", 0), source)
    time.sleep(1.0)
    patch.close()
    return {
        "subscribed": subscribed,
        "subscriptions_before": len(before),
        "subscriptions_after": len(subscriptions(box)),
        "smoothing_changed": box.get("/api/config")["smoothing"] != config_before,
    }


def _read_all(patch: Patch, echo: bool) -> int:
    """Read what came to the patch for 1 s, echoing confirmations if ``echo``; returns how many came."""
    n, end = 0, time.monotonic() + 1.0
    while (left := end - time.monotonic()) > 0:  # the stream keeps coming: read until the time is up
        patch.sock.settimeout(left)
        try:
            data = patch.sock.recv(65536)
        except TimeoutError:
            break
        if data.startswith(b"/posenet/listeners/confirm"):
            n += 1
            if echo:
                patch.sock.sendto(osc("/posenet/listeners/confirm", "s", parse(data)[1][0]), patch.control)
    return n


def _forge_changes(wire: Wire, patch: Patch) -> None:
    wire.send(osc("/posenet/format", "s", "arr"), patch.host, patch.port)
    wire.send(osc("/posenet/coords", "s", "pixels"), patch.host, patch.port)
    wire.send(osc("/posenet/listeners/remove"), patch.host, patch.port)


def forged_changes(box: Box, wire: Wire) -> dict[str, Any]:
    patch = Patch(HOSTS[0], control_port)
    patch.subscribe("bundle")
    result: dict[str, Any] = {"before": subscriptions(box)}
    # 1. An add from another port of its computer, for its stream port; it echoes everything.
    wire.send(osc("/posenet/listeners/add", "is", patch.port, "arr"), patch.host, 40000)
    result["echoed"] = _read_all(patch, echo=True)
    result["after_forged_add"] = subscriptions(box)
    # 2. With its exact address and port; it lets confirmations it did not ask for be.
    _forge_changes(wire, patch)
    result["unasked_confirmations"] = _read_all(patch, echo=False)
    result["after_forged_changes"] = subscriptions(box)
    # 3. (What no confirmation can stop) its exact address and port, and it echoes everything.
    _forge_changes(wire, patch)
    _read_all(patch, echo=True)
    result["blind_echo_exact_address"] = subscriptions(box)
    patch.close()
    return result


def leases(box: Box) -> dict[str, Any]:
    got = {}
    patches = []
    for host in HOSTS[1:]:
        got[host] = 0
        for _ in range(16):
            patch = Patch(host, control_port)
            patches.append(patch)
            got[host] += patch.subscribe(seconds=1.0)
    newcomer = Patch(NEWCOMER, control_port)
    result = {"per_host": got, "total": len(subscriptions(box)), "newcomer": newcomer.subscribe(seconds=2.0)}
    for p in [*patches, newcomer]:
        p.close()
    return result


def flood(box: Box, wire: Wire) -> dict[str, Any]:
    patches = [Patch(host, control_port) for host in HOSTS for _ in range(3)]
    nonces = {}
    for patch in patches:
        patch.sock.sendto(osc("/posenet/listeners/add", "is", patch.port, "bundle"), patch.control)
        patch.sock.settimeout(3.0)
        address, args = parse(patch.sock.recv(65536))
        nonces[patch] = args[0] if address == "/posenet/listeners/confirm" else ""
    read = box.status()["control"]["messages"]
    for i in range(300):  # from 240 addresses of the subnet, in steps the box can read
        wire.send(osc("/posenet/listeners/add", "is", 9000 + i, "bundle"), f"10.77.0.{10 + i % 240}", 20000 + i)
        if i % 50 == 49:
            time.sleep(0.05)
    deadline = time.monotonic() + 10
    while box.status()["control"]["messages"] < read + 300 and time.monotonic() < deadline:
        time.sleep(0.1)
    forged_read = box.status()["control"]["messages"] - read
    working = 0
    for patch, nonce in nonces.items():
        patch.sock.sendto(osc("/posenet/listeners/confirm", "s", nonce), patch.control)
        try:
            while (answer := parse(patch.sock.recv(65536)))[0] not in ("/posenet/listeners/added", "/posenet/error"):
                pass
            working += answer[0] == "/posenet/listeners/added"
        except TimeoutError:
            pass
        patch.close()
    return {"real": len(patches), "working": working, "forged_adds_read": forged_read}


def guessing(box: Box) -> dict[str, Any]:
    box.patch({"http": {"token": TOKEN}})  # the owner, from the box itself
    guesser = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    guesser.bind((GUESSER, 0))
    guesser.settimeout(0.2)
    checked = refused = silent = sent = 0
    start = time.monotonic()
    while time.monotonic() - start < 3.0:
        guess = f"guess-{sent:08d}".ljust(120, "x")  # longer than the answer: the reply budget allows it
        guesser.sendto(osc("/posenet/smoothing/beta", "fs", 7.0, guess), (BOX, control_port))
        sent += 1
        try:
            text = str(parse(guesser.recv(65536))[1][0])
        except TimeoutError:
            silent += 1
            continue
        if "wait" in text:
            refused += 1
        elif "token" in text:
            checked += 1
    seconds = time.monotonic() - start
    # A wrong guess the box checks (its back-off window had ended) starts a new, longer window: the
    # right token sent at once after it must wait too (without this, the 3 s loop could end just as a
    # window did, and the right token would be checked: a race on a busy machine, not a defence).
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline:
        guesser.sendto(osc("/posenet/smoothing/beta", "fs", 7.0, "guess-last".ljust(120, "x")), (BOX, control_port))
        try:
            if "wrong or missing" in str(parse(guesser.recv(65536))[1][0]):
                break
        except TimeoutError:
            continue
        time.sleep(0.1)
    guesser.sendto(osc("/posenet/smoothing/beta", "fs", 7.0, TOKEN), (BOX, control_port))
    try:
        right = parse(guesser.recv(65536))
    except TimeoutError:
        right = ("", [])
    guesser.close()
    return {
        "sent": sent,
        "checked": checked,
        "refused_unchecked": refused,
        "unanswered": silent,
        "checked_per_second": round(checked / seconds, 1),
        "right_token_during_back_off": [right[0], *right[1]],
    }


def main() -> None:
    setup(*HOSTS, GUESSER, NEWCOMER)
    box = Box(box_argv, http_port, Path(tempfile.mkdtemp()) / "box.log")
    result: dict[str, Any] = {}
    try:
        box.wait_running()
        wire = Wire(control_port)
        result["forged_clear_and_settings"] = forged_clear_and_settings(box, wire)
        owner_clear()
        result["forged_changes"] = forged_changes(box, wire)
        owner_clear()
        result["leases"] = leases(box)
        owner_clear()
        result["flood"] = flood(box, wire)
        owner_clear()
        result["guessing"] = guessing(box)
        result["control"] = box.status()["control"]
    finally:
        result["box_rc"] = box.stop()
    result["box_log_tail"] = box.log.read_text()[-800:]
    print(json.dumps(result))


main()
