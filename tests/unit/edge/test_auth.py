"""Who may sign in: passwords against Argon2 hashes, sessions kept in SQLite across a restart, HTTP Basic, roles.

Hashes are made with argon2-cffi's cheapest profile, handed to `Auth` and `hash_password`; one test makes a hash at
the production cost and signs in with it. Time is a fake clock.
"""

from __future__ import annotations

import base64
import contextvars
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher, extract_parameters, profiles
from argon2.exceptions import VerifyMismatchError

from edge.audit import Entry, verify
from edge.auth import FAILURES_ALLOWED, OPEN_USER, Account, Auth, Role, Throttled, User, loopback
from edge.passwords import Busy, HashGate, hash_password, stand_in_hash, valid_hash
from edge.store import Store

WANG = User("wang", Role.MANAGER, "王主任")
LI = User("li", Role.TECHNICIAN, "李工")
DAY_HOURS = 12.0  # a web sign-in lasts one working day
T0 = 1_736_730_000.0  # 2025-01-13 09:00 Asia/Shanghai


@pytest.fixture(scope="module")
def accounts(hasher: PasswordHasher) -> dict[str, Account]:
    return {
        "wang": Account(WANG, hash_password("tidal:2025", hasher)),
        "li": Account(LI, hash_password("fix-it-now", hasher)),
    }


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now

    def advance(self, hours: float) -> None:
        self.now += hours * 3600


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def open_auth(tmp_path: Path, hasher: PasswordHasher, clock: Clock) -> Iterator[Callable[..., Auth]]:
    """Opens `Auth` on the gateway's SQLite file (as a restart would) and closes every one after the test."""
    opened: list[Auth] = []

    def make(accounts: dict[str, Account], session_hours: float = DAY_HOURS) -> Auth:
        a = Auth(accounts, tmp_path / "hallops.db", session_hours, hasher=hasher, now=clock)
        opened.append(a)
        return a

    yield make
    for a in opened:
        a.close()


@pytest.fixture
def auth(open_auth: Callable[..., Auth], accounts: dict[str, Account], clock: Clock) -> Auth:
    return open_auth(accounts)


def basic_header(credentials: str) -> str:
    """The part after `Authorization: Basic `."""
    return base64.b64encode(credentials.encode()).decode()


# --- passwords -----------------------------------------------------------------------------------------------


def test_the_right_password_gives_the_user_with_the_role_and_display_name(auth: Auth) -> None:
    assert auth.check_password("wang", "tidal:2025") == WANG
    assert auth.failures == 0


@pytest.mark.parametrize(
    ("name", "password"),
    [
        ("wang", "tidal:2024"),  # wrong password
        ("wang", ""),  # empty password
        ("wang", "fix-it-now"),  # another user's password
        ("zhao", "tidal:2025"),  # no such user
    ],
    ids=["wrong", "empty", "other-users", "unknown-user"],
)
def test_a_bad_credential_is_refused_and_counted(auth: Auth, name: str, password: str) -> None:
    assert auth.login(name, password) is None
    assert auth.failures == 1


def test_an_account_whose_hash_is_garbage_cannot_sign_in_and_does_not_crash(
    open_auth: Callable[..., Auth], clock: Clock
) -> None:
    auth = open_auth({"wang": Account(WANG, "$argon2id$not-a-hash")})
    assert auth.login("wang", "tidal:2025") is None
    assert auth.failures == 1


# --- sessions ------------------------------------------------------------------------------------------------


def test_signing_in_gives_a_token_that_brings_the_user_back(auth: Auth) -> None:
    signed_in = auth.login("wang", "tidal:2025")
    assert signed_in is not None
    user, token = signed_in
    assert user == WANG
    assert len(token) >= 32
    assert auth.session(token) == WANG


def test_two_sign_ins_get_different_tokens_and_each_is_its_own_user(auth: Auth) -> None:
    first, second = auth.login("wang", "tidal:2025"), auth.login("li", "fix-it-now")
    assert first is not None and second is not None
    assert first[1] != second[1]
    assert auth.session(first[1]) == WANG
    assert auth.session(second[1]) == LI


