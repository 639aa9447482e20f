"""Test peer playing a patch that knows no address (runs inside a private network namespace).

It browses for _oscjson._tcp, reads OSC_PORT from OSCQuery's HOST_INFO, subscribes through that
control port with /posenet/listeners/add (its own port, bundle format), answers the confirmation
with its nonce, and prints what arrives.
usage: zeroconf_patch.py IP SECONDS
"""

import json
import socket
import sys
import time
import urllib.request

from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder
from zeroconf import IPVersion, ServiceBrowser, Zeroconf

ip, seconds = sys.argv[1], float(sys.argv[2])
zc = Zeroconf(interfaces=[ip], ip_version=IPVersion.V4Only)
found = []


class Listener:
    def add_service(self, zeroconf, type_, name):
        info = zeroconf.get_service_info(type_, name, timeout=3000)
        if info:
            found.append((info.parsed_addresses()[0], info.port, name))

    def update_service(self, *args):
        pass

    def remove_service(self, *args):
        pass


ServiceBrowser(zc, "_oscjson._tcp.local.", Listener())
t0 = time.time()
while not found and time.time() - t0 < seconds:
    time.sleep(0.1)
zc.close()
host, port, name = found[0]
with urllib.request.urlopen(f"http://{host}:{port}/?HOST_INFO", timeout=5) as r:
    host_info = json.load(r)
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((ip, 0))
sock.settimeout(5)
b = OscMessageBuilder(address="/posenet/listeners/add")
b.add_arg(sock.getsockname()[1])
b.add_arg("bundle")
sock.sendto(b.build().dgram, (host, host_info["OSC_PORT"]))
result = {"service": name, "host_info": host_info, "reply": None, "frames": 0, "people": None}
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
            sock.sendto(c.build().dgram, (host, host_info["OSC_PORT"]))
        else:
            result["reply"] = [m.address, *m.params]
print(json.dumps(result))
