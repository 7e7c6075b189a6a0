"""`hallops users hash|add|list|remove|passwd` and `hallops tokens create|list|revoke`: who can sign in to the web UI
and API.

Owns their flags, the password prompt's use, and the audit entry each change appends (user.add, user.remove,
user.password, token.create, token.revoke). It must not hold the account rules (roles, the password policy, hashing,
throttling, sessions, tokens and their expiry): `edge.auth` does that.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from devices.errors import ConfigError
from edge.audit import Entry
from edge.auth import TOKEN_DAYS, TOKEN_DAYS_MAX, Auth, Role, UserError, token_id
from edge.cli.database import missing, store_of
from edge.cli.terminal import cli_user, read_password, say
from edge.passwords import hash_password, password_problem

ROLES = [role.value for role in Role]  # as argparse shows them: plain strings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `users` (hash, add, list, remove, passwd) and `tokens` (create, list, revoke), in that order."""
    users = sub.add_parser("users", help="users of the web UI and API")
    users_sub = users.add_subparsers(dest="users_command", required=True, metavar="COMMAND")
    hash_ = users_sub.add_parser("hash", help="make a password hash for the config's users: section")
    hash_.add_argument("--user", default="NAME", help="user name for the YAML snippet printed")
    hash_.add_argument("--role", default="manager", choices=ROLES)
    hash_.set_defaults(func=cmd_users_hash)
    add = users_sub.add_parser("add", help="add a user to the gateway's database (asks for the password)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--name", dest="display", help="the name the UI shows, e.g. 王经理")
    add.add_argument("--db", type=Path, required=True, help="the gateway's SQLite file")
    add.set_defaults(func=cmd_users_add)
    ls = users_sub.add_parser("list", help="who can sign in: the database's users and the config file's")
    ls.add_argument("--db", type=Path, required=True)
    ls.add_argument(
        "--config",
        type=Path,
        help="read the config file's users from this file (default: as recorded "
        "in the database when the gateway last started)",
    )
    ls.set_defaults(func=cmd_users_list)
    rm = users_sub.add_parser("remove", help="remove a user, with its sessions and API tokens")
    rm.add_argument("name")
    rm.add_argument("--db", type=Path, required=True)
    rm.set_defaults(func=cmd_users_remove)
    pw = users_sub.add_parser("passwd", help="a database user's new password (asks for it; its sessions end)")
    pw.add_argument("name")
    pw.add_argument("--db", type=Path, required=True)
    pw.set_defaults(func=cmd_users_passwd)

    tokens = sub.add_parser("tokens", help="API tokens for integrations (Authorization: Bearer …)")
    tokens_sub = tokens.add_subparsers(dest="tokens_command", required=True, metavar="COMMAND")
    create = tokens_sub.add_parser("create", help="make a token for a user and print it (shown once)")
    create.add_argument("user", nargs="?", metavar="USER", help="the user the token acts as")
    create.add_argument("--user", dest="user_flag", metavar="USER", help="the same, as a flag")
    create.add_argument("--label", default="", help="what it is for, e.g. the city platform")
    create.add_argument(
        "--days",
        type=int,
        default=TOKEN_DAYS,
        help=f"it expires after this many days (default {TOKEN_DAYS}, at most {TOKEN_DAYS_MAX})",
    )
    create.add_argument("--db", type=Path, required=True)
    create.add_argument("--config", type=Path, help="the gateway's config, for a user defined in its users:")
    create.set_defaults(func=cmd_tokens_create)
    tls = tokens_sub.add_parser(
        "list", help="every token: id, user, label, created, expires, last used (not the token)"
    )
    tls.add_argument("--db", type=Path, required=True)
    tls.set_defaults(func=cmd_tokens_list)
    revoke = tokens_sub.add_parser("revoke", help="revoke a token by its id or label: it stops working at once")
    revoke.add_argument("token", metavar="ID-OR-LABEL")
    revoke.add_argument("--db", type=Path, required=True)
    revoke.set_defaults(func=cmd_tokens_revoke)


def cmd_users_hash(args: argparse.Namespace) -> int:
    """Prompt for a password (twice on a terminal; one line on a pipe) and print the config snippet with its hash."""
    password = read_password("hallops users hash")
    if password is None:
        return 1
    if (problem := password_problem(password, "" if args.user == "NAME" else args.user)) is not None:
        say(f"hallops users hash: {problem}")
        return 1
    print(f"users:\n  {args.user}:\n    role: {args.role}\n    password_hash: '{hash_password(password)}'")
    return 0


@dataclass(frozen=True, slots=True)
class Done:
    """A change made: what to print, and its audit entry."""

    said: str
    action: str
    subject: str
    detail: dict[str, object] = field(default_factory=dict)


def _user_change(db: Path, command: str, change: Callable[[Auth], Done], config: Path | None = None) -> int:
    """Run one change on the database's users or tokens and append it to the audit log; a refused change says why."""
    configured = {}
    if config is not None:
        from edge.config import load_config  # noqa: PLC0415 - keep `hallops --help` fast

        configured = load_config(config).accounts()
    store = store_of(db, "hallops users")  # creates the file on a first start, like the gateway would
    auth = Auth(configured, db)
    try:
        done = change(auth)
        store.audit.append([Entry(time.time(), cli_user(), done.action, done.subject, done.detail)])
    except UserError as exc:
        say(f"{command}: {exc}")
        return 1
    finally:
        auth.close()
        store.close()
    print(done.said)
    return 0


