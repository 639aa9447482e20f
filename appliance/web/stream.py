"""The page's live pose stream: one pose listener per open connection, fed from the "send" thread.

Each connection owns a queue of two on the event loop (the newest frames win: a slow browser
never holds frames back from anyone), fed at most ``MAX_FPS`` times a second: a screen shows no
more, and a box running at 100 fps spends nothing on the frames between (they are dropped on the
"send" thread with one comparison, before any hand-off to the loop). Each frame is encoded as an
event once, however many streams carry it.

Open streams are bounded: at most ``MAX_STREAMS`` (a quarter of a server's connections, so the
rest always serve ordinary requests) and ``MAX_STREAMS_PER_CLIENT`` per client address. At a bound
the oldest stream (of that client, else of all) is ended for the newcomer: a page reloaded keeps
working, and holding streams open locks nobody out. ``end_all`` tells every open stream to finish,
so no connection holds the server up at shutdown.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import OrderedDict

from appliance.output.posejson import poses_to_json
from appliance.types import Poses
from appliance.web.limits import MAX_CONNECTIONS

__all__ = ["END_OF_STREAM", "MAX_FPS", "MAX_STREAMS", "MAX_STREAMS_PER_CLIENT", "PoseStreams", "StreamListener"]

#: Most frames per second one live stream carries.
MAX_FPS = 30.0
#: Most open streams per HTTP server, and per client address.
MAX_STREAMS, MAX_STREAMS_PER_CLIENT = MAX_CONNECTIONS // 4, 4

#: Put in a stream's queue when it must end.
END_OF_STREAM = Poses(frame_index=-1)


class StreamListener:
    """A pose listener that hands each frame to one connection's queue on its event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_fps: float = MAX_FPS) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[Poses] = asyncio.Queue(maxsize=2)
        self._every = 1.0 / max_fps
        self._next = 0.0
        self._ended = False

    def on_poses(self, poses: Poses) -> None:
        """Called on the "send" thread: schedule the hand-off (at most ``max_fps`` a second), never wait."""
        now = time.monotonic()
        if now < self._next or self._ended:
            return
        self._next = max(self._next + self._every, now - self._every)
        self.loop.call_soon_threadsafe(_offer, self.queue, poses)

    def end(self) -> None:
        """Make the connection finish (from any thread): no frame is handed over after this, and the
        end is never dropped for a newer frame."""
        self._ended = True
        self.loop.call_soon_threadsafe(_offer, self.queue, END_OF_STREAM)


class PoseStreams:
    """The open streams of one HTTP server, oldest first, with the client address of each."""

    def __init__(self, max_streams: int = MAX_STREAMS, max_per_client: int = MAX_STREAMS_PER_CLIENT) -> None:
        self.max_streams, self.max_per_client = max_streams, max_per_client
        self._lock = threading.Lock()
        self._open: OrderedDict[StreamListener, str] = OrderedDict()
        self._event: tuple[Poses | None, bytes] = (None, b"")
        self.evicted = 0  # streams ended for a newcomer

    def __len__(self) -> int:
        return len(self._open)

    def opened(self, listener: StreamListener, client: str = "") -> None:
        """Track a new connection's listener; at a bound, end the oldest stream (of ``client`` when
        it has ``max_per_client``, else of all)."""
        with self._lock:
            mine = [other for other, who in self._open.items() if who == client]
            victim = None
            if len(mine) >= self.max_per_client:
                victim = mine[0]
            elif len(self._open) >= self.max_streams:
                victim = next(iter(self._open))
            if victim is not None:
                del self._open[victim]
                self.evicted += 1
            self._open[listener] = client
        if victim is not None:
            victim.end()

    def closed(self, listener: StreamListener) -> None:
        """Forget a finished connection's listener."""
        with self._lock:
            self._open.pop(listener, None)

    def end_all(self) -> None:
        """Tell every open stream to finish (shutdown)."""
        with self._lock:
            listeners, self._open = list(self._open), OrderedDict()
        for listener in listeners:
            listener.end()

    def event(self, poses: Poses) -> bytes:
        """``poses`` as one server-sent event (``poses_to_json``), encoded once per frame however many
        streams carry it (call on the event loop)."""
        last, data = self._event
        if last is not poses:
            body = json.dumps(poses_to_json(poses), separators=(",", ":")).encode()
            data = b"data: " + body + b"\n\n"
            self._event = (poses, data)
        return data


def _offer(queue: asyncio.Queue[Poses], poses: Poses) -> None:
    """Put ``poses`` in ``queue``, dropping the oldest frame when it is full (never the end)."""
    if queue.full():
        oldest = queue.get_nowait()
        if oldest is END_OF_STREAM:  # a frame handed over before the end: the end stays
            queue.put_nowait(oldest)
            return
    queue.put_nowait(poses)
