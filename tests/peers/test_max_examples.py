"""The Max example patches cannot run here (no Max); check they are valid patcher files that use
the right objects and messages, so a user opening them gets a working patch."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "max"


@pytest.mark.parametrize("name", ["posenet-plain.maxpat", "posenet-zero.maxpat"])
def test_max_patch_is_well_formed(name: str) -> None:
    patcher = json.loads((EXAMPLES / name).read_text())["patcher"]
    boxes = {b["box"]["id"]: b["box"] for b in patcher["boxes"]}
    texts = [b.get("text", "") for b in boxes.values()]
    for line in patcher["lines"]:
        src, dst = line["patchline"]["source"], line["patchline"]["destination"]
        assert src[0] in boxes and dst[0] in boxes, line
    assert any(t.startswith("udpreceive 9000") for t in texts)
    assert "/posenet/listeners/add 9000 bundle" in texts
    assert any(t.startswith("route /posenet/frame /posenet/person/pose") for t in texts)
    # The subscription's round trip: the confirmation's nonce goes back, a metro renews the lease.
    route = next(i for i, b in boxes.items() if b.get("text", "").endswith("/posenet/listeners/confirm"))
    echo = next(i for i, b in boxes.items() if b.get("text", "") == "prepend /posenet/listeners/confirm")
    sender = next(i for i, b in boxes.items() if b.get("text", "") == "udpsend")  # the box's, not the broadcast's
    links = {(ln["patchline"]["source"][0], ln["patchline"]["destination"][0]) for ln in patcher["lines"]}
    assert (route, echo) in links and (echo, sender) in links
    assert "metro 20000" in texts
    # The subscribe key (when the owner set one) goes last in add; the access token never travels.
    assert any("subscribe key" in t and "never the access token" in t for t in texts)
    assert not any("<token>" in t for t in texts)
    assert any(t.startswith("udpsend") for t in texts)
    # The room (issue 22): the scene, a zone's count and slot 1, from what the first route lets through.
    room = next(i for i, b in boxes.items() if b.get("text", "").startswith("route /posenet/scene "))
    first = next(
        i for i, b in boxes.items() if b.get("text", "").startswith("route /posenet/frame /posenet/person/pose")
    )
    assert (first, room) in links and "/posenet/zone/door/count /posenet/slot/1/centre" in boxes[room]["text"]
    assert any("a lost leave leaves no ghost" in t for t in texts)
    if "zero" in name:
        assert "zero.browse _osc._udp" in texts and "zero.resolve" in texts


def _max_flow() -> dict[str, object]:
    """The discovery flow of the plain Max patch, as the Pd one is read below."""
    patcher = json.loads((EXAMPLES / "posenet-plain.maxpat").read_text())["patcher"]
    boxes = {b["box"]["id"]: b["box"].get("text", "") for b in patcher["boxes"]}
    links = {(boxes[ln["patchline"]["source"][0]], boxes[ln["patchline"]["destination"][0]]) for ln in patcher["lines"]}
    ask = next(t for t in boxes.values() if t.startswith("/posenet/discover"))
    broadcast = next(b for a, b in links if a == ask)
    metros = sorted(int(t.split()[1]) for t in boxes.values() if t.startswith("metro"))
    return {
        "discover": (ask.split()[0], int(ask.split()[1])),
        "to": tuple(broadcast.split()[1:]),
        "every_ms": metros,
        "listen": int(next(t for t in boxes.values() if t.startswith("udpreceive")).split()[1]),
        "answers": sorted(w for t in boxes.values() if t.startswith("route") for w in t.split()[1:]),
        "loadbang_starts_discovery": ("loadbang", "metro 5000") in links and ("metro 5000", ask) in links,
        "confirm_echo": ("prepend /posenet/listeners/confirm", "udpsend") in links,
    }


def _pd_flow() -> dict[str, object]:
    """The same from examples/pd/posenet-find.pd (text lines; objects by index)."""
    text = (EXAMPLES.parent / "pd" / "posenet-find.pd").read_text().split(";\n")
    objs = [
        re.sub(r"^#X \w+ \d+ \d+ ", "", t) for t in text[1:] if t.startswith("#X ") and not t.startswith("#X connect")
    ]
    links = {(objs[int(a)], objs[int(b)]) for a, b in re.findall(r"#X connect (\d+) \d+ (\d+) \d+", "\n".join(text))}
    routes = [t.split()[1:] for t in objs if t.startswith("route")]
    first = next(t for t in objs if t.startswith("connect 255"))
    return {
        "discover": ("/posenet/discover", int(next(t for t in objs if t.isdigit()))),
        "to": tuple(first.split()[1:]),
        "every_ms": sorted(int(t.split()[1]) for t in objs if t.startswith("metro")),
        "listen": int(next(t for t in objs if t.isdigit())),
        "answers": sorted(["/posenet/" + r for r in routes[1]] + ["/posenet/listeners/" + r for r in routes[2]]),
        "loadbang_starts_discovery": ("t b b b", "metro 5000") in links
        and ("oscformat posenet discover", "netsend -u -b") in links,
        "confirm_echo": ("oscformat posenet listeners confirm", "netsend -u -b") in links,
    }


def test_the_max_and_pd_examples_speak_the_same_discovery() -> None:
    """Max cannot run here; the Pd patch does (test_pd_discovery): the same flow means the same test."""
    pd, mx = _pd_flow(), _max_flow()
    assert pd["discover"] == mx["discover"] == ("/posenet/discover", 9000)
    assert pd["to"] == mx["to"] == ("255.255.255.255", "9001")
    assert pd["every_ms"] == mx["every_ms"] == [5000, 20000]  # discovery, renewal
    assert pd["listen"] == mx["listen"] == 9000
    assert pd["loadbang_starts_discovery"] and mx["loadbang_starts_discovery"]
    assert pd["confirm_echo"] and mx["confirm_echo"]
    for address in ("/posenet/here", "/posenet/listeners/confirm", "/posenet/error"):
        assert address in pd["answers"] and address in mx["answers"], address
