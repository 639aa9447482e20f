"""The wire for attack peers, inside a private network namespace (``unshare --net``) they run in.

``setup`` builds a veth pair: v0 is the box's side (10.77.0.1/24, plus any extra addresses for real
subscribers on the box's network), v1 the attacker's wire. ``Wire`` writes whole Ethernet+IPv4+UDP
frames with any (forged) source onto v1 (they arrive at the box on v0) and counts what the box sends
out on v0. ``Box`` starts the service (its argv) and reads its status. ``osc`` builds messages.
Everything prints and returns plain data: the peers print one JSON object for their test.
"""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

BOX, VICTIM, OFF_SUBNET = "10.77.0.1", "10.77.0.99", "192.0.2.7"


def sh(*args: str) -> None:
    subprocess.run(args, check=True)


def mac(dev: str) -> bytes:
    out = subprocess.run(["ip", "-j", "link", "show", "dev", dev], capture_output=True, text=True, check=True)
    return bytes.fromhex(json.loads(out.stdout)[0]["address"].replace(":", ""))


def setup(*extra: str) -> None:
    """lo up; veth v0 (the box, 10.77.0.1/24 and ``extra`` addresses) <-> v1 (the wire); a victim
    10.77.0.99 that never answers; frames from the wire may carry the box's own addresses and
    addresses of other networks (as a forger's would)."""
    sh("ip", "link", "set", "lo", "up")
    sh("ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1")
    for address in (BOX, *extra):
        sh("ip", "addr", "add", f"{address}/24", "dev", "v0")
    sh("ip", "link", "set", "v0", "up")
    sh("ip", "link", "set", "v1", "up")
    sh("ip", "neigh", "add", VICTIM, "lladdr", mac("v1").hex(":"), "dev", "v0", "nud", "permanent")
    for key in ("all", "v0"):  # this namespace only
        Path(f"/proc/sys/net/ipv4/conf/{key}/rp_filter").write_text("0")
        Path(f"/proc/sys/net/ipv4/conf/{key}/accept_local").write_text("1")


def osc(address: str, tags: str = "", *args: object) -> bytes:
    def pad(b: bytes) -> bytes:
        return b + b"\0" * (4 - len(b) % 4)

    out = pad(address.encode()) + pad(("," + tags).encode())
    for t, a in zip(tags, args, strict=True):
        if t == "i":
            out += struct.pack(">i", a)
        elif t == "f":
            out += struct.pack(">f", a)
        else:
            out += pad(str(a).encode())
    return out


def bundle(*messages: bytes) -> bytes:
    return b"#bundle\0" + bytes(7) + b"\1" + b"".join(struct.pack(">i", len(m)) + m for m in messages)


def parse(data: bytes) -> tuple[str, list[Any]]:
    """A plain OSC message (strings, ints, floats) -> (address, args)."""

    def string(pos: int) -> tuple[str, int]:
        end = data.index(b"\0", pos)
        return data[pos:end].decode(), end + 4 - (end - pos) % 4

    address, pos = string(0)
    tags, pos = string(pos)
    args: list[Any] = []
    for t in tags[1:]:
        if t in "if":
            args.append(struct.unpack_from(">i" if t == "i" else ">f", data, pos)[0])
            pos += 4
        else:
            s, pos = string(pos)
            args.append(s)
    return address, args


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


class Wire:
    """Raw frames onto v1 (to the box, from any source), and a capture of what the box sends on v0."""

    def __init__(self, control_port: int) -> None:
        self.control_port = control_port
        self.out = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        self.out.bind(("v1", 0))
        self.cap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
        self.cap.bind(("v0", 0))
        self._header = mac("v0") + mac("v1") + b"\x08\x00"

    def frame(self, payload: bytes, src: str, src_port: int = 5555) -> bytes:
        """An Ethernet frame from ``src:src_port`` (forged) to the box's control port."""
        udp = struct.pack("!HHHH", src_port, self.control_port, 8 + len(payload), 0) + payload
        ip = struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, socket.inet_aton(src), socket.inet_aton(BOX)
        )
        return self._header + ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:] + udp

    def send(self, payload: bytes, src: str, src_port: int = 5555) -> int:
        """Write one forged datagram; returns the bytes of its UDP payload."""
        self.out.send(self.frame(payload, src, src_port))
        return len(payload)

    def drain(self) -> None:
        """Forget what was captured so far."""
        self.cap.setblocking(False)
        try:
            while True:
                self.cap.recv(65536)
        except BlockingIOError:
            pass
        self.cap.setblocking(True)

    def sent_to(self, host: str, seconds: float) -> list[bytes]:
        """UDP payloads the box sent to ``host`` within ``seconds``."""
        got = []
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self.cap.settimeout(left)
            try:
                data, addr = self.cap.recvfrom(65536)
            except TimeoutError:
                break
            if addr[2] != socket.PACKET_OUTGOING or data[12:14] != b"\x08\x00":
                continue
            if data[30:34] != socket.inet_aton(host):
                continue
            ihl = (data[14] & 0x0F) * 4
            got.append(data[14 + ihl + 8 :])
        return got


