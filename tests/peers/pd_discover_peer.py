"""Peer for test_pd_discovery (run inside ``unshare --net``, the "LAN" namespace where Pd runs).

The LAN is a bridge ``br0`` (10.88.0.10/24, broadcast-capable; 192.0.2.7 on it too, an address of
another network). Each box runs in a network namespace of its own (``unshare --net`` holding it),
joined to the bridge by a veth pair (``hK`` on the bridge, ``eK`` in the box's namespace). The box
namespaces route everything to the LAN, so a box *could* answer anyone: only its own rules stop it.

Steps (argv: MODELS_DIR IMAGES_DIR SCRATCH_DIR):
1. two boxes, ``alpha`` (10.88.0.2) and ``beta`` (10.88.0.3); the four unchanged example patches,
   run headless at once, each find both, connect to one, subscribe and print poses (the bundle
   patch with no -send at all but its quit time; the individual one with choose_later.pd opened
   next to it, which picks the second box listed after 11 s, as a click on *2* would);
2. the box the bundle patch chose restarts on 10.88.0.4: the patch connects there and prints poses
   again by itself;
3. attacks on beta over raw frames on its wire: forged /posenet/discover from a broadcast, a
   multicast and an off-subnet source (and a real socket on 192.0.2.7) get nothing; a flood from one
   forged on-subnet source and from 150 of them stays within the rate limits, while the pipeline's
   frame rate is read before and during.
Prints one JSON object.
"""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.attacks.netlab import _checksum, osc, parse, sh
from tests.support.receivers import pd_command
from tests.support.service import appliance_run_args

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "pd"
CHOOSE_LATER = Path(__file__).resolve().parent / "choose_later.pd"
MODEL = "posenet_mobilenet_v1_075_353_481_16_quant_decoder.tflite"
LAN, OFF_NET, VICTIM = "10.88.0.10", "192.0.2.7", "10.88.0.99"
CONTROL, HTTP = 9001, 8080
models, images, scratch = (Path(a) for a in sys.argv[1:4])


def link_json(*args: str) -> Any:
    return json.loads(subprocess.run(["ip", "-j", *args], capture_output=True, text=True, check=True).stdout)


class BoxNet:
    """A box's namespace (held by ``unshare --net sleep``), its veth pair and its service."""

    def __init__(self, k: int, name: str, address: str) -> None:
        self.k, self.name, self.address = k, name, address
        self.holder = subprocess.Popen(["unshare", "--net", "sleep", "600"])
        time.sleep(0.1)
        self.pid = str(self.holder.pid)
        sh("ip", "link", "add", f"h{k}", "type", "veth", "peer", "name", f"e{k}")
        sh("ip", "link", "set", f"e{k}", "netns", self.pid)
        sh("ip", "link", "set", f"h{k}", "master", "br0", "up")
        self.ns("ip", "link", "set", "lo", "up")
        self.ns("ip", "link", "set", f"e{k}", "up")
        self.ns("ip", "addr", "add", f"{address}/24", "dev", f"e{k}")
        self.ns("ip", "route", "add", "default", "via", LAN)  # it could answer anyone: its rules must not
        self.ns(
            "sh",
            "-c",
            f"echo 0 > /proc/sys/net/ipv4/conf/all/rp_filter; echo 0 > /proc/sys/net/ipv4/conf/e{k}/rp_filter",
        )
        self.state = scratch / name
        self.state.mkdir(exist_ok=True)
        door = {"name": "door", "points": [[0, 0], [1, 0], [1, 1], [0, 1]], "point": "centre"}  # the whole picture
        (self.state / "config.json").write_text(json.dumps({"device_name": name, "zones": [door]}))
        self.proc: subprocess.Popen[bytes] | None = None

    def ns(self, *args: str) -> None:
        sh("nsenter", "-t", self.pid, "-n", *args)

    def start(self) -> None:
        argv = appliance_run_args(
            f"images:{images}/face.jpg@10",
            models / MODEL,
            self.state,
            "--http-bind",
            "0.0.0.0",
            control_port=CONTROL,
            http_port=HTTP,
        )
        log = (scratch / f"{self.name}.log").open("ab")
        self.proc = subprocess.Popen(["nsenter", "-t", self.pid, "-n", *argv], stderr=log)

    def stop(self) -> int:
        if self.proc is None:
            return 0
        self.proc.terminate()
        rc = self.proc.wait(timeout=30)
        self.proc = None
        return rc

    def move(self, address: str) -> None:
        """A new address (another DHCP lease), the service restarted."""
        self.stop()
        self.ns("ip", "addr", "del", f"{self.address}/24", "dev", f"e{self.k}")
        self.ns("ip", "addr", "add", f"{address}/24", "dev", f"e{self.k}")
        self.ns("ip", "route", "replace", "default", "via", LAN)
        self.address = address
        self.start()

    def status(self) -> Any:
        with urllib.request.urlopen(f"http://{self.address}:{HTTP}/api/status", timeout=5) as r:
            return json.load(r)

    def close(self) -> int:
        rc = self.stop()
        self.holder.terminate()
        self.holder.wait(timeout=10)
        return rc


