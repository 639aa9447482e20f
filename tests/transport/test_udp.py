"""UDP targets against real loopback sockets: delivery, refusal, recovery, bad specs."""

from __future__ import annotations

import socket
import time

import pytest
from pythonosc.osc_message import OscMessage

from appliance.cli import parse_target  # the CLI's --target syntax
from appliance.errors import ConfigError
from appliance.transport import udp
from appliance.transport.targets import MAX_TARGETS, TargetSet
from appliance.transport.udp import TargetSpec, UdpTarget
from tests.support.net import free_udp_port
from tests.support.poses import sample_poses


@pytest.mark.parametrize(
    ("text", "host", "port", "fmt"),
    [
        ("127.0.0.1:9000", "127.0.0.1", 9000, "individual"),
        ("laptop.local:57120/bundle", "laptop.local", 57120, "bundle"),
        ("[::1]:9000/arr", "::1", 9000, "arr"),
        ("broadcast:9000/wekinator", "broadcast", 9000, "wekinator"),
    ],
)
def test_parse_target(text: str, host: str, port: int, fmt: str) -> None:
    spec = parse_target(text)
    assert (spec.host, spec.port, spec.format) == (host, port, fmt)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("localhost", "not HOST:PORT"),
        (":9000", "not HOST:PORT"),
        ("host:", "not HOST:PORT"),
        ("host:abc", "is not a number"),
        ("host:0", "out of range"),
        ("host:70000", "out of range"),
        ("host:9000/json", "unknown OSC format"),
    ],
)
def test_bad_targets_are_refused_naming_the_problem(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_target(text)


def test_datagrams_arrive(udp_receiver: socket.socket) -> None:
    port = udp_receiver.getsockname()[1]
    with TargetSet([TargetSpec("127.0.0.1", port, "arr")]) as ts:
        ts.send(sample_poses())
        data = udp_receiver.recv(65536)
        assert OscMessage(data).address == "/poses/arr"
        c = ts.counters()[f"127.0.0.1:{port}/arr"]
        assert (c.datagrams, c.errors, c.state) == (1, 0, "ok")


def test_encoding_is_shared_between_targets_of_the_same_format(udp_receiver: socket.socket) -> None:
    port = udp_receiver.getsockname()[1]
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.0.1", 0))
    other.settimeout(2.0)
    try:
        specs = [TargetSpec("127.0.0.1", port, "bundle"), TargetSpec("127.0.0.1", other.getsockname()[1], "bundle")]
        with TargetSet(specs) as ts:
            ts.send(sample_poses())
            assert udp_receiver.recv(65536) == other.recv(65536)
    finally:
        other.close()


def test_refused_is_counted_never_raised_and_recovers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(udp, "RECOVERY_SECONDS", 0.2)
    port = free_udp_port()
    target = UdpTarget(TargetSpec("127.0.0.1", port, "wekinator"))
    assert target.open()
    payload = [b"/x\x00\x00,\x00\x00\x00"]
    for _ in range(6):  # nobody listens: ICMP port unreachable -> ECONNREFUSED on later sends
        target.send(payload)
        time.sleep(0.01)
    assert target.counters.errors >= 2
    assert target.counters.state == "error" and "refused" in target.counters.last_error
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", port))
    rx.settimeout(2.0)
    try:
        time.sleep(0.25)
        target.send(payload)
        assert rx.recv(100) == payload[0]
        assert target.counters.state == "ok"
    finally:
        rx.close()
        target.close()
        target.close()  # idempotent


def test_an_unresolvable_name_is_counted_and_never_blocks_sending() -> None:
    with TargetSet([TargetSpec("no-such-host.invalid", 9000, "arr")]) as ts:
        t0 = time.perf_counter()
        ts.send(sample_poses())  # the resolver thread works on it; send drops and counts
        assert time.perf_counter() - t0 < 0.05
        deadline = time.monotonic() + 10
        counters = ts.counters()["no-such-host.invalid:9000/arr"]
        while counters.state != "unresolved" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert counters.state == "unresolved" and counters.dropped >= 1
        assert "cannot resolve" in counters.last_error


def test_targets_are_bounded_and_replaceable(udp_receiver: socket.socket) -> None:
    port = udp_receiver.getsockname()[1]
    many = [TargetSpec("127.0.0.1", 20000 + i) for i in range(MAX_TARGETS + 5)]
    with TargetSet(many) as ts:
        assert len(ts.specs) == MAX_TARGETS
        ts.set_targets([TargetSpec("127.0.0.1", port, "arr")])
        assert ts.specs == (TargetSpec("127.0.0.1", port, "arr"),)
        ts.send(sample_poses())
        assert OscMessage(udp_receiver.recv(65536)).address == "/poses/arr"


def test_ipv4_sockets_may_broadcast() -> None:
    """SO_BROADCAST is set (we never actually broadcast from a test: it would leave the machine)."""
    target = UdpTarget(TargetSpec("127.0.0.1", free_udp_port()))
    assert target.open()
    assert target._sock is not None
    assert target._sock.getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST) == 1
    target.close()
    assert udp._literal("broadcast") == "255.255.255.255"


def test_ipv6_loopback(udp_receiver: socket.socket) -> None:
    rx = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    rx.bind(("::1", 0))
    rx.settimeout(2.0)
    try:
        with TargetSet([parse_target(f"[::1]:{rx.getsockname()[1]}/wekinator").spec()]) as ts:
            ts.send(sample_poses())
            assert OscMessage(rx.recv(65536)).address == "/wek/inputs"
    finally:
        rx.close()


def test_a_failing_format_is_counted_and_the_others_still_send(
    udp_receiver: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    from appliance.output.osc import formats

    def broken(poses: object, options: object) -> list[bytes]:
        raise RuntimeError("bug in a format")

    monkeypatch.setitem(formats.FORMATS, "wekinator", broken)
    port = udp_receiver.getsockname()[1]
    with TargetSet([TargetSpec("127.0.0.1", port, "wekinator"), TargetSpec("127.0.0.1", port, "arr")]) as ts:
        ts.send(sample_poses())
        assert OscMessage(udp_receiver.recv(65536)).address == "/poses/arr"
        assert ts.encode_errors == 1
