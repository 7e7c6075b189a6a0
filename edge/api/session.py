"""Routes of the `session` tag: signing in and out, and who is signed in (users.py: who may sign in).

Must not keep sessions itself: edge.auth checks credentials and keeps sessions and tokens. A password check runs in a
worker thread, never on the event loop, and takes its place in edge.auth's HashGate before it waits for a thread, so
a burst of sign-ins is answered 503 at once instead of queuing without bound.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, HTTPException, Request, Response

from edge.api.deps import ALL, ApiState, SignedIn, State, client, local_administrator, refusal
from edge.api.schemas import LoginBody, Me
from edge.auth import COOKIE, Throttled, User
from edge.passwords import Busy

router = APIRouter(tags=["session"])


@router.post("/api/session", response_model=Me, openapi_extra={"x-roles": []})
async def login(body: LoginBody, request: Request, response: Response, state: State) -> Me:
    """Sign in: sets an HttpOnly session cookie valid for `http.session_hours`. After 5 wrong passwords for a
    name from one address, or 20 from one address, within 15 min: 429 with Retry-After; 503 with Retry-After when
    too many sign-ins are being checked at once."""
    auth = state.auth
    if auth.open:
        return me(state, local_administrator(request))
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
    return me(state, user)


@router.get("/api/session", response_model=Me, openapi_extra={"x-roles": sorted(ALL)})
async def session(user: SignedIn, state: State) -> Me:
    """Who is signed in (401 when nobody)."""
    return me(state, user)


@router.delete("/api/session", status_code=204, openapi_extra={"x-roles": []})
async def logout(request: Request, response: Response, state: State) -> None:
    token = request.cookies.get(COOKIE)
    if token:
        await asyncio.to_thread(state.auth.logout, token, client(request))  # a write: it may wait for the lock
    response.delete_cookie(COOKIE, path="/")


def me(state: ApiState, user: User) -> Me:
    h = state.config.hall
    return Me(
        user=user.name,
        role=user.role,
        name=user.display,
        open=state.auth.open,
        hall=state.hall_id,
        hall_name=h.name,
        hall_name_en=h.name_en,
        timezone=h.timezone,
    )
