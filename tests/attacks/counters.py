"""Test peer: TCP listeners that count every connection (one line per connection in LOG) and answer
like a loopback-only service would, with a status document marked ``SECRET``.
usage: counters.py LOG HOST:PORT...
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

LOG = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
SECRET = json.dumps({"state": "SECRET", "version": "x", "backend": "loopback-only", "uptime_s": 1.0}).encode()


def _handler(where: str):  # type: ignore[no-untyped-def]
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        os.write(LOG, (where + "\n").encode())
        try:
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(SECRET)
            )
            writer.write(SECRET)
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        finally:
            writer.close()

    return serve


async def main() -> None:
    for spec in sys.argv[2:]:
        host, port = spec.rsplit(":", 1)
        await asyncio.start_server(_handler(spec), host, int(port))
    print("listening", flush=True)
    await asyncio.Event().wait()


asyncio.run(main())
