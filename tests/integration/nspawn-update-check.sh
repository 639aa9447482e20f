#!/bin/bash
# Runs inside the booted container (check.service): signed updates under a real systemd. Writes
# key=value lines to /out/results.txt, the journal to /out/journal.txt, then powers the container off.
#   1. a tampered file: refused by the command and by the API, nothing changed
#   2. a good version uploaded through the API: posenet-update.path/.service install it, it is kept
#   3. a version that fails at start (the command): back on the old version by itself
#   4. a kill during the switch: the box still starts a working version
set -u
S=posenet-appliance.service
APP=/opt/posenet-appliance/venv/bin/posenet-appliance
out=/out/results.txt
: > "$out"
put() { printf '%s=%s\n' "$1" "$2" >> "$out"; }
now() { date +%s.%N; }
since() { python3 -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 1))" "$1" "$(now)"; }
link() { readlink /opt/posenet-appliance/venv; }
# status KEY [SUBKEY]: a field of /api/status (JSON for dicts), "" when the API does not answer
status() { python3 -c "import json,sys,urllib.request as u
d=json.load(u.urlopen('http://127.0.0.1:8080/api/status',timeout=3))
for k in sys.argv[1:]: d=(d or {}).get(k)
print(json.dumps(d) if isinstance(d,dict) else ('' if d is None else d))" "$@" 2>/dev/null; }
upload() { python3 -c "import sys,urllib.request as u,urllib.error as e
r=u.Request('http://127.0.0.1:8080/api/update',data=open(sys.argv[1],'rb').read(),method='POST',headers={'Content-Type':'application/octet-stream'})
try: print(u.urlopen(r,timeout=120).status)
except e.HTTPError as x: print(x.code, x.read().decode()[:300].replace(chr(10),' '))" "$1"; }
wait_api() { for _ in $(seq 1 360); do [[ -n $(status version) ]] && return 0; sleep 0.5; done; return 1; }

wait_api
put v0 "$(status version)"
put link0 "$(link)"

msg=$($APP update /root/tampered.update 2>&1); put tampered_rc $?
put tampered_msg "$(echo "$msg" | tail -1)"
put tampered_http "$(upload /root/tampered.update)"
put link_after_tampered "$(link)"

t0=$(now)
put good_http "$(upload /root/good.update)"
state=""
for _ in $(seq 1 720); do
    state=$(status update state)
    [[ $state == ok || $state == rolled-back || $state == refused ]] && break
    sleep 0.5
done
put good_seconds "$(since "$t0")"
put good_state "$state"
put good_message "$(status update message)"
put good_timings "$(status update timings)"
wait_api
put v1 "$(status version)"
put link1 "$(link)"

t0=$(now)
msg=$($APP update /root/fail.update --health-seconds 120 2>&1); put fail_rc $?
put fail_seconds "$(since "$t0")"
put fail_msg "$(echo "$msg" | grep -m1 'rolled back' || echo "$msg" | tail -3 | tr '\n' ' ')"
put fail_timings "$(echo "$msg" | grep -m1 '^timings')"
wait_api
put fail_back_seconds "$(since "$t0")"
put v2 "$(status version)"
put link2 "$(link)"

POSENET_FAILPOINTS=update.switch=crash $APP update /root/good4.update --no-restart >/dev/null 2>&1
put kill_rc $?
put link_after_kill "$(link)"
version=$(basename "$(dirname "$(link)")")
[[ -f /opt/posenet-appliance/versions/$version/complete.json ]] && put kill_complete yes
systemctl restart $S
wait_api
put v3 "$(status version)"
put restarts "$(systemctl show -p NRestarts --value $S)"
journalctl -b --no-pager -u $S -u posenet-update.service -u posenet-update.path > /out/journal.txt
systemctl poweroff --no-block
