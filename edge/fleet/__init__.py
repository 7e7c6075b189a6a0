"""The fleet view (`hallops cloud serve`): a web page and its API for the city or province office, over the ledger
that the consumers fill (cloud_sync/ledger.py), built by `fleet_app(reader, auth, ...)`.

    browser ─ /            fleet.html + fleet.js (edge/web, the hall UI's app.css, ui.js, i18n.js)
            ─ /api/fleet/session          sign in (a cookie), who is signed in, sign out
            ─ /api/fleet/halls            every hall, worst first (cloud_sync.fleet.FleetReader.halls)
            ─ /api/fleet/halls/{hall}     one hall: today's hours, alerts open and recent, tickets, devices down
            ─ /api/fleet/health           whether the ledger's database answers (open, for monitoring)
            ─ /openapi.json, /docs        the API's documentation, for signed-in users

Sign-in reuses the gateway's `edge.auth.Auth`: users from the fleet's `users:` (Argon2 hashes, as the gateway's) or
added with `hallops users add … --db <fleet.sessions_db>`, sessions and the sign-in throttle in that SQLite file.
Roles: `manager` watches the fleet (every route), `administrator` may do everything (the same today, and whatever is
added later); a technician is refused (403). There is no open mode: without users the server does not start
(edge/fleet/serve.py). Every answer goes through the hall API's Guard (body limit, security headers, 422 with the
field path, never an echo of the input).

It must not write to the ledger, nor know how a hall's row is read (cloud_sync/fleet.py does).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from importlib import resources
from typing import Annotated

import psycopg
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from swagger_ui_bundle import swagger_ui_path

from cloud_sync.fleet import HALL_ID, Fleet, FleetReader, HallDetail, utc
from edge.api.deps import client, refusal
from edge.api.docs import FILES, PAGE, START
from edge.api.guard import Guard, server_error, validation_error
from edge.api.schemas import LoginBody
from edge.auth import COOKIE, Auth, Role, Throttled, User
from edge.passwords import Busy
from edge.release import VERSION

WEB = resources.files("edge").joinpath("web")
WATCHES = frozenset({Role.MANAGER})  # the administrator may do everything besides
UNREACHABLE = "the ledger's database does not answer; the fleet view shows nothing until it does"


class FleetMe(BaseModel):
    user: str
    role: Role
    name: str | None
    poll_s: float = Field(description="how often the page reads the halls again")
    stale_after_s: float = Field(description="a hall whose newest status is older is shown cut off (失联)")


class FleetHealth(BaseModel):
    database: bool = Field(description="the ledger's PostgreSQL answers")


class FleetState:
    """What the routes use: the reader, who may sign in, the clock, the page's polling interval."""

    def __init__(self, reader: FleetReader, auth: Auth, now: Callable[[], float], poll_s: float) -> None:
        self.reader = reader
        self.auth = auth
        self.now = now
        self.poll_s = poll_s


def _state(request: Request) -> FleetState:
    state: FleetState = request.app.state.fleet
    return state


State = Annotated[FleetState, Depends(_state)]


def signed_in(request: Request, state: State) -> User:
    """The caller by session cookie or HTTP Basic credentials (as the hall API); 401 when neither is good."""
    auth = state.auth
    token = request.cookies.get(COOKIE)
    user = auth.session(token) if token else None
    header = request.headers.get("authorization", "")
    if user is None and header[:6].lower() == "basic ":
        try:
            user = auth.basic(header[6:].strip(), client(request))
        except (Throttled, Busy) as exc:
            raise refusal(exc) from None
    if user is None:
        raise HTTPException(401, "sign in first (POST /api/fleet/session, or HTTP Basic credentials)")
    return user


SignedIn = Annotated[User, Depends(signed_in)]


def watcher(user: SignedIn) -> User:
    if not user.may(WATCHES):
        raise HTTPException(403, f"this needs the manager or administrator role; {user.name} is {user.role.value}")
    return user


Watcher = Annotated[User, Depends(watcher)]
ROLES = {"x-roles": sorted(r.value for r in WATCHES)}
HallId = Annotated[str, Path(pattern=HALL_ID.pattern, description="the hall's id, as its box sends it")]

router = APIRouter(tags=["fleet"])


def _me(state: FleetState, user: User) -> FleetMe:
    return FleetMe(
        user=user.name,
        role=user.role,
        name=user.display,
        poll_s=state.poll_s,
        stale_after_s=state.reader.stale_after_s,
    )


