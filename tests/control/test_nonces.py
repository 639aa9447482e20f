"""Confirmation nonces: the request travels in the nonce, bound to the stream host by a MAC, valid
for CONFIRM_SECONDS, used once; and the record of where confirmations went."""

from __future__ import annotations

from appliance.control.nonces import CONFIRM_SECONDS, KEEP, NORMALIZED, NonceCodec, Op, Outstanding, Request

HOST = "10.0.0.7"


def test_a_nonce_carries_its_request_and_opens_only_for_its_host() -> None:
    codec = NonceCodec()
    request = Request(Op.ADD, 9000, 51234, 3, NORMALIZED | KEEP)
    nonce = codec.encode(request, HOST, 100.0)
    opened = codec.open(nonce, HOST, 101.0)
    assert opened is not None and (opened.op, opened.stream_port, opened.sender_port) == (Op.ADD, 9000, 51234)
    assert (opened.format, opened.flags) == (3, NORMALIZED | KEEP)
    assert codec.open(nonce, "10.0.0.8", 101.0) is None  # from another host
    assert NonceCodec().open(nonce, HOST, 101.0) is None  # another process (another secret)
    # A symbol in Pd and Max: starts with a letter, hex only; and each one differs.
    assert nonce[0] == "n" and set(nonce[1:]) <= set("0123456789abcdef")
    assert codec.encode(request, HOST, 100.0) != nonce


def test_a_changed_character_or_a_garbled_nonce_opens_nothing() -> None:
    codec = NonceCodec()
    nonce = codec.encode(Request(Op.REMOVE, 9000, 9001), HOST, 0.0)
    for i in range(1, len(nonce)):
        flipped = nonce[:i] + ("0" if nonce[i] != "0" else "1") + nonce[i + 1 :]
        assert codec.open(flipped, HOST, 1.0) is None, i
    for garbage in ("", "n", "x" + nonce[1:], nonce + "00", "n" + "zz" * 22, nonce.upper()):
        assert codec.open(garbage, HOST, 1.0) is None


def test_a_nonce_expires_and_is_used_once() -> None:
    codec = NonceCodec()
    request = Request(Op.FORMAT, 9000, 9001, 1)
    nonce = codec.encode(request, HOST, 50.0)
    assert codec.open(nonce, HOST, 50.0 + CONFIRM_SECONDS + 1.01) is None
    opened = codec.open(nonce, HOST, 55.0)
    assert opened is not None and codec.use(nonce, opened, 55.0)
    assert codec.open(nonce, HOST, 55.0) is None


def test_used_nonces_are_bounded_and_forgotten_when_expired() -> None:
    codec = NonceCodec(used=3)
    nonces = [codec.encode(Request(Op.ADD, 9000 + i, 1), HOST, 0.0) for i in range(4)]
    for nonce in nonces[:3]:
        opened = codec.open(nonce, HOST, 1.0)
        assert opened is not None and codec.use(nonce, opened, 1.0)
    opened = codec.open(nonces[3], HOST, 1.0)
    assert opened is not None and not codec.use(nonces[3], opened, 1.0)  # full: refused, never replayable
    later = codec.encode(Request(Op.ADD, 9100, 1), HOST, 20.0)
    opened = codec.open(later, HOST, 20.0)
    assert opened is not None and codec.use(later, opened, 20.0)  # the expired ones were forgotten


def test_one_confirmation_per_address_per_window_until_answered() -> None:
    out = Outstanding(seconds=10.0, size=2)
    assert out.wait((HOST, 9000), 0.0) == 0
    out.sent((HOST, 9000), 0.0)
    assert out.wait((HOST, 9000), 3.0) == 7.0 and out.wait((HOST, 9001), 3.0) == 0
    assert out.wait((HOST, 9000), 10.0) == 0  # the window is over
    out.answered((HOST, 9000))
    out.sent((HOST, 9000), 11.0)
    out.answered((HOST, 9000))
    assert out.wait((HOST, 9000), 11.0) == 0  # answered: the next may go at once
    for port in (1, 2, 3):
        out.sent((HOST, port), 12.0)
    assert out.wait((HOST, 1), 12.0) == 0 and out.suppressed == 1  # bounded: the oldest forgotten
