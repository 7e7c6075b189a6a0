"""Users in the gateway's database, API tokens and sign-in throttling: what an administrator and an integrator do
with `hallops users` / `hallops tokens`, and what an attacker guessing passwords runs into.

`Auth` is handed argon2-cffi's cheapest hasher; the CLI hashes at the production cost, as an administrator's would."""

from __future__ import annotations

import base64
import hashlib
import io
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher, extract_parameters, profiles

from devices.simulator import load_scenario
from edge import auth as auth_module
from edge.audit import verify
from edge.auth import (
    CLIENT_FAILURES_ALLOWED,
    FAILURE_WINDOW_S,
    FAILURES_ALLOWED,
    TOKEN_DAYS,
    TOKEN_DAYS_MAX,
    Account,
    Auth,
    Role,
    Throttled,
    User,
    UserError,
    token_id,
)
from edge.cli import main
from edge.demo import DEMO_PASSWORD, DEMO_USERS, scenario_config
from edge.passwords import hash_password, password_problem
from edge.store import Store

PASSWORD = "correct horse"


class Clock:
    def __init__(self) -> None:
        self.now = 1_795_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def auth(tmp_path: Path, clock: Clock, hasher: PasswordHasher) -> Iterator[Auth]:
    a = Auth({}, tmp_path / "gateway.db", hasher=hasher, now=clock)
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
    [("wang", PASSWORD, "exists already"), ("bad name", PASSWORD, "user name"), ("li", "short", "10 characters")],
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


def test_five_wrong_passwords_lock_the_name_from_that_address_for_the_window_then_it_opens_again(
    auth: Auth, clock: Clock
) -> None:
    auth.add_user("wang", Role.MANAGER, PASSWORD)
    for _ in range(FAILURES_ALLOWED):
        assert auth.login("wang", "guess", "10.0.0.9") is None
    with pytest.raises(Throttled) as caught:
        auth.login("wang", PASSWORD, "10.0.0.9")  # even the right password: the guesser must not learn it
    assert 0 < caught.value.retry_after_s <= FAILURE_WINDOW_S
    assert auth.login("li", "whatever", "10.0.0.9") is None  # other names from that address still get an answer
    clock.now += FAILURE_WINDOW_S + 1
    assert auth.login("wang", PASSWORD, "10.0.0.9") is not None


def test_a_guesser_cannot_lock_a_user_out_of_another_address(auth: Auth) -> None:
    auth.add_user("li", Role.TECHNICIAN, PASSWORD)
    for _ in range(FAILURES_ALLOWED):
        assert auth.login("li", "guess", "192.0.2.1") is None
    with pytest.raises(Throttled):
        auth.login("li", PASSWORD, "192.0.2.1")
    signed_in = auth.login("li", PASSWORD, "192.0.2.2")  # li at her own desk
    assert signed_in is not None and signed_in[0].name == "li"


def test_the_throttle_survives_a_gateway_restart(tmp_path: Path, clock: Clock, hasher: PasswordHasher) -> None:
    db = tmp_path / "gateway.db"
    before = Auth({}, db, hasher=hasher, now=clock)
    before.add_user("li", Role.TECHNICIAN, PASSWORD)
    for _ in range(FAILURES_ALLOWED):
        assert before.login("li", "guess", "192.0.2.1") is None
    before.close()
    clock.now += 60
    after = Auth({}, db, hasher=hasher, now=clock)
    try:
        with pytest.raises(Throttled) as caught:
            after.login("li", PASSWORD, "192.0.2.1")
        assert caught.value.retry_after_s == pytest.approx(FAILURE_WINDOW_S - 60)
    finally:
        after.close()