class Wire:
    """Raw Ethernet frames onto a box's veth (``hK``: they arrive on its side with any forged
    source), and a thread keeping what the box sends back from its control port: (time, to, payload),
    except to the LAN's own address (the real patches)."""

    def __init__(self, box: BoxNet) -> None:
        self.box = box
        dev = f"h{box.k}"
        out = subprocess.run(
            ["nsenter", "-t", box.pid, "-n", "ip", "-j", "link", "show", f"e{box.k}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        box_mac = bytes.fromhex(json.loads(out)[0]["address"].replace(":", ""))
        own_mac = bytes.fromhex(link_json("link", "show", dev)[0]["address"].replace(":", ""))
        self.header = box_mac + own_mac + b"\x08\x00"
        self.out = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        self.out.bind((dev, 0))
        self.cap = socket.socket(
            socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003)
        )  # all: the bridge takes IPv4 first
        self.cap.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 24)
        self.cap.bind((dev, 0))
        self.cap.settimeout(0.1)
        # The forged sources are on the box's subnet: the box finds them at this wire (no ARP).
        hosts = [VICTIM, *(f"10.88.0.{i}" for i in range(100, 250))]
        batch = "".join(f"neigh replace {h} lladdr {own_mac.hex(':')} dev e{box.k} nud permanent\n" for h in hosts)
        subprocess.run(["nsenter", "-t", box.pid, "-n", "ip", "-batch", "-"], input=batch, text=True, check=True)
        self.got: list[tuple[float, str, bytes]] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.is_set():
            try:
                data, addr = self.cap.recvfrom(65536)
            except TimeoutError:
                continue
            if addr[2] == socket.PACKET_OUTGOING or data[12:14] != b"\x08\x00" or data[23] != 17:
                continue
            ihl = (data[14] & 0x0F) * 4
            if data[30:34] == socket.inet_aton(LAN):  # answers to the real patches, still running
                continue
            if struct.unpack("!H", data[14 + ihl : 16 + ihl])[0] == CONTROL:
                self.got.append((time.monotonic(), socket.inet_ntoa(data[30:34]), data[14 + ihl + 8 :]))

    def send(self, payload: bytes, src: str, src_port: int = 5555) -> int:
        """One forged datagram from ``src:src_port`` to the box's control port; its payload's bytes."""
        udp = struct.pack("!HHHH", src_port, CONTROL, 8 + len(payload), 0) + payload
        dst = socket.inet_aton(self.box.address)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, socket.inet_aton(src), dst)
        self.out.send(self.header + ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:] + udp)
        return len(payload)

    def take(self) -> list[tuple[float, str, bytes]]:
        got, self.got = self.got, []
        return got

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(5)


def lan() -> None:
    sh("ip", "link", "set", "lo", "up")
    sh("ip", "link", "add", "br0", "type", "bridge")
    sh("ip", "addr", "add", f"{LAN}/24", "dev", "br0")
    sh("ip", "addr", "add", f"{OFF_NET}/24", "dev", "br0")
    sh("ip", "link", "set", "br0", "up")
    sh("ip", "route", "add", "default", "dev", "br0")  # 255.255.255.255 goes out on the LAN