@pytest.mark.parametrize("token", ["", "made-up-token", "x" * 43], ids=["empty", "made-up", "token-shaped"])
def test_a_token_that_was_never_issued_is_refused(auth: Auth, token: str) -> None:
    assert auth.login("wang", "tidal:2025") is not None
    assert auth.session(token) is None


def test_signing_out_ends_that_session_only(auth: Auth) -> None:
    desk, phone = auth.login("wang", "tidal:2025"), auth.login("wang", "tidal:2025")
    assert desk is not None and phone is not None
    auth.logout(desk[1])
    assert auth.session(desk[1]) is None
    assert auth.session(phone[1]) == WANG
    auth.logout(desk[1])  # signing out twice is harmless


def test_a_session_lasts_the_configured_hours_and_then_is_refused(auth: Auth, clock: Clock) -> None:
    signed_in = auth.login("wang", "tidal:2025")
    assert signed_in is not None
    clock.advance(DAY_HOURS - 0.01)
    assert auth.session(signed_in[1]) == WANG
    clock.advance(0.02)
    assert auth.session(signed_in[1]) is None


def test_a_tiny_session_lifetime_lapses_almost_at_once(
    open_auth: Callable[..., Auth], accounts: dict[str, Account], clock: Clock
) -> None:
    auth = open_auth(accounts, session_hours=1e-6)  # 3.6 ms
    signed_in = auth.login("li", "fix-it-now")
    assert signed_in is not None
    clock.now += 0.01
    assert auth.session(signed_in[1]) is None


def test_a_session_survives_a_gateway_restart(
    open_auth: Callable[..., Auth], accounts: dict[str, Account], clock: Clock
) -> None:
    before = open_auth(accounts)
    signed_in = before.login("wang", "tidal:2025")
    assert signed_in is not None
    before.close()
    clock.advance(1)
    after = open_auth(accounts)
    assert after.session(signed_in[1]) == WANG


def test_a_user_removed_from_the_configuration_loses_the_session(
    open_auth: Callable[..., Auth], accounts: dict[str, Account], clock: Clock
) -> None:
    before = open_auth(accounts)
    wang, li = before.login("wang", "tidal:2025"), before.login("li", "fix-it-now")
    assert wang is not None and li is not None
    before.close()
    after = open_auth({"li": accounts["li"]})  # wang deleted from users:, gateway restarted
    assert after.session(wang[1]) is None
    assert after.session(li[1]) == LI


def test_a_role_changed_in_the_configuration_applies_to_an_existing_session(
    open_auth: Callable[..., Auth], accounts: dict[str, Account], clock: Clock
) -> None:
    before = open_auth(accounts)
    signed_in = before.login("li", "fix-it-now")
    assert signed_in is not None
    before.close()
    promoted = User("li", Role.ADMINISTRATOR, "李工")
    after = open_auth({**accounts, "li": Account(promoted, accounts["li"].password_hash)})
    assert after.session(signed_in[1]) == promoted


def test_a_new_password_in_the_configuration_ends_the_sessions_opened_with_the_old_one(
    open_auth: Callable[..., Auth], accounts: dict[str, Account], clock: Clock
) -> None:
    before = open_auth(accounts)
    wang, li = before.login("wang", "tidal:2025"), before.login("li", "fix-it-now")
    assert wang is not None and li is not None
    before.close()
    # wang's password leaked: the administrator puts a new hash in users: and restarts the gateway
    after = open_auth({**accounts, "wang": Account(WANG, accounts["li"].password_hash)})
    assert after.session(wang[1]) is None
    assert after.session(li[1]) == LI


# --- HTTP Basic ----------------------------------------------------------------------------------------------


