"""Running the gateway with its HTTP API in one event loop, until told to stop; and what the HTTP server allows a
caller before any route runs (edge/api/guard.py bounds request bodies).

uvicorn serves the FastAPI app on a socket we bind ourselves, so a busy port is a clear start-up error and tests can
ask for port 0. It listens only once the gateway is restored and the app serves: while the hall is restored (seconds;
longer behind a long log to replay) a caller is refused at once, not left waiting on a connection nobody answers.
uvicorn's own signal handling is switched off: the CLI owns Ctrl-C and stops everything in order.

uvicorn limits nothing by itself: 1,050 idle connections exhausted the process's 1,024 files and took the API down.
- Connections: at most `http.max_connections` open, and `http.max_connections_per_client` from one address (not
  from a trusted proxy, through which everyone comes). At the total limit a new connection closes the one that has
  waited longest without sending a request, so that idle connections cannot keep callers out; when every connection
  is busy with a request, the new one is closed at once.
- A connection must send a whole request head within `http.header_timeout_s` (of connecting, or of its next request's
  first byte) and in at most MAX_HEAD_BYTES, or it is closed; between requests uvicorn's keep-alive timeout applies.
  Its body must then arrive within `http.body_timeout_s` (408 and closed): the body is read before sign-in, so a
  caller without credentials could otherwise hold a connection for ever by sending it a byte at a time. At the total
  limit, a connection waiting for the rest of a body makes room as an idle one does.
- Files: `serve` raises the process's soft open-file limit to its hard limit, and refuses to start when
  `http.max_connections` is more than half of it (the database, the broker and the live streams need files too).
  Should files run out all the same, `Listener` drops the connection it cannot accept, where asyncio would log a
  traceback and retry for each connection waiting (about 12,000 lines a second).
- Proxies: X-Forwarded-For and X-Forwarded-Proto are believed only from `http.trusted_proxies` (uvicorn believes
  them from loopback unless told otherwise).
Each kind of refusal is logged at most once per LOG_EVERY_S, with how many there were (`Tally`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import math
import os
import resource
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from devices.errors import ConfigError, Problem
from edge.api import create_app
from edge.config import GatewayConfig, HttpSection, exposure
from edge.gateway import Gateway
from rules.clock import Clock

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 64 * 1024  # a request line and headers (a browser's are about 2 KiB); more is answered 431
LOG_EVERY_S = 10.0
REFUSED = "HTTP connections refused or closed at the limits"
TOO_LARGE = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class Tally:
    """Counts events of one kind and says when to log them: the first at once, then at most once per `every_s`
    with how many there were since (the rest of a flood is counted, not logged)."""

    def __init__(self, every_s: float = LOG_EVERY_S) -> None:
        self.every_s = every_s
        self._count = 0
        self._logged_at = -math.inf

    def add(self, now: float) -> int:
        """Count one at `now` (seconds); the number to log now, this one included, or 0 to keep quiet."""
        self._count += 1
        if now - self._logged_at < self.every_s:
            return 0
        count, self._count, self._logged_at = self._count, 0, now
        return count


class Listener(socket.socket):
    """The listening socket. When the process has no file left for a new connection, `accept` drops that connection
    (it closes a spare file to make room, accepts, closes, and takes the spare again) and says so in the log at most
    once per LOG_EVERY_S. asyncio 3.11 would log a traceback and schedule a retry for every connection waiting in the
    backlog, again and again, while the connections stay queued."""

    def __init__(self, family: socket.AddressFamily, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(family, socket.SOCK_STREAM)
        self.clock = clock
        self.dropped = Tally()
        self._spare: int | None = _spare()

    def accept(self) -> tuple[socket.socket, Any]:
        try:
            return super().accept()
        except OSError as exc:
            if exc.errno not in (errno.EMFILE, errno.ENFILE):
                raise
            self._drop()
            count = self.dropped.add(self.clock())
            if count:
                log.error(
                    "out of open files: %d HTTP connection(s) dropped in the last %.0f s (raise LimitNOFILE= or "
                    "lower http.max_connections)",
                    count,
                    self.dropped.every_s,
                )
            raise ConnectionAbortedError(exc.errno, "dropped: out of open files") from None  # asyncio: stop for now

    def _drop(self) -> None:
        if self._spare is None:
            return
        os.close(self._spare)
        try:
            conn, _ = super().accept()
            conn.close()
        except OSError:
            pass  # gone already, or another thread took the file
        finally:
            self._spare = _spare()

    def close(self) -> None:
        if self._spare is not None:
            os.close(self._spare)
            self._spare = None
        super().close()


def _spare() -> int | None:
    try:
        return os.open(os.devnull, os.O_RDONLY)
    except OSError:
        return None


def bind(host: str, port: int) -> Listener:
    sock = Listener(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            "http",
            [Problem("http", f"cannot listen on {host}:{port}: {exc.strerror} (choose another --http HOST:PORT)")],
        ) from None
    sock.setblocking(False)  # bound, not listening: uvicorn's server listens when it starts serving
    return sock


def open_files_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit (systemd starts services at 1,024 with a
    hard limit far above); the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if resource.RLIM_INFINITY not in (soft, hard) and soft < hard:
        with contextlib.suppress(ValueError, OSError):  # not allowed here: keep what we have
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def check_connections(http: HttpSection, files: int) -> None:
    """http.max_connections must leave half of the process's files to the rest of the gateway."""
    if files != resource.RLIM_INFINITY and http.max_connections > files // 2:
        raise ConfigError(
            "http",
            [
                Problem(
                    "http.max_connections",
                    f"{http.max_connections} is more than half of the {files} files this process may open: lower "
                    "it, or raise the limit (LimitNOFILE= in the systemd unit)",
                )
            ],
        )


