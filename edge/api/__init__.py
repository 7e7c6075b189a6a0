"""The HTTP API (FastAPI) and the web UI's files, built by `create_app(gateway)`.

Every route declares the roles that may call it (`needs(...)`, shown as `x-roles` in the OpenAPI document); the
administrator may call them all, `/api/health` is open for monitoring. Times are RFC 3339 in the hall's time zone.
The app holds the gateway it was made for; there are no globals.

One router module per OpenAPI tag, each a flat list of routes over the typed `ApiState` (deps.py):

    session.py  sign in and out, who is signed in                tickets.py  fault and rectification tickets
    health.py   ingest health, dead letters (tag `gateway`)      tidal.py    tidal-window recommendations
    hall.py     the hall now, one device in detail               rules.py    rules, versions, shadow, backtest, check
    live.py     the server-sent event stream                     reports.py  today's KPIs, day reports (JSON, CSV)
    alerts.py   alerts, acknowledging, silences                  audit.py    the audit log and its hash chain
    commands.py device commands and their acknowledgements       schemas.py  every request and response body
    deps.py     ApiState, signed_in, needs, who                  docs.py     /openapi.json and Swagger UI at /docs
    guard.py    what wraps every request: the body limit, the security headers, 422s without the input
    users.py    who may sign in; adding, changing and removing users

The API documentation is for signed-in users, served from the package, and absent when `http.api_docs` is false
(FastAPI's own /docs, /redoc and /openapi.json, which load Swagger from a CDN and need no sign-in, are off).
`create_app` only assembles them (state, static files, routers, the guard and its error handlers); it must not define
API routes itself.
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from edge.api import (
    alert_history,
    alerts,
    audit,
    commands,
    docs,
    hall,
    health,
    live,
    reports,
    rota,
    rules,
    session,
    tickets,
    tidal,
    users,
)
from edge.api.deps import ApiState
from edge.api.guard import Guard, server_error, validation_error
from edge.auth import Auth
from edge.gateway import Gateway
from edge.release import VERSION

__all__ = ["VERSION", "ApiState", "create_app"]

WEB = resources.files("edge").joinpath("web")
# alert_history before alerts: its /api/alerts/history must not be taken for an alert's fingerprint
ROUTERS = (
    session,
    users,
    health,
    hall,
    alert_history,
    alerts,
    commands,
    rules,
    tickets,
    tidal,
    rota,
    live,
    reports,
    audit,
)


def create_app(gateway: Gateway, auth: Auth | None = None) -> FastAPI:
    http = gateway.cfg.http
    app = FastAPI(
        title="hallops gateway",
        version=VERSION,
        openapi_url=None,  # docs.py serves it, and Swagger UI, behind sign-in
        docs_url=None,
        redoc_url=None,
        description="Live state of one government service hall (政务服务大厅), from its devices' MQTT telemetry. "
        "Sign in with `POST /api/session` (a cookie) or send HTTP Basic credentials; each route lists its roles "
        "under `x-roles` (the administrator may call every route).",
    )
    state = ApiState.of(gateway, auth)
    app.state.api = state
    app.state.auth = state.auth  # the server closes its database connection on the way out
    page = WEB.joinpath("index.html").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> str:
        return page

    app.mount("/static", StaticFiles(directory=str(WEB)), name="static")
    for module in (*ROUTERS, docs) if http.api_docs else ROUTERS:
        app.include_router(module.router)
    app.add_middleware(Guard, max_body_bytes=http.max_body_bytes, trusts_proxies=bool(http.trusted_proxies))
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, server_error)
    return app