@router.post("/api/fleet/session", response_model=FleetMe, openapi_extra={"x-roles": []})
async def login(body: LoginBody, request: Request, response: Response, state: State) -> FleetMe:
    """Sign in: an HttpOnly session cookie. Wrong passwords are throttled as on a hall's box (429 with
    Retry-After); 503 when too many sign-ins are being checked at once."""
    auth = state.auth
    try:
        with auth.hashing.place():
            result = await asyncio.to_thread(auth.login, body.user, body.password, client(request))
    except (Throttled, Busy) as exc:
        raise refusal(exc) from None
    if result is None:
        raise HTTPException(401, "wrong user name or password")
    user, token = result
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(auth.session_s),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return _me(state, user)


@router.get("/api/fleet/session", response_model=FleetMe, openapi_extra={"x-roles": ["administrator", "manager"]})
async def session(user: SignedIn, state: State) -> FleetMe:
    """Who is signed in (401 when nobody; a technician too is told who they are, and refused elsewhere)."""
    return _me(state, user)


@router.delete("/api/fleet/session", status_code=204, openapi_extra={"x-roles": []})
async def logout(request: Request, response: Response, state: State) -> None:
    token = request.cookies.get(COOKIE)
    if token:
        await asyncio.to_thread(state.auth.logout, token, client(request))
    response.delete_cookie(COOKIE, path="/")


@router.get("/api/fleet/halls", response_model=Fleet, openapi_extra=ROLES)
async def halls(user: Watcher, state: State) -> Fleet:
    """Every hall, worst first: not live (cut off, offline, never a status) first, then with a critical alert,
    then by today's SL15 ascending. A hall's figures are its newest status's; `link` says whether that is live."""
    try:
        return await state.reader.halls(utc(state.now()))
    except psycopg.OperationalError:
        raise HTTPException(503, UNREACHABLE) from None


@router.get("/api/fleet/halls/{hall}", response_model=HallDetail, openapi_extra=ROLES)
async def hall(hall: HallId, user: Watcher, state: State) -> HallDetail:
    """One hall: its row, today's hours (kpi_hours), its open alerts and the newest alert changes, its active
    tickets and those closed today, its devices down. 404 for a hall the ledger has never heard of."""
    try:
        detail = await state.reader.hall(hall, utc(state.now()))
    except psycopg.OperationalError:
        raise HTTPException(503, UNREACHABLE) from None
    if detail is None:
        raise HTTPException(404, f"no hall {hall!r} has reached the ledger")
    return detail


@router.get("/api/fleet/health", response_model=FleetHealth, openapi_extra={"x-roles": []})
async def health(state: State, response: Response) -> FleetHealth:
    """Open, for monitoring: 200 when the ledger's database answers, 503 when it does not."""
    try:
        await state.reader.ping()
    except psycopg.Error:
        response.status_code = 503
        return FleetHealth(database=False)
    return FleetHealth(database=True)


docs = APIRouter(dependencies=[Depends(signed_in)], include_in_schema=False)


@docs.get("/openapi.json")
def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@docs.get("/docs")
async def docs_page() -> HTMLResponse:
    return HTMLResponse(PAGE.replace("hallops gateway API", "hallops fleet API"))


@docs.get("/docs/start.js")
async def docs_start() -> Response:
    return Response(START, media_type="text/javascript")


@docs.get("/docs/{name}")
async def swagger_file(name: str) -> FileResponse:
    if name not in FILES:
        raise HTTPException(404, "Not Found")
    return FileResponse(str(swagger_ui_path / name), media_type=FILES[name])


def fleet_app(
    reader: FleetReader,
    auth: Auth,
    *,
    poll_s: float = 5.0,
    max_body_bytes: int = 64 * 1024,
    now: Callable[[], float] = time.time,
) -> FastAPI:
    """The fleet view's app over `reader`, signing in with `auth`; `now` is the wall clock (UNIX seconds)."""
    app = FastAPI(
        title="hallops fleet",
        version=VERSION,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        description="Every government service hall (政务服务大厅) of a city or province, as the ledger holds what "
        "their boxes sent. Sign in with `POST /api/fleet/session` (a cookie) or send HTTP Basic credentials; each "
        "route lists its roles under `x-roles` (the administrator may call every route).",
    )
    app.state.fleet = FleetState(reader, auth, now, poll_s)
    page = WEB.joinpath("fleet.html").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> str:
        return page

    app.mount("/static", StaticFiles(directory=str(WEB)), name="static")
    app.include_router(router)
    app.include_router(docs)
    app.add_middleware(Guard, max_body_bytes=max_body_bytes)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, server_error)
    return app


__all__ = ["FleetMe", "fleet_app", "signed_in"]
