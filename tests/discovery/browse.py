"""Test peer (runs inside a private network namespace): browse with python-zeroconf, print JSON.

usage: browse.py IP SECONDS EXPECTED [WATCH]
Prints one JSON line per resolved service once EXPECTED were resolved (or after SECONDS), then a
line "READY", then for WATCH more seconds one JSON line per addition ({"added": name}), update
({"updated": ...}) or removal ({"removed": name}).
"""

import json
import sys
import time

from zeroconf import IPVersion, ServiceBrowser, ServiceStateChange, Zeroconf

ip, seconds, expected = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
watch = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
types = ["_osc._udp.local.", "_oscjson._tcp.local.", "_http._tcp.local."]
found: dict[str, dict] = {}
ready = False
zc = Zeroconf(interfaces=[ip], ip_version=IPVersion.V4Only)


def describe(zeroconf: Zeroconf, service_type: str, name: str) -> dict | None:
    info = zeroconf.get_service_info(service_type, name, timeout=3000)
    if not info:
        return None
    return {
        "type": service_type,
        "name": name,
        "port": info.port,
        "addresses": info.parsed_addresses(),
        "server": info.server,
        "properties": {k.decode(): (v or b"").decode() for k, v in info.properties.items()},
    }


def on_change(zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
    if state_change is ServiceStateChange.Added and not ready:
        item = describe(zeroconf, service_type, name)
        if item:
            found[name] = item
    elif state_change is ServiceStateChange.Added:
        print(json.dumps({"added": name}), flush=True)
    elif state_change is ServiceStateChange.Updated and ready:
        item = describe(zeroconf, service_type, name)
        if item:
            print(json.dumps({"updated": item}), flush=True)
    elif state_change is ServiceStateChange.Removed and ready:
        print(json.dumps({"removed": name}), flush=True)


ServiceBrowser(zc, types, handlers=[on_change])
t0 = time.time()
while time.time() - t0 < seconds and len(found) < expected:
    time.sleep(0.1)
time.sleep(0.5)
for item in found.values():
    print(json.dumps(item), flush=True)
ready = True
print("READY", flush=True)
time.sleep(watch)
zc.close()