def test_the_failures_kept_are_bounded(
    auth: Auth, clock: Clock, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(auth_module, "FAILURE_ROWS_MAX", 30)
    for i in range(40):  # 40 addresses, one made-up name each: more than kept
        assert auth.login(f"nobody{i}", "guess", f"198.51.100.{i}") is None
    assert auth.failures == 40
    kept = sqlite3.connect(tmp_path / "gateway.db")
    try:
        assert kept.execute("SELECT count(*) FROM sign_in_failures").fetchone() == (30,)
    finally:
        kept.close()
    clock.now += FAILURE_WINDOW_S + 1
    assert auth.login("nobody99", "guess", "198.51.100.99") is None
    kept = sqlite3.connect(tmp_path / "gateway.db")
    try:
        assert kept.execute("SELECT count(*) FROM sign_in_failures").fetchone() == (1,)  # the window's only
    finally:
        kept.close()


def test_one_address_guessing_many_names_is_locked_out(auth: Auth) -> None:
    for i in range(CLIENT_FAILURES_ALLOWED):
        assert auth.login(f"user{i}", "guess", "10.0.0.66") is None
    with pytest.raises(Throttled):
        auth.login("another", "guess", "10.0.0.66")
    assert auth.login("another", "guess", "10.0.0.7") is None  # a colleague's PC is not locked


def test_basic_credentials_go_through_the_same_throttle(auth: Auth) -> None:
    auth.add_user("wang", Role.MANAGER, PASSWORD)
    header = base64.b64encode(f"wang:{PASSWORD}".encode()).decode()
    for _ in range(FAILURES_ALLOWED):
        assert auth.basic(base64.b64encode(b"wang:guess").decode(), "10.0.0.9") is None
    with pytest.raises(Throttled):
        auth.basic(header, "10.0.0.9")
    assert auth.basic(header, "10.0.0.10") == User("wang", Role.MANAGER)


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
        assert [r.entry.action for r in store.audit.rows()] == [
            "user.add",
            "session.sign_in",
            "user.password",
            "session.sign_in_failed",  # the old password, after the change
            "session.sign_in",
        ]
    finally:
        store.close()


# -- the password policy --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("12345678", "at least 10 characters"),
        ("password123", "most common passwords"),
        ("Password1!", "most common passwords"),  # a common word with a digit and a sign added
        ("1234567890", "most common passwords"),
        ("qwertyuiop", "most common passwords"),
        ("Dragon2024!!", "most common passwords"),
        ("aaaaaaaaaaaa", "different characters"),
    ],
)
def test_a_weak_password_is_refused_saying_why(auth: Auth, password: str, why: str) -> None:
    with pytest.raises(UserError, match=why):
        auth.add_user("zhao", Role.TECHNICIAN, password)
    auth.add_user("li", Role.TECHNICIAN, PASSWORD)
    with pytest.raises(UserError, match=why):
        auth.set_password("li", password)
    assert auth.login("li", PASSWORD) is not None  # the old password still works


@pytest.mark.parametrize("password", ["zhangsanfeng", "ZhangSanFeng", "zhangsanfeng2025!"])
def test_the_user_name_is_refused_as_the_password(auth: Auth, password: str) -> None:
    with pytest.raises(UserError, match="user name"):
        auth.add_user("zhangsanfeng", Role.TECHNICIAN, password)
    auth.add_user("zhangsanfeng", Role.TECHNICIAN, PASSWORD)
    with pytest.raises(UserError, match="user name"):
        auth.set_password("zhangsanfeng", password)


def test_a_long_random_password_is_accepted(auth: Auth) -> None:
    password = secrets.token_urlsafe(16)
    assert password_problem(password, "li") is None
    auth.add_user("li", Role.TECHNICIAN, password)
    assert auth.login("li", password) is not None


def test_configured_hashes_are_not_judged_so_the_demo_still_signs_in(tmp_path: Path, clock: Clock) -> None:
    hall = load_scenario("county")
    cfg = scenario_config(hall, "mqtt://127.0.0.1:1", tmp_path / "demo.db", ("127.0.0.1", 0), 1.0, DEMO_USERS)
    demo = Auth(cfg.accounts(), tmp_path / "demo.db", now=clock)  # the hash carries the production cost
    try:
        assert demo.check_password("admin", DEMO_PASSWORD) == User("admin", Role.ADMINISTRATOR, "管理员")
    finally:
        demo.close()


