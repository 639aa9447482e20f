"""Attack peer, run inside a private network namespace (``unshare --net``) by test_spoofed_source.

It builds a veth pair (v0: the box's side, 10.77.0.1/24; v1: the attacker's wire), a static
neighbour for a victim 10.77.0.99 that never answers, starts the box (argv), and writes whole
Ethernet+IPv4+UDP frames with the victim's forged source address onto v1. An AF_PACKET socket on v0
counts every packet the box sends to the victim. Prints one JSON object.
usage: spoof_peer.py CONTROL_PORT HTTP_PORT -- BOX ARGV...
"""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
import time
import urllib.request

VICTIM, BOX = "10.77.0.99", "10.77.0.1"
control_port, http_port = int(sys.argv[1]), int(sys.argv[2])
box_argv = sys.argv[sys.argv.index("--") + 1 :]


def sh(*args: str) -> None:
    subprocess.run(args, check=True)


def mac(dev: str) -> bytes:
    out = subprocess.run(["ip", "-j", "link", "show", "dev", dev], capture_output=True, text=True, check=True)
    return bytes.fromhex(json.loads(out.stdout)[0]["address"].replace(":", ""))


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def frame(payload: bytes, src_port: int = 5555) -> bytes:
    """An Ethernet frame from the victim's (forged) address to the box's control port."""
    udp = struct.pack("!HHHH", src_port, control_port, 8 + len(payload), 0) + payload
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, socket.inet_aton(VICTIM), socket.inet_aton(BOX)
    )
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return mac("v0") + mac("v1") + b"\x08\x00" + ip + udp


def osc(address: str, tags: str = "", *args: object) -> bytes:
    def pad(b: bytes) -> bytes:
        return b + b"\0" * (4 - len(b) % 4)

    out = pad(address.encode()) + pad(("," + tags).encode())
    for t, a in zip(tags, args, strict=True):
        out += struct.pack(">i", a) if t == "i" else pad(str(a).encode())
    return out


def to_victim(cap: socket.socket, seconds: float) -> list[bytes]:
    """UDP payloads the box sent to the victim within ``seconds``."""
    got = []
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        cap.settimeout(left)
        try:
            data, addr = cap.recvfrom(65536)
        except TimeoutError:
            break
        if addr[2] != socket.PACKET_OUTGOING or data[12:14] != b"\x08\x00" or data[30:34] != socket.inet_aton(VICTIM):
            continue
        ihl = (data[14] & 0x0F) * 4
        got.append(data[14 + ihl + 8 :])
    return got


def status() -> dict:  # type: ignore[type-arg]
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/api/status", timeout=5) as r:
        return json.load(r)  # type: ignore[no-any-return]


sh("ip", "link", "set", "lo", "up")
sh("ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1")
sh("ip", "addr", "add", f"{BOX}/24", "dev", "v0")
sh("ip", "link", "set", "v0", "up")
sh("ip", "link", "set", "v1", "up")
sh("ip", "neigh", "add", VICTIM, "lladdr", mac("v1").hex(":"), "dev", "v0", "nud", "permanent")
box = subprocess.Popen(box_argv, stderr=subprocess.PIPE, text=True)
result: dict[str, object] = {}
try:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if status()["state"] == "running":
                break
        except OSError:
            pass
        time.sleep(0.2)
    cap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
    cap.bind(("v0", 0))
    wire = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    wire.bind(("v1", 0))
    add = osc("/posenet/listeners/add", "is", 9000, "bundle")
    sent = 0
    for _ in range(15):  # the 15 packets that used to fill every slot
        sent += wire.send(frame(add))
        time.sleep(0.05)
    got = to_victim(cap, 6.0)
    result["spoofed_add"] = {
        "bytes_in": sent,
        "packets_to_victim": len(got),
        "bytes_to_victim": sum(len(g) for g in got),
        "first": got[0][:40].decode("latin-1") if got else "",
        "targets": len(status().get("targets", [])),
    }
    # With a token: a real subscriber on the box's network, then forged clear/add without the token.
    req = urllib.request.Request(
        f"http://127.0.0.1:{http_port}/api/config",
        data=json.dumps({"http": {"token": "s3cret"}}).encode(),
        method="PATCH",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(req, timeout=5).read()
    patch = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    patch.bind((BOX, 0))
    patch.settimeout(5)
    patch.sendto(osc("/posenet/listeners/add", "iss", patch.getsockname()[1], "bundle", "s3cret"), (BOX, control_port))
    while not (m := patch.recv(65536)).startswith(b"/posenet/listeners/confirm"):
        pass
    nonce = [part for part in m.split(b"\0") if part][2].decode()
    patch.sendto(osc("/posenet/listeners/confirm", "s", nonce), (BOX, control_port))
    time.sleep(1.0)
    before = len(status()["targets"])
    sent = 0
    for _ in range(10):
        sent += wire.send(frame(osc("/posenet/listeners/clear")))
        sent += wire.send(frame(osc("/posenet/listeners/add", "is", 9000, "bundle")))
    got = to_victim(cap, 3.0)
    result["forged_without_token"] = {
        "targets_before": before,
        "targets_after": len(status()["targets"]),
        "bytes_in": sent,
        "packets_to_victim": len(got),
        "bytes_to_victim": sum(len(g) for g in got),
        "errors": status()["control"]["errors"],
    }
finally:
    box.terminate()
    _, err = box.communicate(timeout=15)
result["box_rc"] = box.returncode
result["box_log_tail"] = err[-500:]
print(json.dumps(result))
