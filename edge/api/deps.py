"""What the routes depend on: the typed `ApiState` (what they use of the gateway) and who is calling (auth).

`ApiState` is built once by `create_app` (`ApiState.of(gateway)`) and kept on `app.state.api`; a route asks for it
with a `State` parameter. It names every part of the gateway the API uses, so no route reaches through the gateway.
The gateway opens in two steps (`Gateway.__init__`, then `open()`), and the rules in force change while it runs, so
the parts that come with `open()` (store, decision layer, rule versions) and the rules in force are read at each
request through functions: `decider()` and `versions()` answer 503 while the gateway is starting, as they always have.

Every route declares the roles that may call it with `needs(...)` (checked on every call, listed as `x-roles` in the
OpenAPI document); `who()` is the name an action is recorded under. `signed_in` finds the caller and is a plain
function: FastAPI runs it in its thread pool (a password check takes tens of milliseconds), and the live stream runs
it again every few seconds to end a stream whose user signed out, was removed or has a new password.

This module must not define routes or response bodies (the routers and schemas.py do).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, TypedDict
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Request

from cloud_sync.delivery import Receiver
from edge.auth import COOKIE, OPEN_USER, Auth, Role, Throttled, User, loopback
from edge.cloud import CloudSync
from edge.config import GatewayConfig
from edge.decisions import Decider
from edge.gateway import Counters, Gateway, StorageHealth
from edge.liveness import Liveness
from edge.mqtt import MqttLink
from edge.passwords import Busy
from edge.reports import Reports
from edge.store import Store
from edge.stream import Broadcaster
from edge.supervisor import Supervisor
from edge.upkeep import DiskStatus
from edge.versions import RuleVersions
from rules.clock import Clock
from rules.hall import HallSnapshot
from rules.language import RuleFile

ALL = (Role.MANAGER, Role.TECHNICIAN, Role.ADMINISTRATOR)
STARTING = "the gateway is starting"
NO_USERS = (
    "no users yet: create the first administrator with hallops users add NAME --role administrator --db FILE on the "
    "box (until then the API answers this machine only, at http://127.0.0.1 or http://localhost)"
)


@dataclass(frozen=True, slots=True)
class ApiState:
    """The gateway as the routes see it: its configuration, its parts, and functions for what changes."""

    config: GatewayConfig  # the hall's names and time zone; a backtest replays with all of it
    hall_id: str
    tz: ZoneInfo  # API times are given in the hall's time zone
    auth: Auth
    clock: Clock
    counters: Counters  # ingest, since the start
    link: MqttLink
    bundles: Receiver | None  # signed rule bundles from the cloud, when a key is configured
    started_at: datetime
    uptime_s: Callable[[], float]
    stream: Broadcaster
    reports: Reports
    snapshot: Callable[[], HallSnapshot]
    flush: Callable[[], None]  # commit what was handled, so a read of the store sees it
    follow_rules: Callable[[], None]  # take up a version put in force or in shadow
    current_store: Callable[[], Store | None]  # None until the gateway is open (and after it closed)
    current_decider: Callable[[], Decider | None]  # None until the gateway is open
    current_versions: Callable[[], RuleVersions | None]  # None until the gateway is open
    rules: Callable[[], RuleFile]  # the rules in force
    rules_version: Callable[[], int]  # … and their version
    supervisor: Supervisor  # the background tasks and their state
    storage: StorageHealth  # whether ingest's writes succeed
    fatal: Callable[[], str | None]  # the task that died (the gateway is stopping), if any
    sessions_lost: Callable[[], int]  # times the broker came back without the gateway's session
    liveness: Callable[[], Liveness]  # whether the gateway hears the hall now
    current_cloud: Callable[[], CloudSync | None] = lambda: None  # the uplink to the city/province tier, if configured
    disk: Callable[[], DiskStatus | None] = lambda: None  # the data directory against its budget (edge/upkeep.py)
    backtests: asyncio.Lock = field(default_factory=asyncio.Lock)  # one backtest at a time

    @classmethod
    def of(cls, gateway: Gateway, auth: Auth | None = None) -> ApiState:
        """The state of an API for `gateway`, open or not yet. `auth`: default, the gateway's users and sessions."""
        cfg = gateway.cfg
        return cls(
            config=cfg,
            hall_id=gateway.hall_id,
            tz=ZoneInfo(cfg.hall.timezone),
            auth=auth or Auth(cfg.accounts(), cfg.storage.path, cfg.http.session_hours),
            clock=gateway.clock,
            counters=gateway.counters,
            link=gateway.link,
            bundles=gateway.bundles,
            started_at=gateway.started_at,
            uptime_s=lambda: gateway.uptime_s,
            stream=gateway.stream,
            reports=gateway.reports,
            snapshot=gateway.snapshot,
            flush=gateway.flush,
            follow_rules=gateway.follow_rules,
            current_store=lambda: gateway.store,
            current_decider=lambda: gateway.decider,
            current_versions=lambda: gateway.versions,
            rules=lambda: gateway.rules,
            rules_version=lambda: gateway.rules_version,
            supervisor=gateway.supervisor,
            storage=gateway.storage,
            fatal=lambda: gateway.fatal,
            sessions_lost=lambda: gateway.sessions_lost,
            liveness=gateway.liveness,
            current_cloud=lambda: gateway.cloud,
            disk=lambda: gateway.upkeep.status if gateway.upkeep else None,
        )

    def decider(self) -> Decider:
        """The decision layer (alerts, silences, tickets, recommendations); 503 while the gateway is starting."""
        decider = self.current_decider()
        if decider is None:
            raise HTTPException(503, STARTING)
        return decider

    def versions(self) -> RuleVersions:
        """The stored rule versions; 503 while the gateway is starting."""
        versions = self.current_versions()
        if versions is None:
            raise HTTPException(503, STARTING)
        return versions


