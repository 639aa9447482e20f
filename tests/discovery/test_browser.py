"""Discovery believes only peers on the box's own subnets, in a bounded table with capped lifetimes:
pure checks of ``appliance.discovery.peers``, then ``PeerBrowser`` with a real python-zeroconf and
unsolicited mDNS answers inside a private network namespace (tests/discovery/browser_cases.py)."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from appliance.core.status import Peer
from appliance.discovery.peers import LocalNetworks, PeerTable, clean_text, clean_txt

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
NETS = LocalNetworks(
    (ipaddress.IPv4Network("192.168.1.0/24"), ipaddress.IPv4Network("10.0.0.0/30")),
    frozenset({ipaddress.IPv4Address("192.168.1.5"), ipaddress.IPv4Address("172.17.0.1")}),
)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("192.168.1.20", ""),
        ("10.0.0.2", ""),
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("169.254.3.4", "link-local"),
        ("224.0.0.251", "multicast"),
        ("0.0.0.0", "not a host address"),
        ("255.255.255.255", "not a host address"),
        ("240.1.2.3", "not a host address"),
        ("192.168.1.5", "this box's own address"),
        ("172.17.0.1", "this box's own address"),
        ("192.168.1.0", "a subnet's network or broadcast address"),
        ("192.168.1.255", "a subnet's network or broadcast address"),
        ("192.168.2.20", "not on this box's subnets"),
        ("8.8.8.8", "not on this box's subnets"),
        ("::1", "not an IPv4 address"),
        ("localhost", "not an IPv4 address"),
    ],
)
def test_only_hosts_on_the_boxs_own_subnets_are_believed(address: str, reason: str) -> None:
    assert NETS.refusal(address) == reason


def test_claims_are_cut_to_size() -> None:
    txt = clean_txt(
        {b"model": b"m" * 500, b"backend": b"\x1b[2Jcpu\xff", b"junk": b"x", b"K" * 40: b"y", b"txtvers": None}
    )
    assert txt == {"model": "m" * 120, "backend": "\ufffd[2Jcpu\ufffd", "txtvers": ""}
    assert clean_text("a\u202eb\nc", 10) == "a\ufffdb\ufffdc" and clean_text("x" * 99, 63) == "x" * 63


def test_table_bounds_count_names_per_address_and_life() -> None:
    table = PeerTable(capacity=3, per_address=2, ttl_cap=10.0)
    assert table.expiry(100.0, 2**31 - 1) == 110.0 and table.expiry(100.0, 4) == 104.0
    assert table.put("a", Peer("a", "10.0.0.2", 80), 110.0, 100.0) == ""
    assert table.put("b", Peer("b", "10.0.0.2", 81), 110.0, 100.0) == ""
    assert table.put("c", Peer("c", "10.0.0.2", 82), 110.0, 100.0) == "over 2 names at one address"
    assert table.put("d", Peer("d", "10.0.0.3", 80), 105.0, 100.0) == ""
    assert table.put("e", Peer("e", "10.0.0.4", 80), 110.0, 101.0) == "the table of peers is full"
    assert table.put("a", Peer("a", "10.0.0.2", 80), 150.0, 101.0) == ""  # known peers are updated
    assert [p.name for p in table.peers(106.0)] == ["a", "b"]  # d's life ended; it waits, unlisted
    table.renew("d", 130.0)
    assert [p.name for p in table.peers(106.0)] == ["a", "b", "d"]
    assert table.put("e", Peer("e", "10.0.0.4", 80), 140.0, 135.0) == ""  # room: b and d expired
    assert sorted(table.names()) == ["a", "e"] and table.refused_full == 2


def _case(name: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        ["unshare", "--net", sys.executable, str(HERE / "browser_cases.py"), name],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def test_browser_admits_only_the_subnet_and_cuts_claims() -> None:
    result = _case("admission")
    peers = {p["name"]: p for p in result["peers"]}
    assert sorted(peers) == ["ok-0000", "x" * 55 + "-0000"], result  # not the printer: its TXT is not ours
    assert peers["x" * 55 + "-0000"]["txt"] == {
        "txtvers": "1",
        "oscjson_port": "1",
        "model": "m" * 120,
        "backend": "\ufffd[31mred",
    }
    assert result["refused"] == {
        "loopback": 1,
        "this box's own address": 1,
        "not a host address": 1,
        "link-local": 1,
        "multicast": 1,
        "a subnet's network or broadcast address": 1,
        "not on this box's subnets": 1,
    }


def test_browser_table_is_bounded_and_keeps_who_was_there() -> None:
    result = _case("bounds")
    assert result == {"count": 50, "early": 10, "same": 2, "refused_full": 45}


def test_absurd_ttls_are_capped_and_goodbyes_honoured() -> None:
    result = _case("ttl_cap")
    assert result["listed"] == ["forever-0000", "normal-0000"] and result["still_cached"]
    assert 1.0 <= result["forever_gone_after_s"] <= 4.0 and result["normal_stayed"], result
    assert result["back_listed"] == ["forever-0000", "normal-0000"], result
    assert result["after_goodbye"] == ["forever-0000"] and result["goodbye_gone_after_s"] < 1.5, result


def test_a_flood_of_2000_names_is_read_without_stalling() -> None:
    result = _case("flood")
    assert result["listed"] == 1024 and result["refused_full"] > 0, result
    assert result["worst_stall_s"] < 0.5 and result["peers_call_ms"] < 50, result
