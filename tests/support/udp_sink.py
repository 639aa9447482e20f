"""``python udp_sink.py PORT FILE``: receive OSC on UDP ``PORT`` (all addresses) and append one JSON
line per message, ``[arrival unix time, address, args]``, to ``FILE`` (flushed per datagram), until
terminated. Run inside a test's network namespace (``tests.support.venue.Sink``)."""

from __future__ import annotations

import json
import socket
import sys
import time

from appliance.output.osc.wire import parse_packet


def main() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    sock.bind(("0.0.0.0", int(sys.argv[1])))
    with open(sys.argv[2], "w") as out:
        while True:
            data, _ = sock.recvfrom(65536)
            now = time.time()
            try:
                messages = parse_packet(data)
            except ValueError:
                continue
            for address, args in messages:
                out.write(json.dumps([now, address, args]) + "\n")
            out.flush()


if __name__ == "__main__":
    main()