def test_basic_credentials_give_the_user_and_are_accepted_again(auth: Auth) -> None:
    header = basic_header("li:fix-it-now")
    assert auth.basic(header) == LI
    assert auth.basic(header) == LI  # a script polling every second
    assert auth.failures == 0


def test_a_basic_password_may_contain_a_colon(auth: Auth) -> None:
    assert auth.basic(basic_header("wang:tidal:2025")) == WANG


@pytest.mark.parametrize(
    "header",
    [
        basic_header("li:wrong"),
        basic_header("zhao:fix-it-now"),
        basic_header("li"),  # no colon: no password
    ],
    ids=["wrong-password", "unknown-user", "no-colon"],
)
def test_bad_basic_credentials_are_refused_and_counted(auth: Auth, header: str) -> None:
    assert auth.basic(header) is None
    assert auth.failures == 1


@pytest.mark.parametrize(
    "header",
    [
        "not base64!",
        "bGk6Zml4LWl0LW5vdw",  # missing padding
        base64.b64encode(b"li:\xff\xfe").decode(),  # not UTF-8
        "",
    ],
    ids=["not-base64", "no-padding", "not-utf8", "empty"],
)
def test_a_garbled_basic_header_is_refused_without_an_error(auth: Auth, header: str) -> None:
    assert auth.basic(header) is None


def test_a_basic_header_with_non_ascii_characters_is_refused_without_an_error(auth: Auth) -> None:
    assert auth.basic("bGk6é") is None  # Starlette decodes header bytes as Latin-1


# --- roles ---------------------------------------------------------------------------------------------------

ACK_ALERTS = frozenset({Role.MANAGER})
WORK_TICKETS = frozenset({Role.TECHNICIAN, Role.MANAGER})
EDIT_RULES: frozenset[Role] = frozenset()  # administrator only


@pytest.mark.parametrize(
    ("role", "route_roles", "allowed"),
    [
        (Role.MANAGER, ACK_ALERTS, True),
        (Role.TECHNICIAN, ACK_ALERTS, False),
        (Role.TECHNICIAN, WORK_TICKETS, True),
        (Role.MANAGER, WORK_TICKETS, True),
        (Role.MANAGER, EDIT_RULES, False),
        (Role.TECHNICIAN, EDIT_RULES, False),
        (Role.ADMINISTRATOR, ACK_ALERTS, True),
        (Role.ADMINISTRATOR, WORK_TICKETS, True),
        (Role.ADMINISTRATOR, EDIT_RULES, True),
    ],
)
def test_the_administrator_may_do_everything_the_others_only_what_names_their_role(
    role: Role, route_roles: frozenset[Role], allowed: bool
) -> None:
    assert User("someone", role).may(route_roles) is allowed


def test_with_no_users_the_api_is_open_and_the_local_user_is_an_administrator(
    open_auth: Callable[..., Auth], accounts: dict[str, Account], clock: Clock
) -> None:
    assert open_auth({}).open is True
    assert open_auth(accounts).open is False
    assert OPEN_USER.may(EDIT_RULES)


def test_with_no_users_nobody_can_sign_in_with_a_password(open_auth: Callable[..., Auth], clock: Clock) -> None:
    auth = open_auth({})
    assert auth.login("local", "") is None
    assert auth.basic(basic_header("local:")) is None


# --- hashes --------------------------------------------------------------------------------------------------


def test_hash_password_makes_a_production_cost_argon2id_hash_that_config_accepts_and_signs_in(
    open_auth: Callable[..., Auth], clock: Clock
) -> None:
    made = hash_password("tidal:2025")  # the production hasher: this module's one costly hash (and verification)
    assert made.startswith("$argon2id$")
    assert "tidal" not in made
    assert valid_hash(made)
    assert extract_parameters(made) == profiles.RFC_9106_LOW_MEMORY  # 64 MiB, 3 passes, 4 lanes
    assert open_auth({"wang": Account(WANG, made)}).check_password("wang", "tidal:2025") == WANG


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", True),
        ("$argon2i$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", True),
        ("tidal:2025", False),  # a plain password pasted into the config
        ("$2b$12$abcdefghijklmnopqrstuv", False),  # bcrypt
        ("", False),
        (" $argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", False),
    ],
    ids=["argon2id", "argon2i", "plain", "bcrypt", "empty", "leading-space"],
)
def test_valid_hash_tells_an_argon2_hash_from_a_plain_password(value: str, valid: bool) -> None:
    assert valid_hash(value) is valid


