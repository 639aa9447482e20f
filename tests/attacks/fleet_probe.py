"""Runs in the box's network namespace while hostile fleet peers are announced: for SECONDS it asks
``/api/fleet`` every 0.3 s (one thread) and, every 0.5 s, changes a saved setting over the OSC
control port and over HTTP from the box itself and asks ``/api/status``, timing each answer.
Prints one JSON object.
usage: fleet_probe.py BOX_URL CONTROL_PORT SECONDS
"""

from __future__ import annotations

import json
import socket
import struct
import sys
import threading
import time
import urllib.error
import urllib.request

base, control_port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
local = "http://127.0.0.1:" + base.rsplit(":", 1)[1]
out: dict = {"fleet": [], "last_fleet": None, "control": [], "http_change": [], "status": []}


def timed(req: urllib.request.Request | str, timeout: float) -> tuple[object, float, bytes]:
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body = r.read()
            return r.status, time.monotonic() - t0, body
    except urllib.error.HTTPError as e:
        return e.code, time.monotonic() - t0, e.read()
    except OSError as e:
        return type(e).__name__, time.monotonic() - t0, b""


def osc(address: str, value: float) -> bytes:
    def pad(b: bytes) -> bytes:
        return b + b"\0" * (4 - len(b) % 4)

    return pad(address.encode()) + pad(b",f") + struct.pack(">f", value)


start = time.monotonic()
while time.monotonic() - start < 60:
    if timed(base + "/api/status", 5)[0] == 200:
        break
    time.sleep(0.2)
t_end = time.monotonic() + seconds
done = threading.Event()


def poll_fleet() -> None:
    while not done.is_set():
        status, s, body = timed(base + "/api/fleet", 10)
        out["fleet"].append({"status": status, "s": round(s, 4), "bytes": len(body)})
        if status == 200:
            out["last_fleet"] = json.loads(body)
        time.sleep(0.3)


poller = threading.Thread(target=poll_fleet)
poller.start()
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("127.0.0.1", 0))
value = 1.0
while (left := t_end - time.monotonic()) > 0:
    status, s, _ = timed(base + "/api/status", min(10, left))
    out["status"].append({"status": status, "s": round(s, 4)})
    value = 1.0 if value >= 5.0 else value + 0.5
    t0 = time.monotonic()
    udp.sendto(osc("/posenet/smoothing/beta", value), ("127.0.0.1", control_port))
    udp.settimeout(max(0.1, min(25.0, t_end - time.monotonic() + 5)))
    try:
        reply = udp.recv(65536)
        out["control"].append({"s": round(time.monotonic() - t0, 4), "reply": reply[:40].decode("latin-1")})
    except TimeoutError:
        out["control"].append({"s": None, "waited": round(time.monotonic() - t0, 2)})
    body = json.dumps({"smoothing": {"beta": value}}).encode()
    req = urllib.request.Request(
        local + "/api/config", data=body, method="PATCH", headers={"Content-Type": "application/json"}
    )
    status, s, _ = timed(req, max(0.1, min(25.0, t_end - time.monotonic() + 5)))
    out["http_change"].append({"status": status, "s": round(s, 4)})
    time.sleep(0.5)
done.set()
poller.join()
print(json.dumps(out))
