"""Avahi, a second independent mDNS stack, resolves the three services (private namespaces only).

``unshare --net --mount``: a network namespace with only loopback, and a mount namespace so the
avahi runtime directory is a private tmpfs. D-Bus is a private bus in the test's folder. Nothing
touches the host's network, D-Bus or /run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.discovery.boxes import box_command

ROOT = Path(__file__).resolve().parents[2]
AVAHI_CONF = """[server]
host-name=peer-b
use-ipv4=yes
use-ipv6=no
allow-interfaces=lo
ratelimit-interval-usec=1000000
ratelimit-burst=1000
[wide-area]
enable-wide-area=no
[publish]
publish-hinfo=no
publish-workstation=no
"""


def test_avahi_browse_resolves_all_three_services(models_dir: Path, images_dir: Path, tmp_path: Path) -> None:
    for tool in ("unshare", "avahi-daemon", "avahi-browse", "dbus-daemon"):
        if shutil.which(tool) is None:
            msg = f"{tool} is not installed (.ci/setup installs avahi-daemon avahi-utils dbus)"
            if os.environ.get("POSENET_REQUIRE_MODELS") == "1":
                pytest.fail(msg)
            pytest.skip(msg)
    (tmp_path / "avahi.conf").write_text(AVAHI_CONF)
    (tmp_path / "dbus").mkdir()
    bus = f"unix:path={tmp_path}/dbus/system_bus_socket"
    run = box_command(models_dir, images_dir, tmp_path / "state", target="127.0.0.1:9/individual")
    script = "\n".join(
        [
            "set -e",
            "ip link set lo up",
            "mkdir -p /run/avahi-daemon",
            "mount -t tmpfs test-avahi /run/avahi-daemon",
            f"export DBUS_SYSTEM_BUS_ADDRESS={bus}",
            "DBUS=$(dbus-daemon --config-file=/usr/share/dbus-1/system.conf --address=$DBUS_SYSTEM_BUS_ADDRESS "
            "--fork --nopidfile --print-pid)",
            f"avahi-daemon -f {tmp_path}/avahi.conf --no-drop-root --no-chroot --no-rlimits "
            f"> {tmp_path}/avahi.log 2>&1 &",
            "AVAHI=$!",
            f"until grep -q 'Server startup complete' {tmp_path}/avahi.log; do sleep 0.1; done",
            f"{run} > {tmp_path}/box.log 2>&1 &",
            "BOX=$!",
            f"until grep -q 'advertised as' {tmp_path}/box.log; do sleep 0.1; done",
            "sleep 1",
            f"avahi-browse -rpt _osc._udp > {tmp_path}/osc.txt",
            f"avahi-browse -rpt _oscjson._tcp > {tmp_path}/oscjson.txt",
            f"avahi-browse -rpt _http._tcp > {tmp_path}/http.txt",
            "kill -TERM $BOX; wait $BOX",
            "kill $AVAHI; wait $AVAHI || true",
            "kill $DBUS",
        ]
    )
    env = {**os.environ, "POSENET_MODELS_DIR": str(models_dir), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        ["unshare", "--net", "--mount", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    logs = "".join((tmp_path / f).read_text() for f in ("avahi.log", "box.log") if (tmp_path / f).exists())
    assert proc.returncode == 0, proc.stderr + logs

    def resolved(name: str) -> list[list[str]]:
        return [ln.split(";") for ln in (tmp_path / name).read_text().splitlines() if ln.startswith("=")]

    osc, oscjson, http = resolved("osc.txt"), resolved("oscjson.txt"), resolved("http.txt")
    assert osc and oscjson and http, (tmp_path / "osc.txt").read_text()
    # =;iface;proto;name;type;domain;host;address;port;txt
    assert osc[0][4] == "_osc._udp" and osc[0][7] == "127.0.0.1" and osc[0][8] == "19001"
    assert oscjson[0][8] == "18081" and http[0][8] == "18080"
    # avahi-browse -p escapes names with decimal \DDD codes: "posenet\032\0400035\041".
    name = re.sub(r"\\(\d{3})", lambda m: chr(int(m.group(1))), osc[0][3])
    assert re.fullmatch(r"posenet \([0-9a-f]{4}\)", name), name
    txt = osc[0][9]
    assert '"osc_port=19001"' in txt and '"formats=individual"' in txt and '"txtvers=1"' in txt