def api_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.api
    return state


State = Annotated[ApiState, Depends(api_state)]


def signed_in(request: Request, state: State) -> User:
    """The caller, by session cookie, HTTP Basic credentials or bearer token: 401 when none is good, 429 while
    the caller's address (or that name from it) is throttled, 503 when too many password checks run already. With
    no users at all, the local administrator (`local_administrator`)."""
    auth = state.auth
    if auth.open:
        return local_administrator(request)
    token = request.cookies.get(COOKIE)
    user = auth.session(token) if token else None
    header = request.headers.get("authorization", "")
    if user is None and header[:6].lower() == "basic ":
        try:
            user = auth.basic(header[6:].strip(), client(request))
        except (Throttled, Busy) as exc:
            raise refusal(exc) from None
    if user is None and header[:7].lower() == "bearer ":
        user = auth.bearer(header[7:].strip())
    if user is None:
        raise HTTPException(401, "sign in first (POST /api/session, a bearer token, or HTTP Basic credentials)")
    return user


def local_administrator(request: Request) -> User:
    """With no users: the local administrator for a request from this machine that names it in its Host header
    (edge.auth.loopback: not a page whose name was made to resolve to 127.0.0.1); 401 for anyone else, decided per
    request — the users may all have been removed while the gateway listens on the LAN."""
    if loopback(client(request), request.headers.get("host", "")):
        return OPEN_USER
    raise HTTPException(401, NO_USERS)


def client(request: Request) -> str:
    """The caller's address: the one that connected, or what a configured trusted proxy says (the server)."""
    return request.client.host if request.client else ""


def refusal(exc: Throttled | Busy) -> HTTPException:
    """429 for a throttled caller, 503 when too many password checks run: each with Retry-After."""
    status = 429 if isinstance(exc, Throttled) else 503
    return HTTPException(status, str(exc), headers={"retry-after": str(math.ceil(exc.retry_after_s))})


SignedIn = Annotated[User, Depends(signed_in)]


class RouteRoles(TypedDict):
    dependencies: list[Any]
    openapi_extra: dict[str, Any]


def needs(*roles: Role) -> RouteRoles:
    """The route's roles: checked on every call, and listed in the OpenAPI document."""
    wanted = frozenset(roles)

    def check(request: Request, user: SignedIn) -> User:
        if not user.may(wanted):
            allowed = " or ".join(sorted({r.value for r in wanted} | {Role.ADMINISTRATOR.value}))
            raise HTTPException(403, f"this needs the {allowed} role; {user.name} is {user.role.value}")
        request.state.user = user  # for who(): the route need not look the session up again
        return user

    return {"dependencies": [Depends(check)], "openapi_extra": {"x-roles": sorted(r.value for r in wanted)}}


def who(request: Request, by: str | None) -> str:
    """The name recorded for an action: the signed-in user (a body's `by` only when no users are configured)."""
    user: User = request.state.user
    return (by or "local") if user is OPEN_USER else user.name
