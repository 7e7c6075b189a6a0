"""An administrator manages users over the API, as the web UI does, through the app factory (no server): adding,
changing the role and display name, setting a password and removing, each audited under the administrator; the
password policy's refusals named; users of the configuration file left alone; and no change that leaves the hall
without an administrator.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI

from edge.api import create_app
from edge.auth import Account, Auth, Role, User, UserError
from edge.gateway import Gateway
from edge.passwords import MIN_PASSWORD_CHARS, HashGate, hash_password
from tests.unit.edge.conftest import LAN, Clock

PASSWORD = "correct horse"
NEW = "battery staple 42"


@pytest.fixture
def auth(gateway: Gateway, hasher: PasswordHasher) -> Iterator[Auth]:
    """root (administrator) in the database, zhou (manager) in the configuration file."""
    configured = {"zhou": Account(User("zhou", Role.MANAGER, "周主任"), hash_password(PASSWORD, hasher))}
    a = Auth(configured, gateway.cfg.storage.path, hasher=hasher, now=Clock())
    a.add_user("root", Role.ADMINISTRATOR, PASSWORD, "管理员")
    yield a
    a.close()


@pytest.fixture
def app(gateway: Gateway, auth: Auth) -> FastAPI:
    return create_app(gateway, auth)


def as_(app: FastAPI, name: str | None = "root", password: str = PASSWORD, local: bool = False) -> httpx.AsyncClient:
    """A client on the LAN (`local`: on the box, naming it) sending `name`'s credentials (None: none)."""
    address, host = ("127.0.0.1", "127.0.0.1:8080") if local else ("192.0.2.9", f"{LAN}:8080")
    transport = httpx.ASGITransport(app=app, client=(address, 51000))
    return httpx.AsyncClient(transport=transport, base_url=f"http://{host}", auth=(name, password) if name else None)


async def signed_in(app: FastAPI, name: str, password: str = PASSWORD) -> httpx.AsyncClient:
    """A browser's session (cookie) for `name`."""
    browser = as_(app, None)
    r = await browser.post("/api/session", json={"user": name, "password": password})
    assert r.status_code == 200, r.text
    return browser


async def audit(admin: httpx.AsyncClient) -> list[dict[str, object]]:
    log = await admin.get("/api/audit")
    assert log.status_code == 200 and log.json()["intact"]
    return [e for e in log.json()["entries"] if str(e["action"]).startswith("user.")]


async def test_an_administrator_adds_a_user_who_can_then_sign_in(app: FastAPI) -> None:
    async with as_(app) as admin:
        made = await admin.post(
            "/api/users", json={"user": "wang", "name": "王经理", "role": "manager", "password": PASSWORD}
        )
        assert made.status_code == 201, made.text
        assert made.json() == {"user": "wang", "role": "manager", "name": "王经理", "source": "database"}
        listed = {u["user"]: (u["role"], u["name"], u["source"]) for u in (await admin.get("/api/users")).json()}
        assert listed == {
            "root": ("administrator", "管理员", "database"),
            "wang": ("manager", "王经理", "database"),
            "zhou": ("manager", "周主任", "config"),
        }
        [entry] = await audit(admin)
        assert (entry["actor"], entry["action"], entry["subject"]) == ("root", "user.add", "wang")
        assert entry["detail"] == {"role": "manager", "name": "王经理"}  # never the password
    wang = await signed_in(app, "wang")
    assert (await wang.get("/api/session")).json()["name"] == "王经理"
    await wang.aclose()


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short1!", "password_too_short"),
        ("abababababab", "password_too_few_distinct"),
        ("wang.xiaoming", "password_user_name"),
        ("Password123!", "password_common"),
    ],
)
async def test_a_password_the_policy_refuses_is_named_and_nobody_is_added(
    app: FastAPI, password: str, reason: str
) -> None:
    async with as_(app) as admin:
        refused = await admin.post(
            "/api/users", json={"user": "wang.xiaoming", "role": "manager", "password": password}
        )
        assert refused.status_code == 422
        assert refused.json()["detail"]["reason"] == reason
        assert "password" in refused.json()["detail"]["message"]
        assert "wang.xiaoming" not in {u["user"] for u in (await admin.get("/api/users")).json()}
        assert await audit(admin) == []
        policy = (await admin.get("/api/users/policy")).json()
        assert policy["min_chars"] == MIN_PASSWORD_CHARS


