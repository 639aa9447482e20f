"""The appliance's main loop: data plane threads plus the control plane on one asyncio loop.

Startup: configuration -> targets -> backend -> source -> pipeline -> OSC control -> HTTP.
Shutdown (SIGTERM/SIGINT or a duration) reverses it: HTTP -> control port -> pipeline -> targets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from typing import Any

from appliance.app import Application

__all__ = ["serve"]

logger = logging.getLogger(__name__)


async def serve(app: Application, *, duration: float = 0.0, status_line: bool = False, control: bool = True) -> bool:
    """Run until a signal (or ``duration`` seconds); returns whether everything stopped cleanly."""
    import uvicorn

    from appliance.transport.control import start_control
    from appliance.web.server import create_app

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await asyncio.to_thread(app.start)
    cfg = app.config
    control_transport: Any = None
    control_protocol: Any = None
    server: Any = None
    serve_task: asyncio.Task[None] | None = None
    if control and cfg.osc_control.port:
        try:
            control_transport, control_protocol = await start_control(app, "0.0.0.0", cfg.osc_control.port)
            app.extra_status["osc_control_port"] = cfg.osc_control.port
        except OSError as exc:
            app.extra_status["osc_control_error"] = str(exc)
            logger.error("OSC control port %d unavailable: %s", cfg.osc_control.port, exc)
    if control:
        config = uvicorn.Config(
            create_app(app),
            host=cfg.http.bind,
            port=cfg.http.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        serve_task = asyncio.create_task(server.serve())
        while not server.started and not serve_task.done():  # noqa: ASYNC110 - uvicorn exposes only a flag
            await asyncio.sleep(0.02)
        if server.started:
            port = server.servers[0].sockets[0].getsockname()[1]
            app.extra_status["http_port"] = port
            logger.warning("web page and API on http://%s:%d/", cfg.http.bind, port)
        else:
            app.extra_status["http_error"] = f"cannot listen on {cfg.http.bind}:{cfg.http.port}"
            logger.error("HTTP server did not start on %s:%d", cfg.http.bind, cfg.http.port)
    deadline = time.monotonic() + duration if duration else None
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
            if status_line:
                sys.stderr.write("\r" + app.status_line()[:150].ljust(150))
                sys.stderr.flush()
            if deadline is not None and time.monotonic() >= deadline:
                break
            if serve_task is not None and serve_task.done():
                break  # uvicorn saw the signal first
    finally:
        if status_line:
            sys.stderr.write("\n")
        if server is not None and serve_task is not None:
            app.end_streams()
            await asyncio.sleep(0.05)  # let open streams send their end
            server.should_exit = True
            await serve_task
        if control_transport is not None:
            control_transport.close()
            await control_protocol.drain()
        final = app.status_line()
        await asyncio.to_thread(app.stop)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    logger.warning("stopped: %s", final)
    return True
