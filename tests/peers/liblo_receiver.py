"""Test peer: a liblo receiver (pyliblo3), which holds a bundle until its time tag, as SuperCollider
does. For SECONDS, records when each /posenet/frame is dispatched (this machine's clock) and the
capture time the frame carries (the sender's clock); prints one JSON line of (dispatched, captured).
usage: liblo_receiver.py PORT SECONDS
"""

import json
import sys
import time

import pyliblo3 as liblo

port, seconds = int(sys.argv[1]), float(sys.argv[2])
server = liblo.Server(port)
seen: list[tuple[float, float]] = []


def on_frame(path: str, args: list, types: str, src: object) -> None:
    seen.append((time.time(), args[4] + args[5] / 1e6))


server.add_method("/posenet/frame", None, on_frame)
server.add_method(None, None, lambda *a: None)
print("READY", flush=True)
end = time.time() + seconds
while time.time() < end:
    server.recv(50)
print(json.dumps(seen), flush=True)