async def test_a_bad_or_taken_name_is_refused(app: FastAPI) -> None:
    async with as_(app) as admin:
        bad = await admin.post("/api/users", json={"user": "王 经理", "role": "manager", "password": NEW})
        assert bad.status_code == 422 and bad.json()["detail"]["reason"] == "name"
        for taken in ("root", "zhou"):  # the database's, and the configuration file's
            again = await admin.post("/api/users", json={"user": taken, "role": "manager", "password": NEW})
            assert again.status_code == 409 and again.json()["detail"]["reason"] == "exists"


async def test_a_new_role_takes_effect_at_the_users_next_request_and_is_audited(app: FastAPI, auth: Auth) -> None:
    auth.add_user("wang", Role.MANAGER, PASSWORD, "王经理")
    wang = await signed_in(app, "wang")
    silence = {"rule": "*", "minutes": 30, "comment": "drill"}
    assert (await wang.get("/api/users")).status_code == 403
    async with as_(app) as admin:
        changed = await admin.patch("/api/users/wang", json={"role": "technician", "name": "王工"})
        assert changed.status_code == 200 and changed.json()["role"] == "technician"
        assert changed.json()["name"] == "王工"
        entries = await audit(admin)
    assert (await wang.get("/api/session")).json()["role"] == "technician"  # the same session, the new role
    assert (await wang.post("/api/silences", json=silence)).status_code == 403  # a technician cannot mute alarms
    await wang.aclose()
    by_action = {e["action"]: e for e in entries}
    assert by_action["user.role"]["detail"] == {"role": "technician", "was": "manager"}
    assert by_action["user.display"]["detail"] == {"name": "王工", "was": "王经理"}
    assert {e["actor"] for e in entries} == {"root"}


async def test_a_new_password_ends_the_users_sessions_and_the_new_one_works(app: FastAPI, auth: Auth) -> None:
    auth.add_user("wang", Role.MANAGER, PASSWORD)
    wang = await signed_in(app, "wang")
    async with as_(app) as admin:
        weak = await admin.post("/api/users/wang/password", json={"password": "wang"})
        assert weak.status_code == 422 and weak.json()["detail"]["reason"] == "password_too_short"
        assert (await wang.get("/api/session")).status_code == 200  # a refused password changes nothing
        reset = await admin.post("/api/users/wang/password", json={"password": NEW})
        assert reset.status_code == 204
        [entry] = [e for e in await audit(admin) if e["action"] == "user.password"]
    assert (entry["actor"], entry["subject"], entry["detail"]) == ("root", "wang", {})
    assert (await wang.get("/api/session")).status_code == 401
    await wang.aclose()
    refused = await as_(app, None).post("/api/session", json={"user": "wang", "password": PASSWORD})
    assert refused.status_code == 401
    again = await signed_in(app, "wang", NEW)  # the new one works
    await again.aclose()


async def test_a_removed_user_is_signed_out_and_cannot_sign_in(app: FastAPI, auth: Auth) -> None:
    auth.add_user("wang", Role.MANAGER, PASSWORD)
    wang = await signed_in(app, "wang")
    async with as_(app) as admin:
        assert (await admin.delete("/api/users/wang")).status_code == 204
        assert (await admin.delete("/api/users/wang")).status_code == 404
        [entry] = [e for e in await audit(admin) if e["action"] == "user.remove"]
    assert (entry["actor"], entry["subject"], entry["detail"]) == ("root", "wang", {"role": "manager"})
    assert (await wang.get("/api/session")).status_code == 401
    await wang.aclose()
    gone = await as_(app, None).post("/api/session", json={"user": "wang", "password": PASSWORD})
    assert gone.status_code == 401


async def test_an_administrator_cannot_remove_or_demote_themself(app: FastAPI) -> None:
    async with as_(app) as admin:
        removed = await admin.delete("/api/users/root")
        demoted = await admin.patch("/api/users/root", json={"role": "manager"})
        for refused in (removed, demoted):
            assert refused.status_code == 409 and refused.json()["detail"]["reason"] == "self"
            assert "yourself" in refused.json()["detail"]["message"]
        renamed = await admin.patch("/api/users/root", json={"name": "系统管理员"})  # the own name: fine
        assert renamed.status_code == 200 and renamed.json()["role"] == "administrator"
        assert (await admin.get("/api/session")).json()["role"] == "administrator"


