"""Loopback ports and waiting for the service to answer."""

from __future__ import annotations

import socket
import time
import urllib.request

__all__ = ["free_tcp_port", "free_udp_port", "wait_http", "wait_udp_bound"]


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that nothing listens on (at the moment of asking)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_tcp_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the moment of asking)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(port: int, timeout: float = 60.0, host: str = "127.0.0.1") -> None:
    """Until the appliance on ``port`` answers ``GET /api/status`` (a started service)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://{host}:{port}/api/status", timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def wait_udp_bound(port: int, timeout: float = 5.0) -> None:
    """Until something listens on UDP ``port`` (like ``ss -ulnp``, without needing ss)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("0.0.0.0", port))
            except OSError:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing bound UDP port {port}")
