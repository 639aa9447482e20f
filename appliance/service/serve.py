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
from appliance.service.components import (
    Component,
    ControlPortComponent,
    DiscoveryComponent,
    HttpComponent,
    OscQueryComponent,
    PipelineComponent,
)
from appliance.service.lastgood import RunRecord
from appliance.service.looplag import LoopLag
from appliance.service.sdnotify import Notifier
from appliance.service.watchdog import supervise

__all__ = ["serve"]

logger = logging.getLogger(__name__)


def components(app: Application, control: bool) -> list[Component]:
    """What to run for this configuration, in start order."""
    cfg = app.config
    out: list[Component] = [PipelineComponent(app)]
    if not control:
        return out
    if cfg.osc_control.port:
        out.append(ControlPortComponent(app, "0.0.0.0", cfg.osc_control.port))
    out.append(HttpComponent(app, cfg.http.bind, cfg.http.port))
    if cfg.network.oscquery_port:
        out.append(OscQueryComponent(app, cfg.http.bind, cfg.network.oscquery_port))
    if cfg.network.discovery:
        out.append(DiscoveryComponent(app))
    return out


async def serve(app: Application, *, duration: float = 0.0, status_line: bool = False, control: bool = True) -> bool:
    """Run until a signal (or ``duration`` seconds); returns whether everything stopped cleanly."""
    from appliance.web.limits import AcceptErrorLog

    loop = asyncio.get_running_loop()
    loop.set_exception_handler(AcceptErrorLog())
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    notifier = Notifier()
    record = RunRecord(app.store)
    final = ""
    try:
        async with contextlib.AsyncExitStack() as stack:
            record.begin()
            app.on_change(lambda _config: record.begin())  # a new configuration's trial starts
            parts = components(app, control)
            for part in parts:
                await part.start()
                stack.push_async_callback(part.close)
            lag = LoopLag()  # the event loop's lag once started (start-up imports are not stalls)
            app.loop_lag = lag.worst_ms
            lag.start()
            stack.push_async_callback(lag.stop)
            stack.callback(notifier.stopping)  # the first thing shutdown does
            http = next((p for p in parts if isinstance(p, HttpComponent)), None)
            await supervise(
                app,
                notifier,
                stop,
                duration=duration,
                status_line=status_line,
                server_stopped=(lambda: http.stopped) if http is not None else None,
                record=record,
            )
            final = app.status_line()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    record.end()  # a clean stop: nothing for the next start to hold against these settings
    logger.warning("stopped: %s", final)
    notifier.close()
    return True
