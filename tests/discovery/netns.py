"""Two private network namespaces joined by a veth pair, as the fleet tests build them.

``box`` (v0, 10.77.0.1/16) is where the box under test runs; ``lan`` (v1, 10.77.0.2/16) is the rest
of the venue network: another box, fake boxes, hostile servers. ``lan`` also owns 10.77.16.0/20
(a local route: it answers ARP and TCP for all 4,096 addresses, so fake boxes can point anywhere in
it and a connection is refused at once) and 10.99.0.1, an address off the box's subnet, routed
through ``lan``, and 169.254.1.1, a link-local address on the same wire. Names are unique per
process; everything is deleted on exit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

BOX, LAN = "10.77.0.1", "10.77.0.2"
FAKES = "10.77.16.1"  # the first of the 4,096 addresses ``lan`` answers for
OFF_SUBNET = "10.99.0.1"
LINK_LOCAL = "169.254.1.1"


@dataclass(frozen=True)
class Net:
    """The two namespaces' names."""

    box: str
    lan: str

    def argv(self, ns: str, *args: str) -> list[str]:
        """``args`` as a command run inside namespace ``ns``."""
        return ["ip", "netns", "exec", ns, *args]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@contextmanager
def two_namespaces(tag: str) -> Iterator[Net]:
    """Make the namespaces (``tag`` keeps parallel tests apart), yield them, delete them."""
    if shutil.which("ip") is None:
        pytest.fail("ip (iproute2) is needed to make network namespaces")
    net = Net(f"{tag}b{os.getpid()}", f"{tag}l{os.getpid()}")
    try:
        _ip("netns", "add", net.box)
        _ip("netns", "add", net.lan)
        _ip("-n", net.box, "link", "add", "v0", "type", "veth", "peer", "name", "v1", "netns", net.lan)
        _ip("-n", net.box, "addr", "add", f"{BOX}/16", "dev", "v0")
        _ip("-n", net.lan, "addr", "add", f"{LAN}/16", "dev", "v1")
        _ip("-n", net.lan, "addr", "add", f"{OFF_SUBNET}/32", "dev", "v1")
        _ip("-n", net.lan, "addr", "add", f"{LINK_LOCAL}/16", "dev", "v1")
        for ns in (net.box, net.lan):
            _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", net.box, "link", "set", "v0", "up")
        _ip("-n", net.lan, "link", "set", "v1", "up")
        _ip("-n", net.lan, "route", "add", "local", "10.77.16.0/20", "dev", "lo")
        _ip("-n", net.box, "route", "add", "10.99.0.0/24", "via", LAN)
        _ip("-n", net.box, "route", "add", "169.254.0.0/16", "dev", "v0")
        yield net
    finally:
        for ns in (net.box, net.lan):
            pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, check=False)
            for pid in pids.stdout.split():
                subprocess.run(["kill", "-KILL", pid], check=False)
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)
