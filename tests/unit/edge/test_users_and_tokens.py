"""Users in the gateway's database, API tokens and sign-in throttling: what an administrator and an integrator do
with `hallops users` / `hallops tokens`, and what an attacker guessing passwords runs into.

`Auth` is handed argon2-cffi's cheapest hasher; the CLI hashes at the production cost, as an administrator's would."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher, extract_parameters, profiles

from edge import auth as auth_module
from edge.audit import verify
from edge.auth import (
    CLIENT_FAILURES_ALLOWED,
    FAILURE_WINDOW_S,
    FAILURES_ALLOWED,
    Account,
    Auth,
    Role,
    Throttled,
    User,
    UserError,
    hash_password,
)
from edge.cli import main
from edge.store import Store

PASSWORD = "correct horse"


class Clock:
    def __init__(self) -> None:
        self.now = 1_795_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(auth_module.time, "time", c)
    return c


@pytest.fixture
def auth(tmp_path: Path, clock: Clock, hasher: PasswordHasher) -> Iterator[Auth]:
    a = Auth({}, tmp_path / "gateway.db", hasher=hasher)
    yield a
    a.close()


def test_a_database_user_signs_in_and_the_api_stops_being_open(auth: Auth) -> None:
    assert auth.open
    auth.add_user("wang", Role.MANAGER, PASSWORD, "王经理")
    assert not auth.open
    signed_in = auth.login("wang", PASSWORD)
    assert signed_in is not None and signed_in[0] == User("wang", Role.MANAGER, "王经理")
    assert auth.session(signed_in[1]) == User("wang", Role.MANAGER, "王经理")


@pytest.mark.parametrize(
    ("name", "password", "message"),
    [("wang", PASSWORD, "exists already"), ("bad name", PASSWORD, "user name"), ("li", "short", "8 characters")],
)
def test_a_user_that_cannot_be_added_says_why(auth: Auth, name: str, password: str, message: str) -> None:
    auth.add_user("wang", Role.MANAGER, PASSWORD)
    with pytest.raises(UserError, match=message):
        auth.add_user(name, Role.TECHNICIAN, password)


def test_removing_a_user_ends_its_sessions_and_tokens(auth: Auth) -> None:
    auth.add_user("li", Role.TECHNICIAN, PASSWORD)
    session = auth.login("li", PASSWORD)
    token = auth.create_token("li", "monitoring")
    assert session is not None and auth.bearer(token) is not None
    auth.remove_user("li")
    assert auth.session(session[1]) is None and auth.bearer(token) is None
    with pytest.raises(UserError, match="no user"):
        auth.remove_user("li")


def test_a_configured_user_wins_a_name_clash_and_cannot_be_removed_from_the_cli(
    tmp_path: Path, clock: Clock, hasher: PasswordHasher
) -> None:
    db = tmp_path / "gateway.db"
    first = Auth({}, db, hasher=hasher)
    first.add_user("root", Role.TECHNICIAN, PASSWORD)
    first.close()
    configured = {"root": Account(User("root", Role.ADMINISTRATOR), hash_password("another pass", hasher))}
    both = Auth(configured, db, hasher=hasher)
    try:
        assert both.account("root") == configured["root"]
        assert [(a.user.name, source) for a, source in both.accounts()] == [("root", "config")]
        with pytest.raises(UserError, match="configuration file"):
            both.remove_user("root")
    finally:
        both.close()


def test_an_api_token_stands_for_its_user_until_the_user_goes(auth: Auth) -> None:
    auth.add_user("city", Role.MANAGER, PASSWORD)
    token = auth.create_token("city", "province platform")
    assert token.startswith("hot_") and auth.bearer(token) == User("city", Role.MANAGER, None)
    assert auth.bearer("hot_made-up") is None
    with pytest.raises(UserError, match="no user"):
        auth.create_token("nobody")


def test_five_wrong_passwords_lock_the_name_for_the_window_then_it_opens_again(auth: Auth, clock: Clock) -> None:
    auth.add_user("wang", Role.MANAGER, PASSWORD)
    for _ in range(FAILURES_ALLOWED):
        assert auth.login("wang", "guess", "10.0.0.9") is None
    with pytest.raises(Throttled) as caught:
        auth.login("wang", PASSWORD, "10.0.0.9")  # even the right password: the guesser must not learn it
    assert 0 < caught.value.retry_after_s <= FAILURE_WINDOW_S
    assert auth.login("li", "whatever", "10.0.0.9") is None  # other names from that address still get an answer
    clock.now += FAILURE_WINDOW_S + 1
    assert auth.login("wang", PASSWORD, "10.0.0.9") is not None


def test_one_address_guessing_many_names_is_locked_out(auth: Auth) -> None:
    for i in range(CLIENT_FAILURES_ALLOWED):
        assert auth.login(f"user{i}", "guess", "10.0.0.66") is None
    with pytest.raises(Throttled):
        auth.login("another", "guess", "10.0.0.66")
    assert auth.login("another", "guess", "10.0.0.7") is None  # a colleague's PC is not locked


def test_basic_credentials_of_a_locked_name_are_refused_without_an_error(auth: Auth) -> None:
    auth.add_user("wang", Role.MANAGER, PASSWORD)
    for _ in range(FAILURES_ALLOWED):
        auth.check_password("wang", "guess")
    import base64  # noqa: PLC0415

    assert auth.basic(base64.b64encode(f"wang:{PASSWORD}".encode()).decode()) is None


# -- the CLI ------------------------------------------------------------------------------------------------------


def run(monkeypatch: pytest.MonkeyPatch, argv: list[str], stdin: str = "") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(argv)


def test_the_cli_adds_lists_tokens_and_removes_users_and_audits_each_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], hasher: PasswordHasher
) -> None:
    db = str(tmp_path / "hallops.db")
    assert run(monkeypatch, ["users", "list", "--db", db]) == 2  # no database yet: says so
    assert run(monkeypatch, ["users", "add", "root", "--role", "administrator", "--db", db], PASSWORD + "\n") == 0
    add_li = ["users", "add", "li", "--role", "technician", "--name", "李工", "--db", db]
    assert run(monkeypatch, add_li, "short\n") == 1
    assert run(monkeypatch, add_li, PASSWORD + "\n") == 0
    capsys.readouterr()
    assert run(monkeypatch, ["users", "list", "--db", db]) == 0
    assert capsys.readouterr().out.splitlines() == ["li\ttechnician\t李工\tdatabase", "root\tadministrator\t\tdatabase"]
    assert run(monkeypatch, ["tokens", "create", "--user", "li", "--label", "monitor", "--db", db]) == 0
    token = capsys.readouterr().out.strip()
    check = Auth({}, Path(db), hasher=hasher)
    try:
        assert check.bearer(token) == User("li", Role.TECHNICIAN, "李工")
        stored = [a.password_hash for a, _ in check.accounts()]
        assert [extract_parameters(h) for h in stored] == [profiles.RFC_9106_LOW_MEMORY] * 2  # the production cost
    finally:
        check.close()
    assert run(monkeypatch, ["users", "remove", "li", "--db", db]) == 0
    assert run(monkeypatch, ["users", "remove", "li", "--db", db]) == 1
    store = Store(Path(db))
    try:
        rows = store.audit.rows()
        assert [(r.entry.action, r.entry.subject) for r in rows] == [
            ("user.add", "root"),
            ("user.add", "li"),
            ("token.create", "li"),
            ("user.remove", "li"),
        ]
        assert rows[0].entry.detail == {"role": "administrator"} and rows[0].entry.actor.startswith("cli:")
        assert verify(rows, store.audit.head()) == []
    finally:
        store.close()


def test_a_new_password_ends_the_sessions_of_the_old_one_and_the_cli_audits_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hasher: PasswordHasher
) -> None:
    db = tmp_path / "hallops.db"
    assert run(monkeypatch, ["users", "add", "li", "--role", "technician", "--db", str(db)], PASSWORD + "\n") == 0
    first = Auth({}, db, hasher=hasher)
    try:
        session = first.login("li", PASSWORD)
        token = first.create_token("li", "monitor")
        assert session is not None
    finally:
        first.close()
    assert run(monkeypatch, ["users", "passwd", "li", "--db", str(db)], "short\n") == 1  # refused, nothing changed
    assert run(monkeypatch, ["users", "passwd", "nobody", "--db", str(db)], "a long new one\n") == 1
    assert run(monkeypatch, ["users", "passwd", "li", "--db", str(db)], "a long new one\n") == 0
    after = Auth({}, db, hasher=hasher)
    try:
        assert after.session(session[1]) is None  # signed out everywhere
        assert after.login("li", PASSWORD) is None and after.login("li", "a long new one") is not None
        assert after.bearer(token) is not None  # an integration's token is not the password
    finally:
        after.close()
    store = Store(db)
    try:
        assert [r.entry.action for r in store.audit.rows()] == ["user.add", "user.password"]
    finally:
        store.close()