def test_users_hash_refuses_a_common_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(monkeypatch, ["users", "hash", "--user", "li"], "password123\n") == 1
    assert "most common passwords" in capsys.readouterr().err
    assert run(monkeypatch, ["users", "hash", "--user", "li"], "li-at-window-7\n") == 0
    assert "$argon2id$" in capsys.readouterr().out


# -- API tokens: expiry and revocation -------------------------------------------------------------------------------


def test_a_token_expires_after_its_days(auth: Auth, clock: Clock) -> None:
    auth.add_user("city", Role.MANAGER, PASSWORD)
    month = auth.create_token("city", "platform", days=30)
    default = auth.create_token("city", "monitor")
    assert auth.bearer(month) == User("city", Role.MANAGER)
    assert {t.label: t.expires_at - clock.now for t in auth.tokens()} == {
        "platform": 30 * 86400,
        "monitor": TOKEN_DAYS * 86400,
    }
    clock.now += 30 * 86400 - 1
    assert auth.bearer(month) is not None
    clock.now += 1
    assert auth.bearer(month) is None
    assert auth.bearer(default) is not None
    clock.now += (TOKEN_DAYS - 30) * 86400
    assert auth.bearer(default) is None


@pytest.mark.parametrize("days", [0, -1, TOKEN_DAYS_MAX + 1])
def test_a_token_lasts_at_least_a_day_and_at_most_a_year(auth: Auth, days: int) -> None:
    auth.add_user("city", Role.MANAGER, PASSWORD)
    with pytest.raises(UserError, match=f"1 to {TOKEN_DAYS_MAX} days"):
        auth.create_token("city", days=days)


def test_a_revoked_token_is_refused_at_once(auth: Auth) -> None:
    auth.add_user("city", Role.MANAGER, PASSWORD)
    platform, monitor = auth.create_token("city", "platform"), auth.create_token("city", "monitor")
    gone = auth.revoke_token(token_id(platform))
    assert (gone.id, gone.user, gone.label) == (token_id(platform), "city", "platform")
    assert auth.bearer(platform) is None and auth.bearer(monitor) is not None
    auth.revoke_token("monitor")  # by its label
    assert auth.bearer(monitor) is None and auth.tokens() == []
    with pytest.raises(UserError, match="no token"):
        auth.revoke_token("monitor")
    auth.create_token("city", "twin")
    auth.create_token("city", "twin")
    with pytest.raises(UserError, match="2 tokens match"):
        auth.revoke_token("twin")


def test_tokens_made_before_they_expired_get_90_days_from_their_creation(
    tmp_path: Path, clock: Clock, hasher: PasswordHasher
) -> None:
    db = tmp_path / "gateway.db"
    old = sqlite3.connect(db)  # the tables as the releases before expiry made them
    old.executescript(
        """
        CREATE TABLE users (name TEXT PRIMARY KEY, role TEXT NOT NULL, display TEXT, password_hash TEXT NOT NULL,
            created_at REAL NOT NULL);
        CREATE TABLE tokens (token_sha TEXT PRIMARY KEY, user TEXT NOT NULL, label TEXT NOT NULL,
            created_at REAL NOT NULL, last_used_at REAL);
        """
    )
    old.execute("INSERT INTO users VALUES ('city', 'manager', NULL, ?, 0)", (hash_password(PASSWORD, hasher),))
    for token, age_days in (("hot_old", 100), ("hot_recent", 10)):
        sha = hashlib.sha256(token.encode()).hexdigest()
        old.execute("INSERT INTO tokens VALUES (?, 'city', ?, ?, NULL)", (sha, token, clock.now - age_days * 86400))
    old.commit()
    old.close()
    auth = Auth({}, db, hasher=hasher, now=clock)
    try:
        assert auth.bearer("hot_old") is None  # 100 days old: expired 10 days ago
        assert auth.bearer("hot_recent") == User("city", Role.MANAGER)
        assert {t.label: round((t.expires_at - clock.now) / 86400) for t in auth.tokens()} == {
            "hot_old": -10,
            "hot_recent": 80,
        }
    finally:
        auth.close()