class Box:
    """The service under test (``argv``), its stderr kept in ``log``, its HTTP API on ``http_port``."""

    def __init__(self, argv: list[str], http_port: int, log: Path, env: dict[str, str] | None = None) -> None:
        self.http_port, self.log = http_port, log
        self._log_file = log.open("w")
        self.proc = subprocess.Popen(argv, stderr=self._log_file, env=env)

    def get(self, path: str, timeout: float = 5.0) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=timeout) as r:
            return json.load(r)

    def status(self, timeout: float = 5.0) -> Any:
        return self.get("/api/status", timeout)

    def patch(self, body: dict[str, Any], token: str = "") -> None:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}/api/config", json.dumps(body).encode(), headers, method="PATCH"
        )
        urllib.request.urlopen(req, timeout=10).read()

    def wait_running(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.status(1.0)["state"] == "running":
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise TimeoutError("the box did not start")

    def stop(self) -> int:
        self.proc.terminate()
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self._log_file.close()
        return rc


class Poller(threading.Thread):
    """``GET /api/status`` every ``every`` seconds: (start, seconds taken or None on failure)."""

    def __init__(self, box: Box, every: float = 0.05, timeout: float = 30.0) -> None:
        super().__init__(name="poller", daemon=True)
        self.box, self.every, self.timeout = box, every, timeout
        self.samples: list[tuple[float, float | None]] = []
        self.lags: list[float] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            t0 = time.monotonic()
            try:
                doc = self.box.status(self.timeout)
                self.samples.append((t0, time.monotonic() - t0))
                self.lags.append(float(doc.get("loop_lag_ms", -1)))
            except OSError:
                self.samples.append((t0, None))
            self.stopped.wait(self.every)

    def worst(self) -> float:
        """The slowest answer (s); a failed request counts as the timeout."""
        return max((s if s is not None else self.timeout) for _, s in self.samples)


class Patch:
    """A real subscriber (a Max/Pd patch stand-in) on ``host``: one socket asks and receives the
    stream; it echoes only the confirmations of what it asked for."""

    def __init__(self, host: str, control_port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.host, self.port = host, self.sock.getsockname()[1]
        self.control = (BOX, control_port)

    def request(self, message: bytes, answer: str, seconds: float = 3.0, retry: float = 0.5) -> list[Any] | None:
        """Send ``message`` (again every ``retry`` s), echo the confirmation it brings, and return
        the args of ``answer`` (None: refused, or nothing came within ``seconds``)."""
        deadline = time.monotonic() + seconds
        next_send = 0.0
        while (now := time.monotonic()) < deadline:
            if now >= next_send:
                self.sock.sendto(message, self.control)
                next_send = now + retry
            self.sock.settimeout(max(0.01, min(next_send, deadline) - time.monotonic()))
            try:
                address, args = parse(self.sock.recv(65536))
            except (TimeoutError, ValueError, UnicodeDecodeError):
                continue
            if address == "/posenet/listeners/confirm":
                self.sock.sendto(osc("/posenet/listeners/confirm", "s", args[0]), self.control)
            elif address == answer:
                return args
            elif address == "/posenet/error":
                return None
        return None

    def subscribe(self, fmt: str = "bundle", seconds: float = 3.0) -> bool:
        """Subscribe its own port (asking again every 0.5 s, as a patch renews); whether it worked."""
        add = osc("/posenet/listeners/add", "is", self.port, fmt)
        return self.request(add, "/posenet/listeners/added", seconds) is not None

    def close(self) -> None:
        self.sock.close()
