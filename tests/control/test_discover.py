"""``/posenet/discover`` on the control port over real loopback UDP, and its rules: answered only to
unicast senders on the box's own subnets, at the port asked for, rate-limited per source and overall."""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path
from typing import Any

import pytest

from appliance.config.store import ConfigStore
from appliance.control.access import Ignored
from appliance.control.discover import OVERALL_BURST, OVERALL_RATE, PER_SOURCE_BURST, Discovery
from appliance.control.messages import Kind, matching
from appliance.core.app import Application
from appliance.sysinfo import machine_id
from appliance.web.oscquery.namespace import build
from tests.support.controlport import Patch, osc, with_control

LAN = [ipaddress.IPv4Interface("10.1.2.1/24"), ipaddress.IPv4Interface("127.0.0.1/8")]


def test_discover_is_answered_with_name_address_and_ports(tmp_path: Path) -> None:
    async def body(app: Application, protocol: Any, patch: Patch, other: Patch) -> None:
        port = protocol.transport.get_extra_info("sockname")[1]
        answer = await patch.ask(osc("/posenet/discover"))
        assert answer.address == "/posenet/here"
        assert answer.params == [f"posenet ({machine_id()})", "127.0.0.1", port, 0, 0]
        # The port to answer to, given: the answer goes there, and nothing to the sender.
        await patch.send(osc("/posenet/discover", other.port))
        assert (await other.recv()).params[1:3] == ["127.0.0.1", port]
        assert await patch.nothing()
        # Pd sends every number as a float.
        await patch.send(osc("/posenet/discover", float(other.port)))
        assert (await other.recv()).address == "/posenet/here"
        assert protocol.discovery.answered == 3

    asyncio.run(with_control(tmp_path, body, patches=2))


def test_bad_arguments_get_a_one_line_error(tmp_path: Path) -> None:
    async def body(app: Application, protocol: Any, patch: Patch) -> None:
        assert (await patch.ask(osc("/posenet/discover", 0))).params == [
            "/posenet/discover: port 0 is out of range 1..65535"
        ]
        assert (await patch.ask(osc("/posenet/discover", "x"))).params == [
            "/posenet/discover: argument 1 must be a whole number"
        ]
        assert (await patch.ask(osc("/posenet/discover", 1, 2))).params == ["/posenet/discover: expected [port]"]

    asyncio.run(with_control(tmp_path, body))


def test_senders_off_the_box_subnets_get_nothing(tmp_path: Path) -> None:
    async def body(app: Application, protocol: Any, patch: Patch) -> None:
        protocol.discovery = Discovery(lambda: [ipaddress.IPv4Interface("10.1.2.1/24")])  # no loopback network
        before = protocol.errors
        await patch.send(osc("/posenet/discover"))
        assert await patch.nothing()
        assert protocol.errors == before + 1 and protocol.discovery.answered == 0

    asyncio.run(with_control(tmp_path, body))


def test_a_burst_from_one_source_gets_only_the_burst(tmp_path: Path) -> None:
    async def body(app: Application, protocol: Any, patch: Patch) -> None:
        for _ in range(10):
            await patch.send(osc("/posenet/discover"))
        got = 0
        while not await patch.nothing(0.3):
            got += 1
        assert got == PER_SOURCE_BURST

    asyncio.run(with_control(tmp_path, body))


@pytest.mark.parametrize(
    ("host", "why"),
    [
        ("10.1.2.255", "broadcast"),
        ("10.1.2.0", "network"),
        ("255.255.255.255", "unicast"),
        ("224.0.0.251", "unicast"),
        ("0.0.0.0", "unicast"),
        ("192.0.2.7", "not on this box's networks"),
        ("::1", "not an IPv4 address"),
    ],
)
def test_no_answer_to_broadcast_multicast_or_other_networks(host: str, why: str) -> None:
    with pytest.raises(Ignored, match=why):
        Discovery(lambda: LAN).admit((host, 9000), 0.0)


def test_the_answer_names_the_address_on_the_sender_subnet_and_never_port_0() -> None:
    d = Discovery(lambda: LAN)
    assert d.admit(("10.1.2.77", 9000), 0.0) == "10.1.2.1"
    assert d.admit(("127.0.0.1", 9000), 0.0) == "127.0.0.1"
    with pytest.raises(Ignored, match="port 0"):
        d.admit(("10.1.2.78", 0), 0.0)
    point = Discovery(lambda: [ipaddress.IPv4Interface("10.9.0.0/31")])  # a /31 has no broadcast address
    assert point.admit(("10.9.0.1", 9000), 0.0) == "10.9.0.0"


def test_the_whole_box_answers_at_most_the_overall_rate() -> None:
    d = Discovery(lambda: LAN)
    admitted = 0
    for i in range(2, 200):  # 198 sources at once, each within its own rate
        try:
            d.admit((f"10.1.2.{i}", 9000), 5.0)
            admitted += 1
        except Ignored:
            pass
    assert admitted == OVERALL_BURST
    d.admit(("10.1.2.200", 9000), 5.0 + 1 / OVERALL_RATE + 1e-6)  # refilled at the overall rate


def test_discover_is_published_like_every_control_message(tmp_path: Path) -> None:
    (method,) = matching("/posenet/discover")
    assert method.kind is Kind.DISCOVER and not method.changes
    config = ConfigStore.in_dir(tmp_path).load()
    node = build(config, [], (640, 480)).methods["/posenet/discover"]
    assert node["TYPE"] == "i" and node["ACCESS"] == 2 and "/posenet/here" in node["DESCRIPTION"]
