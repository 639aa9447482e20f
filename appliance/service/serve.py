"""The appliance's main coroutine: the components composed, then supervised until a signal.

Startup: pipeline (configuration -> targets -> backend -> source) -> OSC control port -> HTTP ->
OSCQuery -> discovery -> READY. Shutdown (SIGTERM/SIGINT, or a duration) is the reverse, by
construction of the ``AsyncExitStack``: goodbyes first, the pipeline last.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from appliance.core.app import Application
from appliance.service.components import PipelineComponent
from appliance.service.lastgood import RunRecord
from appliance.service.looplag import LoopLag
from appliance.service.registry import ServerRegistry
from appliance.service.sdnotify import Notifier
from appliance.service.servers import ControlPlane
from appliance.service.watchdog import supervise
from appliance.update.health import UpdateHealth

__all__ = ["serve"]

logger = logging.getLogger(__name__)


async def serve(app: Application, *, duration: float = 0.0, status_line: bool = False, control: bool = True) -> None:
    """Run until a signal (or ``duration`` seconds), then stop everything in reverse order. A part
    that fails is reported in the status while the rest runs on; nothing is returned."""
    from appliance.web.limits import AcceptErrorLog

    loop = asyncio.get_running_loop()
    loop.set_exception_handler(AcceptErrorLog())
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    notifier = Notifier()
    record = RunRecord(app.store)
    registry = ServerRegistry()
    app.attach(registry)
    final = ""
    try:
        async with contextlib.AsyncExitStack() as stack:
            record.begin()
            app.on_change(lambda _config: record.begin())  # a new configuration's trial starts
            plane = ControlPlane(app, registry) if control else None
            if plane is not None:
                plane.prepare()
            pipeline = PipelineComponent(app)
            await pipeline.start()
            stack.push_async_callback(pipeline.close)
            if plane is not None:
                await plane.start()
                stack.push_async_callback(plane.close)
            lag = LoopLag()  # the event loop's lag once started (start-up imports are not stalls)
            app.loop_lag = lag.worst_ms
            lag.start()
            stack.push_async_callback(lag.stop)
            stack.callback(notifier.stopping)  # the first thing shutdown does

            def http_stopped() -> bool:
                http = plane.http if plane is not None else None
                return http is not None and http.stopped

            await supervise(
                app,
                notifier,
                stop,
                duration=duration,
                status_line=status_line,
                server_stopped=http_stopped if plane is not None else None,
                record=record,
                registry=registry,
                update=UpdateHealth(app.store.path.parent) if control else None,
            )
            final = app.status_line()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    record.end()  # a clean stop: nothing for the next start to hold against these settings
    logger.warning("stopped: %s", final)
    notifier.close()
