"""Forged datagrams at the hub's link to a box, on loopback with real UDP sockets (issue 23's red
team): what anyone on the venue network can send to the hub's port for a box, from another port on
the box's address (a second socket bound there) or from the box's own control port (a raw socket
forges any source). The box's replies (``/posenet/listeners/*``, ``/posenet/error``) count only from
its control port; what a full forgery can still say is bounded: a frame never finished cannot grow,
forged confirmations are answered once a datagram at most (soon after a request only), and a forged
lease cannot keep the hub from asking again once the box falls silent."""

from __future__ import annotations

import socket
import threading
import time
import tracemalloc
from collections.abc import Iterator

import pytest

from appliance.capture import hub_link, parse_source
from appliance.capture.hub_link import CONFIRM_SECONDS, MAX_LEFT, SILENT_SECONDS, BoxLink
from appliance.capture.hub_source import BoxDirectory, HubSource
from appliance.output.osc.wire import bundle, message
from appliance.pose.fusion import TUNING
from tests.support.fakebox import FakeBox, frame, person_at


@pytest.fixture
def hub() -> Iterator[tuple[FakeBox, HubSource, BoxLink]]:
    box = FakeBox()
    src = HubSource(parse_source(f"hub:127.0.0.1:{box.port}"))
    src.open()
    try:
        deadline = time.monotonic() + 5
        while box.subscriber is None and time.monotonic() < deadline:
            src.read(0.05)
        assert box.subscriber is not None
        for i in (1, 2):  # streaming (a box's first frame waits for the next)
            for data in frame(person_at(4, time.time(), i), None):
                box.send(data)
        for _ in range(5):
            src.read(0.02)
        yield box, src, next(iter(src.links.values()))
    finally:
        src.close()
        box.close()


