"""A venue network for tests: private network namespaces on one bridge (``10.66.0.0/24``), each
machine a namespace with one address, and a UDP receiver run inside any of them.

``venue(tag, n)`` makes a switch namespace holding the bridge and ``n`` machines ``10.66.0.1`` ..
``10.66.0.n`` (multicast works between them: mDNS stays on the bridge), yields their names and
deletes everything (processes inside killed) on exit. Nothing touches the host's interfaces.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

__all__ = ["Machine", "Sink", "address", "venue"]

SINK = Path(__file__).with_name("udp_sink.py")


def address(i: int) -> str:
    """Machine ``i``'s address (0-based)."""
    return f"10.66.0.{i + 1}"


@dataclass(frozen=True)
class Machine:
    """One namespace on the venue's bridge."""

    ns: str
    address: str

    def argv(self, *args: str) -> list[str]:
        """``args`` run inside this machine."""
        return ["ip", "netns", "exec", self.ns, *args]

    def host_argv(self, *args: str) -> list[str]:
        """``args`` run inside this machine with a host name of its own (``m`` + the address's last
        number: mDNS host names must differ, as on real boxes)."""
        name = "m" + self.address.rsplit(".", 1)[1]
        return self.argv("unshare", "--uts", "--", "sh", "-c", f'hostname {name} && exec "$@"', "sh", *args)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@contextmanager
def venue(tag: str, n: int) -> Iterator[list[Machine]]:
    """``n`` machines on one bridge (``tag`` keeps parallel tests apart)."""
    if shutil.which("ip") is None:
        pytest.fail("ip (iproute2) is needed to make network namespaces")
    pid = os.getpid()
    switch = f"{tag}sw{pid}"
    machines = [Machine(f"{tag}{i}n{pid}", address(i)) for i in range(n)]
    try:
        _ip("netns", "add", switch)
        _ip("-n", switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", switch, "link", "set", "br0", "up")
        for i, m in enumerate(machines):
            _ip("netns", "add", m.ns)
            _ip("-n", m.ns, "link", "set", "lo", "up")
            _ip("-n", m.ns, "link", "add", "eth0", "type", "veth", "peer", "name", f"p{i}", "netns", switch)
            _ip("-n", m.ns, "addr", "add", f"{m.address}/24", "dev", "eth0")
            _ip("-n", m.ns, "link", "set", "eth0", "up")
            _ip("-n", m.ns, "route", "add", "224.0.0.0/4", "dev", "eth0")
            _ip("-n", switch, "link", "set", f"p{i}", "master", "br0")
            _ip("-n", switch, "link", "set", f"p{i}", "up")
        yield machines
    finally:
        for ns in [m.ns for m in machines] + [switch]:
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, check=False)
            for p in pids.stdout.split():
                subprocess.run(["kill", "-KILL", p], check=False)
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)


class Sink:
    """A UDP receiver inside ``machine`` at ``port``, writing one JSON line per OSC message
    (``[arrival unix time, address, args]``) to ``path``; ``messages()`` reads what arrived so far."""

    def __init__(self, machine: Machine, port: int, path: Path) -> None:
        self.path = path
        env = {**os.environ, "PYTHONPATH": os.getcwd()}
        argv = machine.argv(sys.executable, str(SINK), str(port), str(path))
        self.proc = subprocess.Popen(argv, env=env, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    def messages(self) -> list[tuple[float, str, list[Any]]]:
        """Every message so far (a line being written is left for next time)."""
        out = []
        for line in self.path.read_text().splitlines():
            try:
                t, address, args = json.loads(line)
            except ValueError:
                continue
            out.append((t, address, args))
        return out

    def close(self) -> None:
        """Stop the receiver."""
        self.proc.terminate()
        self.proc.wait(5)
