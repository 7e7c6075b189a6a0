"""Running the fleet view (`hallops cloud serve --config F`): its part of the cloud tier's YAML, its sign-in, the
ledger's reader and uvicorn, until told to stop.

The fleet's settings are `fleet:` in the same file as the consumers' (cloud_sync/settings.py); the database is its
`postgres:` section. Until `CloudSettings` names `fleet` itself, `load` takes the section out before the rest is
validated, so the one file serves both commands. The HTTP server is the gateway's (edge/server.py: the connection
limits, a socket bound first so that a busy port is a clear start-up error).

It must not define routes (edge/fleet/__init__.py) nor read the ledger (cloud_sync/fleet.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import psycopg

from cloud_sync.fleet import FleetReader, FleetSection
from cloud_sync.settings import CloudSettings, load_settings
from devices.errors import ConfigError, Problem
from edge.auth import Account, Auth, Role, User
from edge.config import HttpSection
from edge.fleet import fleet_app
from edge.server import bind, check_connections, http_server, open_files_limit

log = logging.getLogger(__name__)


def load(path: Path) -> tuple[CloudSettings, FleetSection]:
    """The cloud tier's file and its `fleet:` section; ConfigError with every problem and its field path."""
    cloud = load_settings(path)
    return cloud, cloud.fleet


def accounts(fleet: FleetSection) -> dict[str, Account]:
    return {name: Account(User(name, Role(u.role), u.name), u.password_hash) for name, u in fleet.users.items()}


def dsn(cloud: CloudSettings, fleet: FleetSection) -> str:
    """The fleet's own read-only role when it names one (`fleet.dsn`), else the consumers' (`postgres:`)."""
    if fleet.dsn is not None:
        conninfo, password = fleet.dsn, fleet.password()
    else:
        conninfo, password = cloud.postgres.dsn, cloud.postgres.password()
    return psycopg.conninfo.make_conninfo(conninfo, password=password) if password else conninfo


async def serve(
    cloud: CloudSettings,
    fleet: FleetSection,
    stop: asyncio.Event,
    *,
    on_ready: Callable[[str], None] | None = None,
) -> int:
    """The fleet view until `stop` is set; `on_ready(base_url)` once it listens. Refuses to start without users."""
    fleet.sessions_db.parent.mkdir(parents=True, exist_ok=True)
    auth = Auth(accounts(fleet), fleet.sessions_db, fleet.session_hours)
    if auth.open:
        auth.close()
        raise ConfigError(
            "fleet.users",
            [
                Problem(
                    "fleet.users",
                    "no users: add one with a hash from `hallops users hash`, or `hallops users add NAME --role "
                    f"manager --db {fleet.sessions_db}` (the fleet view is never open without sign-in)",
                )
            ],
        )
    http = HttpSection(
        host=fleet.host, port=fleet.port, session_hours=fleet.session_hours, max_body_bytes=fleet.max_body_bytes
    )
    files = open_files_limit()
    check_connections(http, files)
    sock = bind(fleet.host, fleet.port)
    host, port = sock.getsockname()[:2]
    try:
        async with FleetReader(
            dsn(cloud, fleet), connections=fleet.connections, stale_after_s=fleet.stale_after_s, timezone=fleet.timezone
        ) as reader:
            try:
                await reader.ping()
            except psycopg.Error as exc:  # not fatal: the page says the database does not answer until it does
                log.warning("the ledger's database does not answer yet: %s", exc)
            app = fleet_app(reader, auth, poll_s=fleet.poll_s, max_body_bytes=fleet.max_body_bytes)
            server = http_server(app, http)
            task = asyncio.create_task(server.serve(sockets=[sock]))
            while not server.started and not task.done():  # noqa: ASYNC110 - uvicorn offers no started event
                await asyncio.sleep(0.01)
            url = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
            log.info("fleet view listening url=%s", url)
            if on_ready is not None:
                on_ready(url)
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
            server.should_exit = True
            stopper.cancel()
            await task
    finally:
        auth.close()
        sock.close()
    return 0


__all__ = ["accounts", "dsn", "load", "serve"]