def cmd_users_add(args: argparse.Namespace) -> int:
    password = read_password("hallops users add")
    if password is None:
        return 1

    def add(auth: Auth) -> Done:
        user = auth.add_user(args.name, Role(args.role), password, args.display)
        return Done(f"added {user.name} ({user.role.value}) to {args.db}", "user.add", args.name, {"role": args.role})

    return _user_change(args.db, "hallops users add", add)


def cmd_users_remove(args: argparse.Namespace) -> int:
    def remove(auth: Auth) -> Done:
        auth.remove_user(args.name)
        return Done(f"removed {args.name} (and its sessions and tokens) from {args.db}", "user.remove", args.name)

    return _user_change(args.db, "hallops users remove", remove)


def cmd_users_passwd(args: argparse.Namespace) -> int:
    password = read_password("hallops users passwd")
    if password is None:
        return 1

    def change(auth: Auth) -> Done:
        auth.set_password(args.name, password)
        return Done(f"new password for {args.name} in {args.db}; its sessions have ended", "user.password", args.name)

    return _user_change(args.db, "hallops users passwd", change)


def cmd_tokens_create(args: argparse.Namespace) -> int:
    """Print a new token on stdout (for a script to capture), its id and expiry on stderr."""
    user = args.user or args.user_flag
    if user is None or (args.user and args.user_flag and args.user != args.user_flag):
        say("hallops tokens create: name one user: hallops tokens create USER --db FILE")
        return 2

    def create(auth: Auth) -> Done:
        token = auth.create_token(user, args.label, args.days)
        made = next(t for t in auth.tokens() if t.id == token_id(token))
        say(
            f"token {made.id} for {user}, expires {_when(made.expires_at)}; revoke with hallops tokens revoke {made.id}"
        )
        detail: dict[str, object] = {"id": made.id, "label": args.label, "days": args.days}
        return Done(token, "token.create", user, detail)

    return _user_change(args.db, "hallops tokens create", create, args.config)


def cmd_tokens_list(args: argparse.Namespace) -> int:
    """One line per token: id, user, label, created, expires (or expired), last used. Never the token."""
    if missing(args.db, "hallops tokens list"):
        return 2
    auth = Auth({}, args.db)
    try:
        tokens = auth.tokens()
    finally:
        auth.close()
    now = time.time()
    for t in tokens:
        expires = ("expired " if t.expires_at <= now else "") + _when(t.expires_at)
        used = _when(t.last_used_at) if t.last_used_at is not None else "never used"
        print(f"{t.id}\t{t.user}\t{t.label}\t{_when(t.created_at)}\t{expires}\t{used}")
    if not tokens:
        say(f"no API tokens in {args.db}")
    return 0


def cmd_tokens_revoke(args: argparse.Namespace) -> int:
    def revoke(auth: Auth) -> Done:
        gone = auth.revoke_token(args.token)
        said = f"revoked token {gone.id} ({gone.label or 'no label'}) of {gone.user}"
        return Done(said, "token.revoke", gone.user, {"id": gone.id, "label": gone.label})

    return _user_change(args.db, "hallops tokens revoke", revoke)


def _when(at: float) -> str:
    """A time as this box's local clock shows it, to the minute."""
    return datetime.fromtimestamp(at).astimezone().strftime("%Y-%m-%d %H:%M %z")


def cmd_users_list(args: argparse.Namespace) -> int:
    """Every user who can sign in: the database's (`users add`) and the config file's `users:` — from `--config`,
    else as the gateway recorded them at its last start. One line each: name, role, display name, where from."""
    from edge.gateway import CONFIG_USERS  # noqa: PLC0415 - keep `hallops --help` fast

    if missing(args.db, "hallops users list"):
        return 2
    configured: dict[str, tuple[str, str | None]]
    if args.config is not None:
        from edge.config import load_config  # noqa: PLC0415

        try:
            cfg = load_config(args.config, {})
        except ConfigError as exc:
            say(f"hallops users list: {exc}")
            return 2
        configured = {name: (u.role, u.name) for name, u in cfg.users.items()}
        origin = f"config {args.config}"
    else:
        store = store_of(args.db, "hallops users list")
        try:
            recorded = json.loads(store.meta.get(CONFIG_USERS) or "{}")
        finally:
            store.close()
        configured = {name: (u["role"], u.get("name")) for name, u in recorded.items()}
        origin = "config (as the gateway last started)"
    auth = Auth({}, args.db)
    try:
        rows = [
            (
                a.user.name,
                a.user.role.value,
                a.user.display,
                "database, not used: the config has this name" if a.user.name in configured else "database",
            )
            for a, _ in auth.accounts()
        ]
    finally:
        auth.close()
    rows += [(name, role, display, origin) for name, (role, display) in configured.items()]
    for name, role, display, where in sorted(rows):
        print(f"{name}\t{role}\t{display or ''}\t{where}")
    if not rows:
        say(f"no users in {args.db}: add the first with hallops users add NAME --role administrator --db {args.db}")
    return 0
