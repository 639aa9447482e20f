"""``/posenet/discover`` as a reflector: an attacker who forges the victim's source address (here: a
socket bound to the victim's address, which is what a forged source looks like to the box) asks the
box to answer the victim, at a port of the attacker's choosing (``,i PORT``), as fast as it can, from
one forged address and from many. What reaches the victims must stay below what was sent (no
amplification) and within the discovery rate limits, whatever the flood's size."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Any

from appliance.control.discover import OVERALL_BURST, OVERALL_RATE, PER_SOURCE_BURST, PER_SOURCE_RATE
from appliance.core.app import Application
from tests.support.controlport import Patch, osc, with_control

FLOOD_SECONDS = 2.0


def _victim(host: str) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, 0))
    s.setblocking(False)
    return s


def _drain(victims: list[socket.socket]) -> tuple[int, int]:
    """(datagrams, bytes) waiting at the victims."""
    got = size = 0
    for v in victims:
        while True:
            try:
                size += len(v.recv(65536))
                got += 1
            except BlockingIOError:
                break
    return got, size


async def _flood(control: tuple[str, int], victims: list[socket.socket]) -> int:
    """Forged discovers naming each victim's port, from each victim's address, for FLOOD_SECONDS; bytes sent."""
    forgers = [_victim(v.getsockname()[0]) for v in victims]
    sent, end = 0, time.monotonic() + FLOOD_SECONDS
    try:
        while time.monotonic() < end:
            for forger, victim in zip(forgers, victims, strict=True):
                packet = osc("/posenet/discover", victim.getsockname()[1])
                forger.sendto(packet, control)
                sent += len(packet)
            await asyncio.sleep(0.001)  # let the box read
    finally:
        for f in forgers:
            f.close()
    await asyncio.sleep(0.3)
    return sent


def _run(tmp_path: Path, hosts: list[str]) -> tuple[int, int, int, int]:
    out: list[int] = []

    async def body(app: Application, protocol: Any, patch: Patch) -> None:
        victims = [_victim(h) for h in hosts]
        try:
            sent = await _flood(patch.control, victims)
            got, size = _drain(victims)
            out.extend([sent, got, size, protocol.discovery.answered])
        finally:
            for v in victims:
                v.close()

    asyncio.run(with_control(tmp_path, body))
    return out[0], out[1], out[2], out[3]


def test_one_forged_source_gets_the_burst_and_the_rate_only(tmp_path: Path) -> None:
    sent, got, size, answered = _run(tmp_path, ["127.0.0.9"])
    limit = PER_SOURCE_BURST + PER_SOURCE_RATE * (FLOOD_SECONDS + 0.5)
    print(f"one forged source: {sent} bytes sent, {got} answers ({size} bytes) at the victim")
    assert got == answered and got <= limit
    assert size < sent / 10


def test_many_forged_sources_share_the_overall_rate(tmp_path: Path) -> None:
    hosts = [f"127.0.1.{i}" for i in range(1, 61)]
    sent, got, size, _ = _run(tmp_path, hosts)
    limit = OVERALL_BURST + OVERALL_RATE * (FLOOD_SECONDS + 0.5)
    print(f"60 forged sources: {sent} bytes sent, {got} answers ({size} bytes) at the victims")
    assert got <= limit
    assert size < sent
