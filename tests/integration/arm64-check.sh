#!/bin/bash
# Runs inside the booted arm64 container (check.service, under qemu-user): did the service come up by
# itself in CPU fallback and send poses? Writes /out/results.json, then powers the container off.
set -u
S=posenet-appliance.service
PY=/opt/posenet-appliance/venv/bin/python
show() { systemctl show -p "$1" --value "${2:-$S}"; }
for _ in $(seq 1 600); do [[ $(systemctl is-active $S) == active ]] && break; sleep 1; done
# OSC bundles that reach a receiver on the target port, for 30 s
bundles=$($PY - <<'PYEOF'
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 9000))
s.settimeout(1)
n, end = 0, time.monotonic() + 30
while time.monotonic() < end:
    try:
        data = s.recv(65536)
    except TimeoutError:
        continue
    n += data.startswith(b"#bundle\0") and b"/posenet/frame" in data
print(n)
PYEOF
)
status=$($PY -c "import urllib.request as u; print(u.urlopen('http://127.0.0.1:8080/api/status', timeout=10).read().decode())" 2>&1)
start_us=$(show ExecMainStartTimestampMonotonic); ready_us=$(show ActiveEnterTimestampMonotonic)
$PY - "$status" <<PYEOF
import json, sys
try:
    status = json.loads(sys.argv[1])
except ValueError:
    status = {"error": sys.argv[1][-500:]}
json.dump({
    "machine": "$(uname -m)",
    "state": "$(show ActiveState)/$(show SubState)",
    "status_text": """$(show StatusText)""",
    "firstboot": "$(show Result posenet-firstboot.service)/$(show ExecMainStatus posenet-firstboot.service)",
    "hostname": "$(hostname)",
    "ready_seconds": (int("$ready_us" or 0) - int("$start_us" or 0)) / 1e6,
    "restarts": int("$(show NRestarts)" or -1),
    "bundles_in_30s": int("$bundles" or 0),
    "status": status,
}, open("/out/results.json", "w"), indent=1)
PYEOF
t0=$(date +%s.%N); systemctl stop $S; t1=$(date +%s.%N)
$PY -c "import json; r = json.load(open('/out/results.json')); r.update(stop_seconds=$t1 - $t0, result='$(show Result)'); json.dump(r, open('/out/results.json', 'w'), indent=1)"
journalctl -b --no-pager -u $S -u posenet-firstboot.service > /out/journal.txt
systemctl poweroff --no-block
