"""The fleet fetcher trusts nothing: ``get_json`` against hostile servers on loopback (one bounded
HTTP/1.1 GET: no redirect followed, sizes and time capped), ``read_status`` against wrong types,
and ``Fleet`` itself inside a private network namespace (tests/web/fleet_cases.py): deduplicated,
backing off, closing at once, boxes listed first, bounded."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from appliance.web.fleet import DEADLINE, MAX_BODY, MAX_ENTRIES, FetchError, PeerStatus, get_json, read_status

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CONFLICT = "conflicting content-length headers"
CHUNK = b"4000\r\n" + b" " * 16384 + b"\r\n"
Answer = Callable[[asyncio.StreamWriter, int], Awaitable[None]]  # (writer, the other listener's port)


def _fetch(answer: Answer, deadline: float = DEADLINE) -> tuple[Any, float, dict[str, int]]:
    """Serve ``answer`` on a loopback port and GET it; returns (document or exception, seconds,
    counts of connections to the server and to another listener a redirect points at)."""
    counts = {"server": 0, "elsewhere": 0}

    async def main() -> tuple[Any, float]:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            counts["server"] += 1
            try:
                await reader.readuntil(b"\r\n\r\n")
                await answer(writer, other.sockets[0].getsockname()[1])
                await writer.drain()
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()

        async def elsewhere(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            counts["elsewhere"] += 1
            writer.close()

        other = await asyncio.start_server(elsewhere, "127.0.0.1", 0)
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        t0 = time.monotonic()
        try:
            async with asyncio.timeout(deadline):
                got: Any = await get_json("127.0.0.1", port)
        except (FetchError, TimeoutError, OSError) as exc:
            got = exc
        took = time.monotonic() - t0
        await asyncio.sleep(0.05)
        server.close()
        other.close()
        return got, took

    got, took = asyncio.run(main())
    return got, took, counts


def _send(data: bytes) -> Answer:
    async def answer(writer: asyncio.StreamWriter, other: int) -> None:
        writer.write(data.replace(b"OTHER", b"%d" % other))

    return answer


def _stream(head: bytes, piece: bytes) -> Answer:
    async def answer(writer: asyncio.StreamWriter, _other: int) -> None:
        writer.write(head)
        for _ in range(10_000):  # 160 MB at most: the reader hangs up long before
            writer.write(piece)
            await writer.drain()

    return answer


def test_a_status_document_is_read() -> None:
    body = json.dumps({"state": "running"}).encode()
    got, _, counts = _fetch(_send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)))
    assert got == {"state": "running"} and counts["server"] == 1
    chunked = b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"a":\r\n2;x=y\r\n 1\r\n1\r\n}\r\n0\r\n\r\n'
    assert _fetch(_send(chunked))[0] == {"a": 1}
    assert _fetch(_send(b"HTTP/1.0 200 OK\r\n\r\n[1, 2]"))[0] == [1, 2]  # to the end of the connection


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_redirects_are_errors_never_followed(code: int) -> None:
    got, _, counts = _fetch(
        _send(b"HTTP/1.1 %d X\r\nLocation: http://127.0.0.1:OTHER/\r\nContent-Length: 0\r\n\r\n" % code)
    )
    assert isinstance(got, FetchError) and str(got) == f"redirect ({code}) not followed"
    assert counts == {"server": 1, "elsewhere": 0}


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (_send(b"HTTP/1.1 500 Oops\r\nContent-Length: 2\r\n\r\n{}"), "HTTP 500"),
        (_send(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{'a': 1}x"), "not JSON"),
        (_send(b"HTTP/1.1 200 OK\r\n\r\n" + b"[" * 50_000 + b"]" * 50_000), "body over 64 KiB"),
        (_send(b"HTTP/1.1 200 OK\r\n\r\n" + b"[" * 30_000 + b"]" * 30_000), "not JSON"),  # too deep
        (_send(b"SSH-2.0-OpenSSH_9.2\r\n\r\n"), "not an HTTP/1.x answer"),
        (_send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}"), CONFLICT),
        (_send(b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n{}"), "malformed content-length"),
        (_send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n{}"), "transfer-encoding 'gzip' not supported"),
        (_send(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}"), "closed within the body"),
        (_send(b"HTTP/1.1 200 OK\r\nContent-Le"), "closed within the headers"),
        (_send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), "malformed chunk size"),
        (_stream(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n", b" " * 16384), "body over 64 KiB"),
        (_stream(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", CHUNK), "body over 64 KiB"),
        (_stream(b"HTTP/1.1 200 OK\r\n\r\n", b" " * 16384), "body over 64 KiB"),
        (_stream(b"HTTP/1.1 200 OK\r\n", b"X-A: " + b"a" * 1000 + b"\r\n"), "headers over 8 KiB"),
    ],
)  # fmt: skip
def test_hostile_answers_are_one_line_errors_in_bounded_time_and_memory(answer: Answer, error: str) -> None:
    got, took, _ = _fetch(answer)
    assert isinstance(got, FetchError) and str(got) == error, got
    assert took < DEADLINE  # no hostile answer needs the deadline


def test_no_thread_is_used() -> None:
    """The GET needs no executor (an IP literal is not resolved): a loop whose executor refuses
    every job still fetches."""

    class NoThreads(concurrent.futures.ThreadPoolExecutor):
        def submit(self, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError("the default executor was used")

    async def main() -> Any:
        asyncio.get_running_loop().set_default_executor(NoThreads())

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
            writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        try:
            return await get_json("127.0.0.1", server.sockets[0].getsockname()[1])
        finally:
            server.close()

    assert asyncio.run(main()) == {}


def test_a_trickling_peer_ends_at_the_deadline() -> None:
    async def trickle(writer: asyncio.StreamWriter, _other: int) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}":
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.2)

    got, took, _ = _fetch(trickle, deadline=1.0)
    assert isinstance(got, TimeoutError) and 0.9 <= took < 3.0, (got, took)
    assert MAX_BODY == 64 * 1024


def test_every_field_is_type_checked_and_cut() -> None:
    box = {
        "state": "running",
        "version": "1.2",
        "backend": "cpu",
        "uptime_s": 4,
        "pipeline": {"fps": 29.97, "people": 3},
    }
    assert read_status(box) == PeerStatus(True, "", "running", "1.2", "cpu", 29.97, 3)
    assert read_status({"pipeline": [1, 2]}) == PeerStatus(False)
    assert read_status([1, 2]) == read_status("x") == read_status(None) == PeerStatus(False)
    wrong = {
        "state": 5,
        "version": ["x"],
        "backend": {},
        "uptime_s": "1",
        "instance": 7,
        "pipeline": {"fps": "NaN", "people": True},
    }
    assert read_status(wrong) == PeerStatus(False)
    odd = {**box, "uptime_s": float("nan"), "pipeline": {"fps": float("inf"), "people": -1}}
    assert read_status(odd) == PeerStatus(False, "", "running", "1.2", "cpu", None, None)
    long = read_status({**box, "state": "s" * 10_000, "backend": "\x1b[2J" * 100, "instance": "i" * 100})
    assert long.box and long.state == "s" * 40 and long.instance == "i" * 63 and long.backend == "\ufffd[2J" * 30
    assert read_status({**box, "pipeline": {"fps": 10**9, "people": 10**9}}).fps is None  # out of range
    assert read_status({**box, "state": ""}).box is False


def _case(name: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        ["unshare", "--net", sys.executable, str(HERE / "fleet_cases.py"), name],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def test_one_request_per_peer_however_many_names_and_pages() -> None:
    result = _case("dedupe")
    assert result["connections"] == 1 and result["states"] == ["running"], result
    assert result["sizes"] == [20] * 5 and result["verified"] and result["connections_after_again"] == 1


def test_failures_back_off() -> None:
    result = _case("backoff")
    first, second, third = result["times"][:3]
    assert first < 0.5 and 0.35 <= second - first < 1.2 and 0.75 <= third - second < 2.0, result  # 0.4 s, then 0.8 s
    assert result["last"]["state"] == "unknown" and result["last"]["error"] == "HTTP 500"


def test_close_cancels_fetches_at_once() -> None:
    result = _case("close")
    assert result["close_s"] < 0.5 and result["entries_done_s"] < 0.5, result
    assert result["connection_closed_s"] is not None and result["connection_closed_s"] < 1.0, result  # < DEADLINE
    assert result["connections_after"] == 1 and result["later_state"] == "checking"


def test_discovery_closing_ends_the_wait_and_the_fetches() -> None:
    result = _case("discovery_closed")
    assert result["entries"] == [] and result["entries_s"] < 1.0, result  # < WAIT
    assert result["connections_closed_s"] is not None and result["connections_closed_s"] < 1.0, result


def test_the_box_is_listed_first_among_300_fakes() -> None:
    result = _case("ranking")
    assert result["first_name"] == "zz-real" and result["first_verified"] and result["others_verified"] == 0
    assert result["count"] == MAX_ENTRIES and result["bytes"] < 64 * 1024 and result["first_s"] < DEADLINE + 1.0
    assert result["box_connections"] == 1 and result["garbage_connections"] == 100, result


def test_a_box_that_stops_answering_stays_among_the_boxes() -> None:
    result = _case("box_goes_away")
    assert [e["name"] for e in result["before"]] == ["gone", "aa-fake"] and result["before"][0]["state"] == "running"
    gone = result["after"][0]
    assert gone["name"] == "gone" and gone["verified"] and gone["state"] == "unknown" and gone["error"] == "HTTP 500"
