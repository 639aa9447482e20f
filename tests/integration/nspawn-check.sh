#!/bin/bash
# Runs inside the booted container (check.service): exercises posenet-appliance.service under a real
# systemd and writes what it saw to /out/results.json, then powers the container off.
set -u
S=posenet-appliance.service
API=http://127.0.0.1:8080/api
out=/out/results.json
py() { /opt/posenet-appliance/venv/bin/python -c "$@"; }
api() { py "import json,sys,urllib.request as u
r=u.Request('$API'+sys.argv[1],method=sys.argv[2],headers={'Content-Type':'application/json'},data=(sys.argv[3].encode() if len(sys.argv)>3 else None))
print(u.urlopen(r,timeout=5).read().decode())" "$@"; }
wait_active() { for _ in $(seq 1 120); do [[ $(systemctl is-active $S) == active ]] && return 0; sleep 0.5; done; return 1; }
wait_api() { for _ in $(seq 1 120); do api /status GET >/dev/null 2>&1 && return 0; sleep 0.5; done; return 1; }
show() { systemctl show -p "$1" --value $S; }

wait_active; wait_api
first_state="$(show ActiveState)/$(show SubState)"; first_status=$(show StatusText)
firstboot="$(systemctl show -p Result --value posenet-firstboot.service)/$(systemctl show -p ExecMainStatus --value posenet-firstboot.service)"
api /config PATCH '{"device_name": "nspawn-box"}' >/dev/null
systemctl restart $S; wait_active; wait_api
kept=$(api /config GET | py "import json,sys; print(json.load(sys.stdin)['device_name'])")
# One clock: the page's clock.serve reaches chrony through posenet-clock.path (a real boot, not a call).
clock_boot="$(systemctl show -p Result --value posenet-clock.service)/$(systemctl is-active posenet-clock.path)"
api /config PATCH '{"clock": {"serve": true}}' >/dev/null
for _ in $(seq 1 40); do grep -q '^allow 10.0.0.0/8' /etc/chrony/conf.d/posenet.conf 2>/dev/null && break; sleep 0.5; done
clock_conf=$(grep -c -E '^(allow|local stratum)' /etc/chrony/conf.d/posenet.conf 2>/dev/null || echo 0)
clock_run="$(systemctl show -p Result --value posenet-clock.service)/$(systemctl show -p ExecMainStatus --value posenet-clock.service)"
chrony_state="$(systemctl is-active chrony.service)"
restarts_before=$(show NRestarts)
api /config PATCH '{"source": "synthetic:stall=10@5"}' >/dev/null
for _ in $(seq 1 80); do [[ $(show NRestarts) -gt $restarts_before ]] && break; sleep 0.5; done
restarts_after=$(show NRestarts)
wait_active; wait_api
api /config PATCH '{"source": "synthetic@5"}' >/dev/null
sleep 2
t0=$(date +%s.%N); systemctl stop $S; t1=$(date +%s.%N)
journalctl -b -u $S --no-pager > /out/journal.txt
py "import json; json.dump({'first_state': '$first_state', 'first_status': '''$first_status''', 'kept': '$kept',
  'restarts_before': int('$restarts_before'), 'restarts_after': int('$restarts_after'),
  'stop_seconds': $t1 - $t0, 'clock_boot': '$clock_boot', 'clock_conf': int('$clock_conf'),
  'clock_run': '$clock_run', 'chrony': '$chrony_state', 'firstboot': '$firstboot', 'result': '$(show Result)', 'exit_status': '$(show ExecMainStatus)'}, open('$out', 'w'))"
systemctl poweroff --no-block