def pd(patch: str, send: str, log: Path, *also: Path) -> subprocess.Popen[bytes]:
    """Pd headless with the example ``patch`` (and ``also`` opened next to it), printing into ``log``."""
    argv = pd_command("pd", EXAMPLES / patch, send)
    for extra in also:
        argv[-2:-2] = ["-open", str(extra)]
    return subprocess.Popen(argv, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def wait_for(log: Path, what: str, after: int, seconds: float) -> int:
    """Until a line of ``log`` past line ``after`` starts with ``what``: its index (-1: never)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        lines = log.read_text(errors="replace").splitlines()
        for i in range(after, len(lines)):
            if lines[i].startswith(what):
                return i
        time.sleep(0.1)
    return -1


def frames(box: BoxNet) -> int:
    return int(box.status()["pipeline"]["frames_processed"])


def errors(box: BoxNet) -> int:
    return int(box.status()["control"]["errors"])


def flood(wire: Wire, box: BoxNet, sources: list[str], rounds_per_s: float, seconds: float) -> dict[str, Any]:
    """``/posenet/discover`` from every one of ``sources`` (forged) ``rounds_per_s`` times a second for
    ``seconds``: what came back, and the frames the pipeline processed then and in as long before."""
    ask = osc("/posenet/discover", "i", 9000)
    quiet = frames(box)
    time.sleep(seconds)
    start = frames(box)
    wire.take()
    t0, sent, n = time.monotonic(), 0, 0
    while time.monotonic() - t0 < seconds:
        for src in sources:
            sent += wire.send(ask, src, 40000 + n % 1000)
            n += 1
        time.sleep(max(0.0, t0 + n / len(sources) / rounds_per_s - time.monotonic()))
    during = frames(box) - start
    time.sleep(0.3)
    got = wire.take()
    per_source = [sum(d == s for _, d, _ in got) for s in sources]
    return {
        "questions": n,
        "bytes_in": sent,
        "seconds": round(time.monotonic() - 0.3 - t0, 2),
        "answers": len(got),
        "bytes_out": sum(len(p) for _, _, p in got),
        "answers_per_source_max": max(per_source),
        "answers_to_other_hosts": sum(d not in sources for _, d, _ in got),
        "frames_quiet": start - quiet,
        "frames_flood": during,
    }


def attacks(beta: BoxNet) -> dict[str, Any]:
    """Forged and off-subnet questions to ``beta``: what came back, and the pipeline meanwhile."""
    wire, out = Wire(beta), {}
    before = errors(beta)
    try:
        for src in ("10.88.0.255", "255.255.255.255", "224.0.0.1", "8.8.8.8", "0.0.0.0"):
            wire.send(osc("/posenet/discover", "i", 9000), src)
        wire.send(osc("/posenet/discover"), "10.88.0.50", 0)  # nowhere to answer: port 0
        real = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a real computer of another network
        real.bind((OFF_NET, 0))
        real.settimeout(1.0)
        real.sendto(osc("/posenet/discover"), (beta.address, CONTROL))
        try:
            out["off_subnet_socket_got"] = parse(real.recv(65536))[0]
        except TimeoutError:
            out["off_subnet_socket_got"] = ""
        out["forged_or_off_subnet_answers"] = [d for _, d, _ in wire.take()]
        out["refused"] = errors(beta) - before
        out["one_source"] = flood(wire, beta, [VICTIM], 500, 1.5)
        out["many_sources"] = flood(wire, beta, [f"10.88.0.{i}" for i in range(100, 250)], 20, 1.5)
    finally:
        wire.close()
    return out


def main() -> dict[str, Any]:
    lan()
    alpha, beta = BoxNet(1, "alpha", "10.88.0.2"), BoxNet(2, "beta", "10.88.0.3")
    result: dict[str, Any] = {}
    pds: list[subprocess.Popen[bytes]] = []
    try:
        alpha.start()
        beta.start()
        logs = {fmt: scratch / f"pd-{fmt}.log" for fmt in ("bundle", "individual", "arr", "wekinator")}
        pds.append(pd("posenet-bundle.pd", "pn-quit 30000", logs["bundle"]))  # unchanged: nothing sent but quit
        for i, fmt in enumerate(("individual", "arr", "wekinator")):
            also = [CHOOSE_LATER] if fmt == "individual" else []  # someone picks the second box after 11 s
            pds.append(pd(f"posenet-{fmt}.pd", f"pn-listen {9101 + i}; pn-find; pn-quit 16000", logs[fmt], *also))
        first = wait_for(logs["bundle"], "connected: ", 0, 20)
        got = wait_for(logs["bundle"], "frame: ", first + 1, 10)
        lines = logs["bundle"].read_text().splitlines()
        result["first"] = {"connected": lines[first] if first >= 0 else "", "frame_line": got}
        moved = alpha if first >= 0 and alpha.address in lines[first] else beta
        result["moved"] = moved.name
        moved.move("10.88.0.4")
        t_move = time.monotonic()
        again = wait_for(logs["bundle"], "connected: 10.88.0.4 9001", first + 1, 25)
        result["second"] = {
            "connected": again,
            "frame_line": wait_for(logs["bundle"], "frame: ", again + 1, 10) if again >= 0 else -1,
            "seconds_to_poses": round(time.monotonic() - t_move, 1),
        }
        result["attacks"] = attacks(beta if moved is alpha else alpha)
        for p in pds[1:]:
            p.wait(timeout=30)
        pds[0].terminate()
        pds[0].wait(timeout=10)
        result["logs"] = {fmt: log.read_text(errors="replace").splitlines() for fmt, log in logs.items()}
    finally:
        for p in pds:
            if p.poll() is None:
                p.kill()
        result["box_rc"] = [alpha.close(), beta.close()]
    # Subscriptions are leases in memory: nothing about the patches was saved.
    result["saved_subscriptions"] = [b.name for b in (alpha, beta) if LAN in (b.state / "config.json").read_text()]
    result["box_logs"] = {b: (scratch / f"{b}.log").read_text(errors="replace")[-1500:] for b in ("alpha", "beta")}
    return result


print(json.dumps(main()))
