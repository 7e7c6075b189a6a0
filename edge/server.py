"""Running the gateway with its HTTP API in one event loop, until told to stop.

uvicorn serves the FastAPI app on a socket we bind ourselves, so a busy port is a clear start-up error and tests can
ask for port 0. uvicorn's own signal handling is switched off: the CLI owns Ctrl-C and stops everything in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Iterator

import uvicorn

from devices.errors import ConfigError, Problem
from edge.api import create_app
from edge.config import GatewayConfig, exposure
from edge.gateway import Gateway
from rules.clock import Clock

log = logging.getLogger(__name__)


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            "http",
            [Problem("http", f"cannot listen on {host}:{port}: {exc.strerror} (choose another --http HOST:PORT)")],
        ) from None
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def serve(
    cfg: GatewayConfig,
    stop: asyncio.Event,
    *,
    clock: Clock | None = None,
    on_ready: Callable[[Gateway, str], None] | None = None,
) -> int:
    """Run the gateway and its HTTP API until `stop` is set, or until one of its tasks dies (edge.supervisor).
    `on_ready(gateway, base_url)` once serving. Returns the exit code: 0 when stopped, 1 when a task died."""
    sock = bind(cfg.http.host, cfg.http.port)
    host, port = sock.getsockname()[:2]
    async with Gateway(cfg, clock=clock) as gateway:
        app = create_app(gateway)
        auth = app.state.auth
        problems = exposure(cfg, not auth.open)
        if problems:
            auth.close()
            sock.close()
            raise ConfigError("users", problems)
        if auth.open:
            log.warning(
                "no users yet: the API and web UI are open to this machine. Create the first administrator with: "
                "hallops users add NAME --role administrator --db %s",
                cfg.storage.path,
            )
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=2)
        server = _EmbeddedServer(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():  # noqa: ASYNC110 - uvicorn offers no started event
            await asyncio.sleep(0.01)
        url = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
        log.info("http api listening url=%s", url)
        if on_ready is not None:
            on_ready(gateway, url)
        stopper = asyncio.create_task(stop.wait())
        failed = asyncio.create_task(gateway.failed.wait())
        await asyncio.wait({task, stopper, failed}, return_when=asyncio.FIRST_COMPLETED)
        if gateway.fatal is not None:
            log.critical("the gateway stops because a task died (%s); exit 1 so that it is restarted", gateway.fatal)
        failed.cancel()
        gateway.stream.close()  # open pages' live streams end first, so the server's shutdown cancels nothing
        server.should_exit = True
        stopper.cancel()
        await task
        app.state.auth.close()
    sock.close()
    return 1 if gateway.fatal is not None else 0
