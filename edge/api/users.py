"""Routes of the `users` tag: who may sign in, and an administrator adding, changing and removing users and setting
their passwords from the web UI.

Must not hold the account rules (names, roles, the password policy, hashing, sessions, the audit entry of each
change, keeping an administrator): edge.auth does, and says why it refuses (`UserError.reason`); these routes turn
that into a status and a `detail` of `message` (English) and `reason` (a code the UI says in its own words). Users
from the configuration file are listed and left alone. Hashing a password runs in a worker thread, never on the event
loop, and takes its place in edge.auth's HashGate first (as signing in does).
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, HTTPException, Request

from edge.api.deps import State, needs, refusal, who
from edge.api.schemas import PasswordBody, PasswordPolicyOut, UserBody, UserChangeBody, UserOut
from edge.auth import Role, User, UserError
from edge.passwords import MIN_DISTINCT_CHARS, MIN_PASSWORD_CHARS, Busy, password_fault

router = APIRouter(tags=["users"])

_STATUS = {"missing": 404, "name": 422, "password": 422}  # any other refusal is a conflict (409)


@router.get("/api/users", response_model=list[UserOut], **needs(Role.ADMINISTRATOR))
async def users(state: State) -> list[UserOut]:
    """Who may sign in: the database's users (added here or with `hallops users add`) and the configuration's
    `users:` (`source`: config, read-only here)."""
    return [
        UserOut(user=a.user.name, role=a.user.role, name=a.user.display, source=source)
        for a, source in state.auth.accounts()
    ]


@router.get("/api/users/policy", response_model=PasswordPolicyOut, **needs(Role.ADMINISTRATOR))
async def policy() -> PasswordPolicyOut:
    """The password policy's numbers, for the form that sets one (docs/security.md has the whole policy)."""
    return PasswordPolicyOut(min_chars=MIN_PASSWORD_CHARS, min_distinct=MIN_DISTINCT_CHARS)


@router.post("/api/users", status_code=201, response_model=UserOut, **needs(Role.ADMINISTRATOR))
async def add(body: UserBody, request: Request, state: State) -> UserOut:
    """Add a user to the gateway's database (audited as `user.add`). 422: a name or password the policy refuses;
    409: the name is taken, or the gateway has no users yet and this one is not an administrator."""
    auth = state.auth
    if auth.open and body.role is not Role.ADMINISTRATOR:
        raise _refused("the first user must be an administrator, or nobody could manage users", "first_administrator")
    by = who(request, None)
    try:
        with auth.hashing.place():
            user = await asyncio.to_thread(auth.add_user, body.user, body.role, body.password, body.name, by=by)
    except Busy as exc:
        raise refusal(exc) from None
    except UserError as exc:
        raise _refusal(exc, body.password, body.user) from None
    return _out(user)


@router.patch("/api/users/{name}", response_model=UserOut, **needs(Role.ADMINISTRATOR))
async def change(name: str, body: UserChangeBody, request: Request, state: State) -> UserOut:
    """A new role and/or display name (`""` removes it), audited as `user.role` and `user.display`. 409 for a user of
    the configuration file, for your own role, and for the last administrator's."""
    try:
        user = await asyncio.to_thread(state.auth.change_user, name, who(request, None), body.role, body.name)
    except UserError as exc:
        raise _refusal(exc) from None
    return _out(user)


@router.post("/api/users/{name}/password", status_code=204, **needs(Role.ADMINISTRATOR))
async def password(name: str, body: PasswordBody, request: Request, state: State) -> None:
    """A new password (audited as `user.password`, never the password): the user's sessions end, its API tokens
    stay. 422: the policy refuses it."""
    auth = state.auth
    try:
        with auth.hashing.place():
            await asyncio.to_thread(auth.set_password, name, body.password, by=who(request, None))
    except Busy as exc:
        raise refusal(exc) from None
    except UserError as exc:
        raise _refusal(exc, body.password, name) from None


@router.delete("/api/users/{name}", status_code=204, **needs(Role.ADMINISTRATOR))
async def remove(name: str, request: Request, state: State) -> None:
    """Remove a user with its sessions and API tokens (audited as `user.remove`). 409 for a user of the
    configuration file, for yourself, and for the last administrator."""
    try:
        await asyncio.to_thread(state.auth.remove_user, name, by=who(request, None))
    except UserError as exc:
        raise _refusal(exc) from None


def _out(user: User) -> UserOut:
    return UserOut(user=user.name, role=user.role, name=user.display, source="database")


def _refusal(exc: UserError, password: str = "", name: str = "") -> HTTPException:
    """edge.auth's refusal as an HTTP error; a password the policy refuses names the rule it breaks
    (`password_too_short`, `password_too_few_distinct`, `password_user_name`, `password_common`)."""
    reason = exc.reason or "refused"
    if reason == "password":
        reason = f"password_{password_fault(password, name)}"
    return _refused(str(exc), reason, _STATUS.get(exc.reason, 409))


def _refused(message: str, reason: str, status: int = 409) -> HTTPException:
    return HTTPException(status, {"message": message, "reason": reason})