@dataclass(slots=True)
class _Limits:
    """What the connections of one server share: the settings, the proxies, the counts of what was refused."""

    http: HttpSection
    proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    refused: Tally = field(default_factory=Tally)
    slow: Tally = field(default_factory=Tally)

    def proxy(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.proxies)


class _Config(uvicorn.Config):
    def __init__(self, app: Callable[..., Any], http: HttpSection) -> None:
        proxies = tuple(ipaddress.ip_network(p, strict=False) for p in http.trusted_proxies)
        super().__init__(
            app,
            http=_Connection,
            proxy_headers=bool(proxies),
            forwarded_allow_ips=[str(p) for p in proxies] or None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
            backlog=128,  # asyncio accepts up to this many at once, each a file before the limits close it
        )
        self.limits = _Limits(http, proxies)


class _Connection(HttpToolsProtocol):
    """One HTTP connection under the limits of the module docstring."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        assert isinstance(config, _Config)
        self.limits = config.limits
        self.waiting_since: float | None = None  # loop time since it waits for a request head; None: it has one
        self.head_bytes = 0
        self.head_timer: asyncio.TimerHandle | None = None
        self.body_since: float | None = None  # loop time since its request's body is awaited; None: not receiving one
        self.body_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.waiting_since = self.loop.time()
        refusal = self._refusal()
        if refusal is not None:
            self._tell(self.limits.refused, logging.WARNING, REFUSED, refusal)
            transport.close()
            return
        self._time_head()

    def _refusal(self) -> str | None:
        """Why this new connection may not stay, if it may not; at the total limit it may close a waiting one."""
        http = self.limits.http
        others = [
            c for c in self.connections if isinstance(c, _Connection) and c is not self and not c.transport.is_closing()
        ]
        host = self.client[0] if self.client else ""
        if not self.limits.proxy(host):
            same = sum(1 for c in others if c.client is not None and c.client[0] == host)
            if same >= http.max_connections_per_client:
                return f"{host} has http.max_connections_per_client ({http.max_connections_per_client}) open"
        if len(others) < http.max_connections:
            return None
        # waiting for a request head, or for the rest of a body: a slow sender holds no place a caller needs
        waiting = [c for c in others if c.stalled_since() is not None]
        if not waiting:
            return f"http.max_connections ({http.max_connections}) are all busy with requests"
        min(waiting, key=lambda c: c.stalled_since() or 0.0).transport.close()
        made_room = f"at http.max_connections ({http.max_connections}) the longest waiting one made room"
        self._tell(self.limits.refused, logging.WARNING, REFUSED, made_room)
        return None

    def stalled_since(self) -> float | None:
        """Since when it waits for its caller (a request head, or the rest of a body); None while it works."""
        return self.waiting_since if self.waiting_since is not None else self.body_since

    def _tell(self, tally: Tally, level: int, what: str, latest: str) -> None:
        count = tally.add(self.loop.time())
        if count:
            log.log(level, "%s: %d in the last %.0f s (latest: %s)", what, count, tally.every_s, latest)

    def _time_head(self) -> None:
        if self.head_timer is None:
            self.head_timer = self.loop.call_later(self.limits.http.header_timeout_s, self._head_late)

    def _head_late(self) -> None:
        self.head_timer = None
        if self.waiting_since is not None and not self.transport.is_closing():
            latest = f"{self.client[0] if self.client else '?'}, after http.header_timeout_s"
            self._tell(self.limits.slow, logging.DEBUG, "HTTP connections closed without a request head", latest)
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.waiting_since is not None:
            self.head_bytes += len(data)
        super().data_received(data)
        if self.waiting_since is not None and self.head_bytes > MAX_HEAD_BYTES and not self.transport.is_closing():
            self.transport.write(TOO_LARGE)
            self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._time_head()  # a kept-alive connection's next request: from its first byte

    def on_headers_complete(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None
        # how long it has held its place counts from its request's start, not from its head's end
        self.body_since = self.waiting_since if self.waiting_since is not None else self.loop.time()
        self.waiting_since = None
        self.head_bytes = 0
        self.body_timer = self.loop.call_later(self.limits.http.body_timeout_s, self._body_late)
        super().on_headers_complete()

    def _body_late(self) -> None:
        self.body_timer = None
        if self.body_since is not None and not self.transport.is_closing():
            latest = f"{self.client[0] if self.client else '?'}, after http.body_timeout_s"
            self._tell(self.limits.slow, logging.INFO, "HTTP connections closed in the middle of a body", latest)
            self.transport.write(TIMED_OUT)
            self.transport.close()

    def on_message_complete(self) -> None:
        self._body_done()
        super().on_message_complete()

    def _body_done(self) -> None:
        self.body_since = None
        if self.body_timer is not None:
            self.body_timer.cancel()
            self.body_timer = None

    def on_response_complete(self) -> None:
        pipelined = bool(self.pipeline)  # a request already in hand starts now
        super().on_response_complete()
        if not pipelined:
            self.waiting_since = self.loop.time()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None
        self._body_done()
        super().connection_lost(exc)


class _EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def http_server(app: Callable[..., Any], http: HttpSection) -> uvicorn.Server:
    """uvicorn for `app` with the limits of `http` (the module docstring); serve it with `serve(sockets=[bind(…)])`."""
    return _EmbeddedServer(_Config(app, http))


async def serve(
    cfg: GatewayConfig,
    stop: asyncio.Event,
    *,
    clock: Clock | None = None,
    on_ready: Callable[[Gateway, str], None] | None = None,
) -> int:
    """Run the gateway and its HTTP API until `stop` is set, or until one of its tasks dies (edge.supervisor).
    `on_ready(gateway, base_url)` once serving. Returns the exit code: 0 when stopped, 1 when a task died."""
    files = open_files_limit()
    check_connections(cfg.http, files)
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
        server = http_server(app, cfg.http)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():  # noqa: ASYNC110 - uvicorn offers no started event
            await asyncio.sleep(0.01)
        url = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
        log.info("http api listening url=%s open_files=%d", url, files)
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
