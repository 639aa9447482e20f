"""Test peer playing a patch that knows no address (runs inside a private network namespace).

It finds the box the way python-oscquery's own tools do (its ``OSCQueryBrowser`` browsing
_oscjson._tcp, its ``OSCQueryClient`` reading HOST_INFO and the namespace), subscribes through the
advertised OSC_IP:OSC_PORT with /posenet/listeners/add (its own port, bundle format), answers the
confirmation with its nonce, prints what arrives, then LISTENs to /poses/amount over the
OSCQuery WebSocket.
usage: zeroconf_patch.py IP SECONDS
"""

import asyncio
import json
import socket
import sys
import time

import websockets
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonoscquery.osc_query_browser import OSCQueryBrowser
from pythonoscquery.osc_query_client import OSCQueryClient

ip, seconds = sys.argv[1], float(sys.argv[2])
t0 = time.time()
browser = OSCQueryBrowser()
services = []
while not services and time.time() - t0 < seconds:
    time.sleep(0.1)
    services = [s for s in browser.get_discovered_oscquery() if s is not None]
browser.zc.close()
service = services[0]
client = OSCQueryClient(service)
host_info = client.get_host_info()
amount = client.query_node("/poses/amount")
add_node = client.query_node("/posenet/listeners/add")
result = {
    "service": service.name,
    "host_info": {"name": host_info.name, "osc_ip": host_info.osc_ip, "osc_port": host_info.osc_port},
    "amount": amount.value if amount else None,
    "add_type": [t.__name__ for t in add_node.type] if add_node and add_node.type else None,
    "reply": None,
    "frames": 0,
    "people": None,
    "listened": [],
}
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((ip, 0))
sock.settimeout(5)
control = (host_info.osc_ip, host_info.osc_port)
b = OscMessageBuilder(address="/posenet/listeners/add")
b.add_arg(sock.getsockname()[1])
b.add_arg("bundle")
sock.sendto(b.build().dgram, control)
while time.time() - t0 < seconds and result["frames"] < 3:
    data = sock.recv(65536)
    if data.startswith(b"#bundle"):
        header = OscMessage(OscBundle(data).content(0).dgram)
        result["frames"] += 1
        result["people"] = header.params[3]
    else:
        m = OscMessage(data)
        if m.address == "/posenet/listeners/confirm":
            c = OscMessageBuilder(address="/posenet/listeners/confirm")
            c.add_arg(m.params[0])
            sock.sendto(c.build().dgram, control)
        else:
            result["reply"] = [m.address, *m.params]


async def listen() -> None:
    async with websockets.connect(f"ws://{service.parsed_addresses()[0]}:{service.port}/") as ws:
        await ws.send(json.dumps({"COMMAND": "LISTEN", "DATA": "/poses/amount"}))
        for _ in range(3):
            m = OscMessage(await asyncio.wait_for(ws.recv(), 5))
            result["listened"].append([m.address, *m.params])


asyncio.run(listen())
print(json.dumps(result))
