"""The Max example patches cannot run here (no Max); check they are valid patcher files that use
the right objects and messages, so a user opening them gets a working patch."""

from __future__ import annotations

import json
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
    sender = next(i for i, b in boxes.items() if b.get("text", "").startswith("udpsend"))
    links = {(ln["patchline"]["source"][0], ln["patchline"]["destination"][0]) for ln in patcher["lines"]}
    assert (route, echo) in links and (echo, sender) in links
    assert "metro 20000" in texts
    # The subscribe key (when the owner set one) goes last in add; the access token never travels.
    assert any("subscribe key" in t and "never the access token" in t for t in texts)
    assert not any("<token>" in t for t in texts)
    assert any(t.startswith("udpsend") for t in texts)
    if "zero" in name:
        assert "zero.browse _osc._udp" in texts and "zero.resolve" in texts