def test_the_cli_lists_and_revokes_tokens_without_showing_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], hasher: PasswordHasher
) -> None:
    db = str(tmp_path / "hallops.db")
    assert run(monkeypatch, ["users", "add", "city", "--role", "manager", "--db", db], PASSWORD + "\n") == 0
    capsys.readouterr()
    assert run(monkeypatch, ["tokens", "create", "city", "--label", "platform", "--days", "30", "--db", db]) == 0
    made = capsys.readouterr()
    token = made.out.strip()
    assert token.startswith("hot_") and token_id(token) in made.err
    assert run(monkeypatch, ["tokens", "create", "city", "--days", "367", "--db", db]) == 1
    assert run(monkeypatch, ["tokens", "create", "--user", "city", "--label", "monitor", "--db", db]) == 0
    capsys.readouterr()
    assert run(monkeypatch, ["tokens", "list", "--db", db]) == 0
    listed = capsys.readouterr().out
    assert token not in listed and token[4:20] not in listed
    lines = [line.split("\t") for line in listed.splitlines()]
    assert [(cols[0], cols[1], cols[2], cols[5]) for cols in lines] == [
        (token_id(token), "city", "platform", "never used"),
        (lines[1][0], "city", "monitor", "never used"),
    ]
    assert run(monkeypatch, ["tokens", "revoke", token_id(token), "--db", db]) == 0
    assert run(monkeypatch, ["tokens", "revoke", "monitor", "--db", db]) == 0
    assert run(monkeypatch, ["tokens", "revoke", "monitor", "--db", db]) == 1
    check = Auth({}, Path(db), hasher=hasher)
    try:
        assert check.bearer(token) is None and check.tokens() == []
    finally:
        check.close()
    store = Store(Path(db))
    try:
        rows = [r for r in store.audit.rows() if r.entry.action.startswith("token.")]
        assert [(r.entry.action, r.entry.subject, r.entry.detail["id"]) for r in rows] == [
            ("token.create", "city", token_id(token)),
            ("token.create", "city", lines[1][0]),
            ("token.revoke", "city", token_id(token)),
            ("token.revoke", "city", lines[1][0]),
        ]
        assert verify(store.audit.rows(), store.audit.head()) == []
    finally:
        store.close()


def test_a_token_stands_for_its_account_not_for_a_name_given_again(
    tmp_path: Path, clock: Clock, hasher: PasswordHasher
) -> None:
    """The review: a token of the configuration's technician li outlived li's removal from the file, and stood for an
    administrator li added later. A token is the account's: gone with it, never inherited by a new holder of the
    name (from the configuration, or from the database)."""
    db = tmp_path / "gateway.db"
    li = {"li": Account(User("li", Role.TECHNICIAN), hash_password("li's old pass phrase", hasher))}
    first = Auth(li, db, hasher=hasher, now=clock)
    token = first.create_token("li", "script")
    assert first.bearer(token) == User("li", Role.TECHNICIAN)
    first.close()
    restarted = Auth({}, db, hasher=hasher, now=clock)  # li left the configuration file
    assert restarted.bearer(token) is None
    restarted.add_user("li", Role.ADMINISTRATOR, "a different long secret")
    assert restarted.bearer(token) is None, "the old technician's token opened the new administrator's account"
    restarted.close()
    again = Auth({}, db, hasher=hasher, now=clock)  # a database user removed and added again behind the gateway
    kept = again.create_token("li", "kept")
    with sqlite3.connect(db) as raw:
        raw.execute("DELETE FROM users WHERE name = 'li'")
    again.add_user("li", Role.MANAGER, "yet another long secret")
    assert again.bearer(kept) is None
    again.close()