# --- cached Basic credentials ------------------------------------------------------------------------------------


def test_a_new_password_ends_cached_basic_credentials_at_once(open_auth: Callable[..., Auth], clock: Clock) -> None:
    gateway, cli = open_auth({}), open_auth({})  # `hallops users passwd` changes the file from another process
    cli.add_user("li", Role.TECHNICIAN, "fix-it-now-please", "李工")
    old = basic_header("li:fix-it-now-please")
    assert gateway.basic(old) == LI
    assert gateway.basic(old) == LI  # from the cache
    cli.set_password("li", "a long new one")
    assert gateway.basic(old) is None
    assert gateway.basic(basic_header("li:a long new one")) == LI


def test_a_name_removed_and_added_again_does_not_take_the_old_password_or_role(
    open_auth: Callable[..., Auth], clock: Clock
) -> None:
    gateway, cli = open_auth({}), open_auth({})
    cli.add_user("li", Role.TECHNICIAN, "fix-it-now-please")
    technician = basic_header("li:fix-it-now-please")
    assert gateway.basic(technician) == User("li", Role.TECHNICIAN)
    cli.remove_user("li")
    assert gateway.basic(technician) is None
    cli.add_user("li", Role.ADMINISTRATOR, "another admin password")
    assert gateway.basic(technician) is None  # not an administrator with the technician's password
    assert gateway.basic(basic_header("li:another admin password")) == User("li", Role.ADMINISTRATOR)


def test_a_role_changed_in_the_configuration_applies_to_cached_basic_credentials(
    open_auth: Callable[..., Auth], accounts: dict[str, Account], clock: Clock
) -> None:
    auth = open_auth(accounts)
    header = basic_header("li:fix-it-now")
    assert auth.basic(header) == LI
    auth.configured["li"] = Account(User("li", Role.MANAGER, "李工"), accounts["li"].password_hash)
    assert auth.basic(header) == User("li", Role.MANAGER, "李工")


# --- bounded password checks -------------------------------------------------------------------------------------


def hold(gate: HashGate) -> Callable[[], object]:
    """A place held by another caller (a context of its own); returns what lets it go."""
    context, place = contextvars.Context(), gate.place()
    context.run(place.__enter__)
    return lambda: context.run(place.__exit__, None, None, None)


def test_a_full_hash_gate_refuses_at_once_and_frees_its_places() -> None:
    gate = HashGate(at_once=1, waiting=1)
    first, second = hold(gate), hold(gate)  # one checking, one waiting for its turn
    with pytest.raises(Busy) as caught, gate.place():
        pass
    assert caught.value.retry_after_s > 0
    with pytest.raises(Busy):
        gate.run(lambda: "hashed")
    first()
    with gate.place(), gate.place():  # a caller's own checks share its place
        assert gate.run(lambda: "hashed") == "hashed"
    second()


def test_a_place_shared_with_a_worker_thread_is_held_until_the_worker_ends() -> None:
    gate = HashGate(at_once=1, waiting=0)
    started, finish = threading.Event(), threading.Event()

    def check() -> str:
        started.set()
        finish.wait(timeout=5)
        return "checked"

    with gate.place():  # a route's place, handed to its worker thread with the context (as asyncio.to_thread does)
        context = contextvars.copy_context()
        worker = threading.Thread(target=lambda: context.run(gate.run, check))
        worker.start()
        assert started.wait(timeout=5)
    # the route is gone (its caller hung up), the check still runs: its place is not given to another
    with pytest.raises(Busy), gate.place():
        pass
    finish.set()
    worker.join(timeout=5)
    with gate.place():
        pass


