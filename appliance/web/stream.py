"""The page's live pose stream: one pose listener per open connection, fed from the "send" thread.

Each connection owns a queue of two on the event loop (the newest frames win: a slow browser
never holds frames back from anyone), fed at most ``MAX_FPS`` times a second: a screen shows no
more, and a box running at 100 fps spends nothing on the frames between (they are dropped on the
"send" thread with one comparison, before any hand-off to the loop). ``end_all`` tells every open
stream to finish, so no connection holds the server up at shutdown.
"""

from __future__ import annotations

import asyncio
import threading
import time

from appliance.types import Poses

__all__ = ["END_OF_STREAM", "MAX_FPS", "PoseStreams", "StreamListener"]

#: Most frames per second one live stream carries.
MAX_FPS = 30.0

#: Put in a stream's queue when it must end.
END_OF_STREAM = Poses(frame_index=-1)


class StreamListener:
    """A pose listener that hands each frame to one connection's queue on its event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_fps: float = MAX_FPS) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[Poses] = asyncio.Queue(maxsize=2)
        self._every = 1.0 / max_fps
        self._next = 0.0

    def on_poses(self, poses: Poses) -> None:
        """Called on the "send" thread: schedule the hand-off (at most ``max_fps`` a second), never wait."""
        now = time.monotonic()
        if now < self._next:
            return
        self._next = max(self._next + self._every, now - self._every)
        self.loop.call_soon_threadsafe(_offer, self.queue, poses)

    def end(self) -> None:
        """Make the connection finish (from any thread)."""
        self.loop.call_soon_threadsafe(_offer, self.queue, END_OF_STREAM)


class PoseStreams:
    """The open streams of one HTTP server."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: set[StreamListener] = set()

    def opened(self, listener: StreamListener) -> None:
        """Track a new connection's listener."""
        with self._lock:
            self._open.add(listener)

    def closed(self, listener: StreamListener) -> None:
        """Forget a finished connection's listener."""
        with self._lock:
            self._open.discard(listener)

    def end_all(self) -> None:
        """Tell every open stream to finish (shutdown)."""
        with self._lock:
            listeners, self._open = list(self._open), set()
        for listener in listeners:
            listener.end()


def _offer(queue: asyncio.Queue[Poses], poses: Poses) -> None:
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(poses)