def _pump(src: HubSource, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        src.read(0.02)


def test_leave_messages_cannot_grow_a_frame_never_finished(hub: tuple[FakeBox, HubSource, BoxLink]) -> None:
    box, src, link = hub
    box.send(message("/posenet/frame", "iiiiii", [50, 640, 480, 1, 0, 0]))  # one person announced, never sent
    leaves = bundle(1, [message("/posenet/person/leave", "i", [i]) for i in range(10**6, 10**6 + 256)])
    tracemalloc.start()
    try:
        for i in range(400):
            box.send(leaves)
            if i % 16 == 15:
                src.read(0.005)
        _pump(src, 0.2)
        grown = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    pending = link._pending
    kept = len(pending.left) if pending is not None else 0
    print(f"400 datagrams of 256 leaves: {kept} kept, peak {grown / 1e6:.2f} MB traced, {link.dropped} dropped")
    assert kept <= MAX_LEFT and link.dropped > 10_000


def test_replies_from_another_port_on_the_box_address_change_nothing(hub: tuple[FakeBox, HubSource, BoxLink]) -> None:
    _, src, link = hub
    before = (link._next_add, link.lease_until)
    forger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    forger.bind(("127.0.0.1", 0))
    try:
        forger.sendto(
            message("/posenet/error", "s", ["forged: wrong or missing subscribe key"]), ("127.0.0.1", link.port)
        )
        forged = message("/posenet/listeners/added", "sisi", ["127.0.0.1", link.port, "bundle", 3600])
        forger.sendto(forged, ("127.0.0.1", link.port))
        _pump(src, 0.3)
    finally:
        forger.close()
    wait = link._next_add - time.monotonic()
    print(f"after a forged refusal and lease: refused {link.refused!r}, next request in {wait:.0f} s")
    assert link.refused == "" and (link._next_add, link.lease_until) == before and link.dropped >= 2


def test_forged_confirmations_are_reflected_never_multiplied(
    hub: tuple[FakeBox, HubSource, BoxLink], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub_link, "SILENT_SECONDS", 60.0)  # (the hub asks no more while this test runs)
    box, src, _ = hub
    sent = box.heard["/posenet/listeners/confirm"]
    confirms = bundle(1, [message("/posenet/listeners/confirm", "s", [f"x{i}"]) for i in range(256)])
    for _ in range(20):  # from the box's own control port: a raw socket forges that too
        box.send(confirms)
        src.read(0.01)
    _pump(src, 0.3)
    extra = box.heard["/posenet/listeners/confirm"] - sent
    print(f"20 datagrams of 256 forged confirmations: the hub sent the box {extra} datagrams")
    assert extra <= 20  # at most one per datagram, and only soon after the hub's own request
    time.sleep(CONFIRM_SECONDS)  # long after it: none at all
    sent = box.heard["/posenet/listeners/confirm"]
    for _ in range(20):
        box.send(confirms)
        src.read(0.01)
    _pump(src, 0.3)
    assert box.heard["/posenet/listeners/confirm"] == sent


def test_a_forged_lease_cannot_keep_the_hub_from_asking_a_silent_box_again(
    hub: tuple[FakeBox, HubSource, BoxLink],
) -> None:
    box, src, link = hub
    box.send(message("/posenet/listeners/added", "sisi", ["127.0.0.1", link.port, "bundle", 3600]))
    _pump(src, 0.2)
    print(f"a forged lease of an hour: next renewal in {link._next_add - time.monotonic():.0f} s")
    asked = box.asked
    box.subscriber = None  # the box's real lease ended: it streams no more
    started = time.monotonic()
    while box.asked == asked and time.monotonic() - started < SILENT_SECONDS + 2:
        src.read(0.05)
    print(f"the silent box asked again after {time.monotonic() - started:.1f} s")
    assert box.asked > asked
    deadline = time.monotonic() + 2
    while box.subscriber is None and time.monotonic() < deadline:
        src.read(0.05)
    assert box.subscriber is not None  # subscribed again


def test_a_box_found_on_mdns_is_never_given_the_venues_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Anyone on the venue network can announce a box (a TXT record with an OSC port and a status
    that looks like a box's): a hub following the boxes found on mDNS asks them without
    ``hub.subscribe_key``, so a visitor's fake box never learns the key every real box asks for; a
    box found there that wants the key refuses, and the hub says to name it."""
    monkeypatch.setattr(TUNING, "subscribe_key", "venue-key-77")
    fake, keyed = FakeBox(), FakeBox(key="venue-key-77")
    directory = BoxDirectory()
    directory.set(lambda: [("visitor's box", "127.0.0.1", fake.port), ("real box", "127.0.0.1", keyed.port)])
    src = HubSource(parse_source("hub"), directory)
    src.open()
    try:
        deadline = time.monotonic() + 5
        while (fake.subscriber is None or not src.links["real box"].refused) and time.monotonic() < deadline:
            src.read(0.05)
        print(f"the visitor's box was asked with {fake.adds}")
        assert fake.subscriber is not None and fake.adds and all("venue-key-77" not in a for a in fake.adds)
        assert "named with --box" in src.links["real box"].refused
    finally:
        src.close()
        fake.close()
        keyed.close()


def test_forged_refusals_from_the_box_control_port_cannot_keep_the_hub_from_subscribing() -> None:
    """A raw socket forging the box's control port floods ``/posenet/error`` at the hub's port from
    before the hub starts: the hub's request still reaches the box, whose confirmation and lease
    arrive among the forgeries; subscribed at once, and streaming."""
    box = FakeBox()
    src = HubSource(parse_source(f"hub:127.0.0.1:{box.port}"))
    src.open()
    link = next(iter(src.links.values()))
    stop = threading.Event()
    forged = message("/posenet/error", "s", ["/posenet/listeners/add: wrong or missing subscribe key"])

    def flood() -> None:
        while not stop.is_set():
            box.sock.sendto(forged, ("127.0.0.1", link.port))
            time.sleep(0.002)

    flooder = threading.Thread(target=flood, daemon=True)
    flooder.start()
    try:
        time.sleep(0.2)
        started = time.monotonic()
        while box.subscriber is None and time.monotonic() - started < 10:
            src.read(0.05)
        print(f"subscribed {time.monotonic() - started:.2f} s after the hub started, under a flood of refusals")
        assert box.subscriber is not None and time.monotonic() - started < 1.0
    finally:
        stop.set()
        flooder.join(2)
        src.close()
        box.close()


def test_a_lease_is_taken_only_soon_after_the_hubs_request(
    hub: tuple[FakeBox, HubSource, BoxLink], monkeypatch: pytest.MonkeyPatch
) -> None:
    box, src, link = hub
    monkeypatch.setattr(hub_link, "SILENT_SECONDS", 60.0)  # (the hub asks no more while this test runs)
    before = (link._next_add, link.lease_until)
    time.sleep(CONFIRM_SECONDS + 0.1)
    box.send(message("/posenet/listeners/added", "sisi", ["127.0.0.1", link.port, "bundle", 3600]))
    _pump(src, 0.2)
    assert (link._next_add, link.lease_until) == before