def test_two_administrators_demoting_each_other_leave_one(auth: Auth) -> None:
    auth.add_user("ops", Role.ADMINISTRATOR, PASSWORD)
    auth.change_user("ops", "root", Role.MANAGER)  # root's request…
    with pytest.raises(UserError) as refused:  # … and ops's, sent before ops saw its new role
        auth.change_user("root", "ops", Role.MANAGER)
    assert refused.value.reason == "last_administrator" and "last administrator" in str(refused.value)
    with pytest.raises(UserError, match="last administrator"):
        auth.remove_user("root", by="ops")
    account = auth.account("root")
    assert account is not None and account.user.role is Role.ADMINISTRATOR


async def test_users_of_the_configuration_file_are_read_only(app: FastAPI) -> None:
    async with as_(app) as admin:
        answers = [
            await admin.patch("/api/users/zhou", json={"role": "technician"}),
            await admin.post("/api/users/zhou/password", json={"password": NEW}),
            await admin.delete("/api/users/zhou"),
        ]
        assert [r.status_code for r in answers] == [409] * 3
        assert {r.json()["detail"]["reason"] for r in answers} == {"configured"}
        assert all("configuration file" in r.json()["detail"]["message"] for r in answers)
        assert await audit(admin) == []
    async with as_(app, "zhou") as zhou:
        assert (await zhou.get("/api/session")).json()["role"] == "manager"


async def test_only_an_administrator_manages_users(app: FastAPI) -> None:
    async with as_(app, "zhou") as manager:
        answers = [
            await manager.get("/api/users"),
            await manager.post("/api/users", json={"user": "x1", "role": "administrator", "password": NEW}),
            await manager.patch("/api/users/root", json={"role": "manager"}),
            await manager.post("/api/users/root/password", json={"password": NEW}),
            await manager.delete("/api/users/root"),
        ]
    assert [r.status_code for r in answers] == [403] * 5


async def test_the_first_user_of_a_gateway_without_users_is_an_administrator(
    gateway: Gateway, hasher: PasswordHasher
) -> None:
    auth = Auth({}, gateway.cfg.storage.path, hasher=hasher, now=Clock())
    try:
        app = create_app(gateway, auth)
        async with as_(app, None, local=True) as local:  # open mode: this machine is `local`
            first = await local.post("/api/users", json={"user": "wang", "role": "manager", "password": PASSWORD})
            assert first.status_code == 409 and first.json()["detail"]["reason"] == "first_administrator"
            made = await local.post("/api/users", json={"user": "root", "role": "administrator", "password": PASSWORD})
            assert made.status_code == 201
            assert (await local.get("/api/users")).status_code == 401  # users now: sign in
        async with as_(app) as root:
            [entry] = await audit(root)
        assert (entry["actor"], entry["action"], entry["subject"]) == ("local", "user.add", "root")
    finally:
        auth.close()


async def test_with_every_hashing_place_taken_a_new_user_is_refused_at_once(
    gateway: Gateway, hasher: PasswordHasher
) -> None:
    auth = Auth({}, gateway.cfg.storage.path, hasher=hasher, now=Clock(), hashing=HashGate(at_once=1, waiting=0))
    auth.add_user("root", Role.ADMINISTRATOR, PASSWORD)
    app = create_app(gateway, auth)
    browser = await signed_in(app, "root")
    held, release = threading.Event(), threading.Event()

    def hold() -> None:  # a password check elsewhere, holding the only place
        with auth.hashing.place():
            held.set()
            release.wait(5)

    other = threading.Thread(target=hold)
    other.start()
    try:
        held.wait(5)
        busy = await browser.post("/api/users", json={"user": "wang", "role": "manager", "password": NEW})
        assert busy.status_code == 503 and int(busy.headers["retry-after"]) > 0
    finally:
        release.set()
        other.join()
    assert auth.account("wang") is None
    made = await browser.post("/api/users", json={"user": "wang", "role": "manager", "password": NEW})
    assert made.status_code == 201
    await browser.aclose()
    auth.close()
