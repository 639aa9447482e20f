"""The fleet relay against real boxes, run by tests/web/test_identify.py inside a private network
namespace (``unshare --net``) where 10.88.0.0/16 is local: two real boxes (``posenet-appliance
run``, each claimed with its own token) at 10.88.2.1 and 10.88.2.2, a fake "box" at 10.88.2.9 that
counts connections, and this box in process (its ``Control`` a double that lists those peers, as
discovery would). Prints one JSON object.

    python tests/web/relay_cases.py STATE_DIR MODELS_DIR IMAGES_DIR
"""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fastapi.testclient import TestClient

from appliance.config.models import AppConfig
from appliance.core.status import Peer
from appliance.web.server import create_app

MODEL = "posenet_mobilenet_v1_075_353_481_16_quant_decoder.tflite"
BOXES = {"box-a": ("10.88.2.1", "token-of-box-a-0123"), "box-b": ("10.88.2.2", "token-of-box-b-4567")}
FAKE = ("fake", "10.88.2.9", 8080)
#: Hostile boxes: they answer their status like a box (so they are verified), then a change slowly
#: (a byte a tenth of a second, forever) or endlessly (chunks without end).
HOSTILE = {"slow": "10.88.2.7", "endless": "10.88.2.8"}
BOX_DOC = json.dumps({"version": "0.1.0", "state": "running", "backend": "cpu", "uptime_s": 3.0}).encode()
OWNER, VISITOR = ("127.0.0.1", 50000), ("10.9.8.7", 50000)


class ThisBox:
    """The part of ``Control`` this box's API uses here: its configuration and the peers it lists."""

    def __init__(self) -> None:
        self.config = AppConfig()

    def peers(self) -> list[Peer]:
        listed = [Peer(name, address, 8080, {}) for name, (address, _) in BOXES.items()]
        hostile = [Peer(name, address, 8080, {}) for name, address in HOSTILE.items()]
        return [*listed, *hostile, Peer(FAKE[0], FAKE[1], FAKE[2], {})]


def start_box(name: str, state: Path, models: Path, images: Path) -> subprocess.Popen[bytes]:
    address, token = BOXES[name]
    (state / name).mkdir()
    (state / name / "config.json").write_text(json.dumps({"http": {"token": token}, "targets": []}))
    argv = [sys.executable, "-m", "appliance", "run", "--source", f"images:{images}/face.jpg@2"]
    argv += ["--model", str(models / MODEL), "--state-dir", str(state / name), "--http-bind", address]
    argv += ["--http-port", "8080", "--control-port", "0", "--oscquery-port", "0", "--no-discovery", "--quiet"]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def get(address: str, path: str) -> Any:
    with urllib.request.urlopen(f"http://{address}:8080{path}", timeout=2) as r:
        return json.load(r)


def wait_up(address: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            get(address, "/api/status")
            return
        except OSError:
            assert time.monotonic() < deadline, f"{address} did not start"
            time.sleep(0.2)


async def fake_box(counts: dict[str, int]) -> asyncio.Server:
    """Not a box: it answers nothing; counts the requests that are not this box's status checks."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        if not line.startswith(b"GET /api/status "):
            counts["changes"] += 1
        writer.close()

    return await asyncio.start_server(serve, FAKE[1], FAKE[2])


async def hostile_box(kind: str) -> asyncio.Server:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            await reader.readuntil(b"\r\n\r\n")
            if line.startswith(b"GET /api/status "):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(BOX_DOC), BOX_DOC))
            elif kind == "slow":
                for byte in b"HTTP/1.1 200 OK\r\n" * 1000:
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(0.1)
            else:
                writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                while True:
                    writer.write(b"4000\r\n" + b" " * 16384 + b"\r\n")
                    await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(serve, HOSTILE[kind], 8080)


def orders(api: Any) -> dict[str, Any]:
    """This box's owner sends its orders (and a visitor tries): what came back."""
    out: dict[str, Any] = {}
    base = "http://127.0.0.1:8080"
    with (
        TestClient(api, base_url=base, client=OWNER) as owner,
        TestClient(api, base_url=base, client=VISITOR) as visitor,
    ):
        out["fleet"] = owner.get("/api/fleet").json()
        a, b = ({"name": n, "address": BOXES[n][0], "http_port": 8080} for n in BOXES)
        change = {"decoder": {"min_pose_score": 0.35}}
        order = {"action": "config", "change": change, "boxes": [
            {**a, "token": BOXES["box-a"][1]},
            {**b, "token": "wrong-token-0000"},
            {"name": FAKE[0], "address": FAKE[1], "http_port": FAKE[2], "token": "for-the-fake-0000"},
            {"name": "box-a", "address": "10.88.2.9", "http_port": 8080, "token": BOXES["box-a"][1]},
        ]}  # fmt: skip
        r = owner.post("/api/fleet/apply", json=order)
        out["config"] = {"status": r.status_code, "results": r.json(), "text": r.text}
        hostile = [{"name": n, "address": address, "http_port": 8080, "token": ""} for n, address in HOSTILE.items()]
        t0 = time.monotonic()
        r = owner.post("/api/fleet/apply", json={"action": "config", "change": change, "boxes": hostile})
        out["hostile"] = {"status": r.status_code, "results": r.json(), "seconds": time.monotonic() - t0}
        identify = {"action": "identify", "boxes": [{**n, "token": BOXES[n["name"]][1]} for n in (a, b)]}
        r = owner.post("/api/fleet/apply", json=identify)
        out["identify"] = {"status": r.status_code, "results": r.json()}
        r = visitor.post("/api/fleet/apply", json=identify)
        out["visitor"] = {"status": r.status_code, "text": r.text}
        r = owner.post("/api/fleet/apply", json={**identify, "boxes": [{**a, "token": "line\r\nX-Evil: 1"}]})
        out["bad_token"] = {"status": r.status_code, "text": r.text}
    return out


def main(state: Path, models: Path, images: Path) -> dict[str, Any]:
    for args in (["link", "set", "lo", "up"], ["route", "add", "local", "10.88.0.0/16", "dev", "lo"]):
        subprocess.run(["ip", *args], check=True)
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)  # everything this box logs, for the test
    boxes = {name: start_box(name, state, models, images) for name in BOXES}
    out: dict[str, Any] = {}
    counts = {"changes": 0}
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(fake_box(counts))
    for kind in HOSTILE:
        loop.run_until_complete(hostile_box(kind))
    threading.Thread(target=loop.run_forever, daemon=True).start()
    try:
        for address, _ in BOXES.values():
            wait_up(address)
        out |= orders(create_app(ThisBox()))  # type: ignore[arg-type]
        out["min_pose_score"] = {n: get(BOXES[n][0], "/api/config")["decoder"]["min_pose_score"] for n in BOXES}
        out["fake_changes"] = counts["changes"]
    finally:
        loop.call_soon_threadsafe(server.close)
        loop.call_soon_threadsafe(loop.stop)
        for proc in boxes.values():
            proc.terminate()
        out["box_logs"] = "".join(p.communicate(timeout=20)[1].decode(errors="replace") for p in boxes.values())
    return out


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))), flush=True)