def test_an_unknown_name_costs_one_check_against_a_stand_in_of_the_hashers_cost(
    open_auth: Callable[..., Auth], accounts: dict[str, Account], hasher: PasswordHasher
) -> None:
    stand_in = stand_in_hash(PasswordHasher())  # the production cost
    assert extract_parameters(stand_in) == profiles.RFC_9106_LOW_MEMORY
    assert stand_in_hash(hasher) != stand_in_hash(hasher)  # a salt of its own
    with pytest.raises(VerifyMismatchError):
        hasher.verify(stand_in_hash(hasher), "")


# --- open mode: who is local ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("client", "host", "local"),
    [
        ("127.0.0.1", "127.0.0.1:8080", True),
        ("127.0.0.1", "localhost", True),
        ("127.0.0.1", "LOCALHOST:8080", True),
        ("::1", "[::1]:8080", True),
        ("::1", "[::1]", True),
        ("::ffff:127.0.0.1", "127.0.0.1", True),
        ("127.0.0.1", "evil.example", False),  # DNS rebinding: the page's own name
        ("127.0.0.1", "localhost.evil.example:8080", False),
        ("127.0.0.1", "", False),  # no Host header
        ("127.0.0.1", "[::1", False),
        ("192.0.2.7", "127.0.0.1:8080", False),  # from the LAN, whatever it says
        ("testclient", "localhost", False),
        ("", "localhost", False),
    ],
)
def test_only_a_loopback_caller_naming_loopback_is_local(client: str, host: str, local: bool) -> None:
    assert loopback(client, host) is local


# --- the audit trail ------------------------------------------------------------------------------------------------


def test_signing_in_and_out_failures_and_throttling_are_audited_without_passwords(
    tmp_path: Path, open_auth: Callable[..., Auth], accounts: dict[str, Account], clock: Clock
) -> None:
    auth = open_auth(accounts)
    signed_in = auth.login("wang", "tidal:2025", "192.0.2.10")
    assert signed_in is not None
    auth.logout(signed_in[1], "192.0.2.10")
    assert auth.basic(basic_header("li:fix-it-now"), "192.0.2.11") == LI
    assert auth.basic(basic_header("li:fix-it-now"), "192.0.2.11") == LI  # a script polling: one sign-in audited
    gateway_store = Store(tmp_path / "hallops.db")  # the gateway appends on its own connection meanwhile
    try:
        gateway_store.audit.append([Entry(clock(), "wang", "alert.acknowledge", "fp1", {})])
        for _ in range(FAILURES_ALLOWED):
            assert auth.login("li", "secret-guess-1", "192.0.2.99") is None
        for _ in range(3):
            with pytest.raises(Throttled):
                auth.login("li", "secret-guess-2", "192.0.2.99")
        rows = gateway_store.audit.rows()
        assert [(r.entry.actor, r.entry.action, r.entry.subject) for r in rows] == [
            ("wang", "session.sign_in", "wang"),
            ("wang", "session.sign_out", "wang"),
            ("li", "session.sign_in", "li"),
            ("wang", "alert.acknowledge", "fp1"),
            *[("anonymous", "session.sign_in_failed", "li")] * FAILURES_ALLOWED,
            ("anonymous", "session.throttled", "li"),  # once for the window, not per attempt
        ]
        assert rows[0].entry.detail == {"client": "192.0.2.10", "method": "password"}
        assert rows[2].entry.detail == {"client": "192.0.2.11", "method": "basic"}
        assert rows[4].entry.detail == {"client": "192.0.2.99", "method": "password"}
        assert rows[-1].entry.detail["scope"] == "name and address"
        assert "secret-guess" not in repr(rows) and "tidal:2025" not in repr(rows)
        assert verify(rows, gateway_store.audit.head()) == []
    finally:
        gateway_store.close()
