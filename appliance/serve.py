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
from appliance.service.sdnotify import Notifier, watchdog_interval
from appliance.service.watchdog import should_pet

__all__ = ["serve"]

logger = logging.getLogger(__name__)

#: Seconds between checks of the interface addresses (re-announce when they change).
ADDRESS_CHECK_SECONDS = 30.0
#: Seconds between STATUS= updates to systemd.
STATUS_SECONDS = 5.0


def _announcement(app: Application) -> Any:
    from appliance.discovery.advertiser import Announcement

    cfg = app.config
    status = app.status()
    formats = sorted({t.format for t in cfg.targets}) or ["individual"]
    return Announcement(
        device_name=cfg.device_name,
        osc_port=cfg.osc_control.port,
        oscquery_port=int(app.extra_status.get("oscquery_port", 0)),
        http_port=int(app.extra_status.get("http_port", 0)),
        properties={
            "model": str(status["model"])[:120],
            "backend": str(status["backend"])[:120],
            "formats": ",".join(formats),
            "device": cfg.device_name,
        },
    )


async def _start_oscquery(app: Application, host: str, port: int) -> tuple[Any, asyncio.Task[None]]:
    import uvicorn

    from appliance.discovery.oscquery import create_oscquery_app

    server = uvicorn.Server(
        uvicorn.Config(
            create_oscquery_app(app),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():  # noqa: ASYNC110 - uvicorn exposes only a flag
        await asyncio.sleep(0.02)
    if server.started:
        app.extra_status["oscquery_port"] = server.servers[0].sockets[0].getsockname()[1]
    else:
        app.extra_status["oscquery_error"] = f"cannot listen on {host}:{port}"
    return server, task


async def _start_discovery(app: Application) -> Any:
    from appliance.discovery.advertiser import Advertiser, resolve_interfaces

    addresses = await asyncio.to_thread(resolve_interfaces, app.config.network.interfaces)
    if not addresses:
        app.extra_status["discovery"] = "not advertised: no IPv4 address on the chosen interfaces"
        logger.warning("mDNS: %s", app.extra_status["discovery"])
        return None
    advertiser = Advertiser(addresses)
    try:
        instance = await advertiser.async_start(_announcement(app))
    except OSError as exc:
        app.extra_status["discovery"] = f"not advertised: {exc}"
        logger.error("mDNS: %s", app.extra_status["discovery"])
        await advertiser.async_close()
        return None
    app.extra_status["instance"] = instance
    app.extra_status["discovery"] = f"advertised on {', '.join(addresses)}"
    return advertiser


def _schedule_update(app: Application, advertiser: Any) -> None:
    task = asyncio.get_running_loop().create_task(advertiser.async_update(_announcement(app)))
    _pending.add(task)
    task.add_done_callback(_pending.discard)


_pending: set[asyncio.Task[None]] = set()


async def _check_addresses(app: Application, advertiser: Any) -> None:
    from appliance.discovery.advertiser import resolve_interfaces

    addresses = await asyncio.to_thread(resolve_interfaces, app.config.network.interfaces)
    if addresses and addresses != advertiser.addresses:
        logger.warning("addresses changed to %s: re-announcing", ", ".join(addresses))
        await advertiser.async_update(_announcement(app), addresses)


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
    extra_servers: list[tuple[Any, asyncio.Task[None]]] = []
    advertiser: Any = None
    if control and cfg.network.oscquery_port:
        extra_servers.append(await _start_oscquery(app, cfg.http.bind, cfg.network.oscquery_port))
    if control and cfg.network.discovery:
        advertiser = await _start_discovery(app)
    if advertiser is not None:

        def on_saved(_config: object) -> None:
            loop.call_soon_threadsafe(_schedule_update, app, advertiser)

        app.store.subscribe(on_saved)
    deadline = time.monotonic() + duration if duration else None
    next_address_check = time.monotonic() + ADDRESS_CHECK_SECONDS
    notifier = Notifier()
    interval = watchdog_interval()
    notifier.ready(app.status_line())
    next_pet = next_status = time.monotonic()
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
            now = time.monotonic()
            if interval is not None and now >= next_pet:
                next_pet = now + interval / 2
                if _making_progress(app, now, interval):
                    notifier.watchdog()
            if notifier.enabled and now >= next_status:
                next_status = now + STATUS_SECONDS
                notifier.status(app.status_line())
            if advertiser is not None and time.monotonic() >= next_address_check:
                next_address_check = time.monotonic() + ADDRESS_CHECK_SECONDS
                await _check_addresses(app, advertiser)
    finally:
        notifier.stopping()
        if status_line:
            sys.stderr.write("\n")
        if advertiser is not None:
            await advertiser.async_close()  # goodbyes first: patches forget us before we go
        for extra, task in extra_servers:
            extra.should_exit = True
            await task
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
    notifier.close()
    return True


def _making_progress(app: Application, now: float, interval: float) -> bool:
    runner = app.runner
    if runner is None:
        return should_pet(
            now=now, interval=interval, pipeline_running=False, heartbeat=now, frames_in=0, last_frame=now
        )
    stats = runner.stats()
    return should_pet(
        now=now,
        interval=interval,
        pipeline_running=runner.running,
        heartbeat=runner.heartbeat,
        frames_in=stats.frames_in,
        last_frame=now - stats.seconds_since_frame,
    )
