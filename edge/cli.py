"""The `hallops` command: gateway, simulate, demo, devices.

Every subcommand prints what it is doing on stderr, turns bad input into a list of problems with field paths
(exit 2), and stops cleanly on Ctrl-C (exit 130 for an interrupted run, 0 for a server told to stop).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from devices.errors import ConfigError
from devices.topics import DeviceType

if TYPE_CHECKING:
    from edge.auth import Auth
    from edge.store import Store
    from edge.versions import RuleVersions

log = logging.getLogger("hallops")


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _http(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not HOST:PORT (e.g. 127.0.0.1:8080)")
    return host.strip("[]") or "127.0.0.1", int(port)


def _positive(value: str) -> float:
    try:
        v = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if v <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return v


def _run(main: Callable[[asyncio.Event], Coroutine[Any, Any, int]]) -> int:
    """Run `main(stop)` with Ctrl-C and SIGTERM setting `stop` (a second Ctrl-C interrupts hard)."""

    async def runner() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, _stopper(stop, loop, sig))
        return await main(stop)

    try:
        return asyncio.run(runner())
    except ConfigError as exc:
        _say(f"hallops: {exc}")
        return 2


def _stopper(stop: asyncio.Event, loop: asyncio.AbstractEventLoop, sig: int) -> Callable[[], None]:
    def handler() -> None:
        if stop.is_set():
            loop.remove_signal_handler(sig)
            signal.raise_signal(sig)
        _say("hallops: stopping…")
        stop.set()

    return handler


async def _cancel(task: asyncio.Task[Any]) -> None:
    """Cancel and wait. Re-cancels: on Python 3.11 `asyncio.wait_for` (used inside aiomqtt) can swallow a
    cancellation that lands just as its inner future completes."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.5)
    with contextlib.suppress(asyncio.CancelledError, Exception):
        task.result()


# ---------------------------------------------------------------------------------------------- gateway


def _gateway_overrides(args: argparse.Namespace) -> dict[str, dict[str, object]]:
    http = args.http
    return {
        "mqtt": {"url": args.broker},
        "hall": {"id": args.hall},
        "storage": {"path": str(args.db) if args.db else None},
        "http": {"host": http[0], "port": http[1]} if http else {},
        "clock": {"mode": args.clock, "speed": args.speed},
    }


def cmd_gateway(args: argparse.Namespace) -> int:
    from edge.config import load_config  # noqa: PLC0415 - keep `hallops --help` fast
    from edge.server import serve  # noqa: PLC0415

    try:
        cfg = load_config(args.config, _gateway_overrides(args))
    except ConfigError as exc:
        _say(f"hallops gateway: {exc}")
        return 2

    def ready(gateway: object, url: str) -> None:
        _say(f"hallops gateway: hall {cfg.hall.id} · broker {cfg.mqtt.url} · db {cfg.storage.path} · {url}")

    async def main(stop: asyncio.Event) -> int:
        await serve(cfg, stop, on_ready=ready)
        return 0

    return _run(main)


# ---------------------------------------------------------------------------------------------- users


def cmd_users_hash(args: argparse.Namespace) -> int:
    """Prompt for a password (twice on a terminal; one line on a pipe) and print the config snippet with its hash."""
    from edge.auth import hash_password  # noqa: PLC0415

    password = _read_password("hallops users hash")
    if password is None:
        return 1
    print(f"users:\n  {args.user}:\n    role: {args.role}\n    password_hash: '{hash_password(password)}'")
    return 0


# ---------------------------------------------------------------------------------------------- audit


def _open_store(db: Path, command: str = "hallops audit") -> Store | None:
    from edge.store import Store  # noqa: PLC0415

    if not db.exists():
        _say(f"{command}: no such database: {db}")
        return None
    return Store(db)


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from edge.audit import verify  # noqa: PLC0415

    store = _open_store(args.db)
    if store is None:
        return 2
    try:
        rows = store.audit_rows()
        findings = verify(rows, store.audit_head())
    finally:
        store.close()
    for finding in findings:
        _say(f"audit: {finding}")
    if findings:
        _say(f"audit: BROKEN — {len(findings)} problem(s) in {len(rows)} rows of {args.db}")
        return 1
    _say(f"audit: intact — {len(rows)} rows, chain and head verified")
    return 0


def cmd_audit_list(args: argparse.Namespace) -> int:
    store = _open_store(args.db)
    if store is None:
        return 2
    try:
        for r in store.audit_rows(args.limit):
            at = datetime.fromtimestamp(r.entry.at).astimezone().isoformat(timespec="seconds")
            detail = json.dumps(r.entry.detail, ensure_ascii=False, sort_keys=True)
            print(f"{r.id}\t{at}\t{r.entry.actor}\t{r.entry.action}\t{r.entry.subject}\t{detail}")
    finally:
        store.close()
    return 0


def _read_password(command: str) -> str | None:
    """Twice on a terminal; one line on a pipe (scripts). None (and a message) if unusable."""
    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            _say(f"{command}: the two passwords differ")
            return None
    else:
        password = sys.stdin.readline().rstrip("\n")
    if len(password) < 8:
        _say(f"{command}: use at least 8 characters")
        return None
    return password


def _user_change(
    db: Path,
    command: str,
    change: Callable[[Auth], str],
    action: str,
    subject: str,
    config: Path | None = None,
    **detail: object,
) -> int:
    """Run one change on the database's users and append it to the audit log; a refused change says why."""
    from edge.audit import Entry  # noqa: PLC0415
    from edge.auth import Auth, UserError  # noqa: PLC0415
    from edge.store import Store  # noqa: PLC0415

    configured = {}
    if config is not None:
        from edge.config import load_config  # noqa: PLC0415

        configured = load_config(config).accounts()
    store = Store(db)  # creates the file on a first start, like the gateway would
    auth = Auth(configured, db)
    try:
        said = change(auth)
        store.append_audit([Entry(time.time(), f"cli:{getpass.getuser()}", action, subject, detail)])
    except UserError as exc:
        _say(f"{command}: {exc}")
        return 1
    finally:
        auth.close()
        store.close()
    print(said)
    return 0


def cmd_users_add(args: argparse.Namespace) -> int:
    from edge.auth import Role  # noqa: PLC0415

    password = _read_password("hallops users add")
    if password is None:
        return 1

    def add(auth: Auth) -> str:
        user = auth.add_user(args.name, Role(args.role), password, args.display)
        return f"added {user.name} ({user.role.value}) to {args.db}"

    return _user_change(args.db, "hallops users add", add, "user.add", args.name, role=args.role)


def cmd_users_remove(args: argparse.Namespace) -> int:
    def remove(auth: Auth) -> str:
        auth.remove_user(args.name)
        return f"removed {args.name} (and its sessions and tokens) from {args.db}"

    return _user_change(args.db, "hallops users remove", remove, "user.remove", args.name)


def cmd_users_passwd(args: argparse.Namespace) -> int:
    password = _read_password("hallops users passwd")
    if password is None:
        return 1

    def change(auth: Auth) -> str:
        auth.set_password(args.name, password)
        return f"new password for {args.name} in {args.db}; its sessions have ended"

    return _user_change(args.db, "hallops users passwd", change, "user.password", args.name)


def cmd_tokens_create(args: argparse.Namespace) -> int:
    return _user_change(
        args.db, "hallops tokens create", lambda auth: auth.create_token(args.user, args.label), "token.create",
        args.user, args.config, label=args.label,
    )  # fmt: skip


def cmd_users_list(args: argparse.Namespace) -> int:
    """Every user who can sign in: the database's (`users add`) and the config file's `users:` — from `--config`,
    else as the gateway recorded them at its last start. One line each: name, role, display name, where from."""
    from edge.auth import Auth  # noqa: PLC0415
    from edge.gateway import CONFIG_USERS  # noqa: PLC0415

    if not args.db.exists():
        _say(f"hallops users list: no such database: {args.db}")
        return 2
    configured: dict[str, tuple[str, str | None]]
    if args.config is not None:
        from edge.config import load_config  # noqa: PLC0415

        try:
            cfg = load_config(args.config, {})
        except ConfigError as exc:
            _say(f"hallops users list: {exc}")
            return 2
        configured = {name: (u.role, u.name) for name, u in cfg.users.items()}
        origin = f"config {args.config}"
    else:
        from edge.store import Store  # noqa: PLC0415

        store = Store(args.db)
        try:
            recorded = json.loads(store.meta(CONFIG_USERS) or "{}")
        finally:
            store.close()
        configured = {name: (u["role"], u.get("name")) for name, u in recorded.items()}
        origin = "config (as the gateway last started)"
    auth = Auth({}, args.db)
    try:
        rows = [(a.user.name, a.user.role.value, a.user.display,
                 "database, not used: the config has this name" if a.user.name in configured else "database")
                for a, _ in auth.accounts()]  # fmt: skip
    finally:
        auth.close()
    rows += [(name, role, display, origin) for name, (role, display) in configured.items()]
    for name, role, display, where in sorted(rows):
        print(f"{name}\t{role}\t{display or ''}\t{where}")
    if not rows:
        _say(f"no users in {args.db}: add the first with hallops users add NAME --role administrator --db {args.db}")
    return 0


def cmd_device_credentials(args: argparse.Namespace) -> int:
    from edge.audit import Entry  # noqa: PLC0415
    from edge.credentials import CredentialError, Registry  # noqa: PLC0415
    from edge.store import Store  # noqa: PLC0415

    if args.action == "list":
        if not args.db.exists():
            _say(f"hallops devices list: no such database: {args.db}")
            return 2
        registry = Registry(args.db, Path("/dev/null"), Path("/dev/null"))
        try:
            for c in registry.list():
                state = "revoked" if c.revoked_at is not None else "active"
                print(f"{c.device_id}\t{c.device_type}\t{c.hall}\t{state}")
        finally:
            registry.close()
        return 0
    store = Store(args.db)
    registry = Registry(args.db, args.password_file, args.acl_file)
    try:
        if args.action == "add":
            password = registry.add(args.device_id, args.type, args.hall)
            print(f"username: {args.device_id}\npassword: {password}")
            detail: dict[str, object] = {"type": args.type, "hall": args.hall}
        else:
            registry.revoke(args.device_id)
            print(f"revoked {args.device_id}")
            detail = {}
        store.append_audit([Entry(time.time(), f"cli:{getpass.getuser()}", f"device.{args.action}", args.device_id,
                                  detail)])  # fmt: skip
    except (CredentialError, ValueError) as exc:
        _say(f"hallops devices {args.action}: {exc}")
        return 1
    finally:
        registry.close()
        store.close()
    _say("hallops devices: now make mosquitto re-read its files (systemctl reload mosquitto, or SIGHUP)")
    return 0


# ---------------------------------------------------------------------------------------------- demo


def cmd_demo(args: argparse.Namespace) -> int:
    from devices.simulator.publisher import run_simulation  # noqa: PLC0415
    from devices.simulator.scenario import load_scenario  # noqa: PLC0415
    from edge.broker import EmbeddedBroker  # noqa: PLC0415
    from edge.demo import DEMO_PASSWORD, DEMO_USERS, demo_day, scenario_config  # noqa: PLC0415
    from edge.server import serve  # noqa: PLC0415

    try:
        scenario = load_scenario(args.scenario)
    except ConfigError as exc:
        _say(f"hallops demo: {exc}")
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="hallops-demo-"))
    db = args.db or workdir / "hallops.db"

    async def main(stop: asyncio.Event) -> int:
        _say("hallops demo: starting the broker…")
        async with EmbeddedBroker() as broker:
            _say(f"hallops demo: {broker.kind} broker on {broker.url}")
            cfg = scenario_config(scenario, broker.url, db, args.http, args.speed, users=DEMO_USERS)
            gateway_ready = asyncio.Event()

            def ready(gateway: object, url: str) -> None:
                _say(f"hallops demo: gateway for {scenario.hall.name} ({scenario.hall.name_en}), db {db}")
                _say(f"hallops demo: open {url}  —  Ctrl-C stops everything")
                accounts = ", ".join(f"{name} ({role})" for name, (role, _) in DEMO_USERS.items())
                _say(f"hallops demo: sign in as {accounts}; password: {DEMO_PASSWORD}")
                gateway_ready.set()

            gateway = asyncio.create_task(serve(cfg, stop, on_ready=ready))
            waiter = asyncio.create_task(gateway_ready.wait())
            await asyncio.wait({gateway, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if gateway.done():
                waiter.cancel()
                await gateway  # raises the start-up error
                return 1
            start, end = demo_day(scenario, datetime.now(ZoneInfo(scenario.hall.timezone)).date())
            _say(f"hallops demo: simulating {start:%A %Y-%m-%d} {start:%H:%M}–{end:%H:%M} at {args.speed:g}× speed")
            sim = asyncio.create_task(
                run_simulation(
                    scenario,
                    broker.url,
                    speed=args.speed,
                    seed=args.seed,
                    start=start,
                    end=end,
                    progress=lambda line: _say(f"simulator: {line}"),
                    obey_commands=True,
                )
            )
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({sim, stopper, gateway}, return_when=asyncio.FIRST_COMPLETED)
            if sim.done() and not stop.is_set():
                if sim.exception() is not None:
                    _say(f"hallops demo: the simulator failed: {sim.exception()}")
                else:
                    _say("hallops demo: the simulated day is over; the page stays up — Ctrl-C to stop")
                await asyncio.wait({stopper, gateway}, return_when=asyncio.FIRST_COMPLETED)
            stop.set()
            await _cancel(sim)
            await gateway
            stopper.cancel()
        _say("hallops demo: stopped")
        return 0

    try:
        return _run(main)
    finally:  # the demo's database and broker files live only as long as the demo
        shutil.rmtree(workdir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------- rules


def cmd_rules_validate(args: argparse.Namespace) -> int:
    from rules.language import BUILTIN, load_rules, summarise  # noqa: PLC0415

    files: list[Path] = args.files or [BUILTIN]
    bad = 0
    for path in files:
        try:
            rules = load_rules(path)
        except ConfigError as exc:
            bad += 1
            print(f"{path}: {len(exc.problems)} error(s)")
            for problem in exc.problems:
                print(f"  {problem}")
            continue
        kinds = summarise(rules)
        events = sum(1 for k in kinds if k.kind == "event")
        off = sum(1 for r in rules.rules if not r.enabled)
        print(
            f"{path}: ok — {len(kinds)} rules ({len(kinds) - events} conditions, {events} event rules"
            f"{f', {off} switched off' if off else ''}), {len(rules.schedules)} schedules, "
            f"{len(rules.inhibit)} inhibitions"
        )
    return 1 if bad else 0


def cmd_rules_keygen(args: argparse.Namespace) -> int:
    from cloud_sync.bundle import new_key  # noqa: PLC0415

    private, public = new_key()
    args.out.mkdir(parents=True, exist_ok=True)
    key, pub = args.out / "bundle.key", args.out / "bundle.pub"
    if key.exists():
        _say(f"hallops rules keygen: {key} exists; not overwriting a signing key")
        return 1
    key.touch(mode=0o600)  # readable by its owner only, before the secret is in it
    key.write_text(private + "\n", encoding="ascii")
    pub.write_text(public + "\n", encoding="ascii")
    _say(f"hallops rules keygen: {key} (keep it secret, off the hall's box) and {pub} (for the gateways)")
    return 0


def cmd_rules_sign(args: argparse.Namespace) -> int:
    from cloud_sync.bundle import BundleError, sign  # noqa: PLC0415

    try:
        bundle = sign(args.file.read_text(encoding="utf-8"), args.version, args.key.read_text().strip(), args.hall)
    except (BundleError, OSError, ValueError) as exc:
        _say(f"hallops rules sign: {exc}")
        return 1
    args.out.write_bytes(bundle)
    _say(f"hallops rules sign: {args.out} — version {args.version} for hall {args.hall}")
    return 0


def cmd_rules_apply(args: argparse.Namespace) -> int:
    """Verify a bundle, then store its rules as a version and put it in force; a refused bundle changes nothing."""
    from cloud_sync.bundle import BundleError, verify  # noqa: PLC0415
    from edge.audit import Entry  # noqa: PLC0415
    from edge.versions import RuleVersions  # noqa: PLC0415

    store = _open_store(args.db, "hallops rules apply")
    if store is None:
        return 2
    actor = f"cli:{getpass.getuser()}"
    try:
        applied = int(store.meta("rules_bundle_version") or 0)
        try:
            bundle = verify(args.bundle.read_bytes(), args.public_key.read_text().strip(), args.hall, applied)
        except (BundleError, OSError) as exc:
            _say(f"hallops rules apply: refused — {exc}")
            return 1
        versions = RuleVersions(store)
        version, _ = versions.add(bundle.rules_yaml, f"bundle:{bundle.version}", f"signed bundle {bundle.version}",
                                  f"bundle:{bundle.version}")  # fmt: skip
        versions.activate(version.number, actor, f"signed bundle {bundle.version}")
        store.set_meta("rules_bundle_version", str(bundle.version))
        detail = {"hall": bundle.hall, "rules": len(bundle.rules.rules), "was": applied, "rule_version": version.number}
        store.append_audit([Entry(time.time(), actor, "rules.apply_bundle", str(bundle.version), detail)])
        if args.rules_file is not None:  # keep the configured file in step, for a gateway started afresh
            tmp = args.rules_file.with_suffix(".tmp")
            tmp.write_text(bundle.rules_yaml, encoding="utf-8")
            tmp.replace(args.rules_file)
    finally:
        store.close()
    _say(f"hallops rules apply: bundle {bundle.version} ({len(bundle.rules.rules)} rules) is rule version "
         f"{version.number}, in force (a running gateway takes it up within a second)")  # fmt: skip
    return 0


def _broker_url(value: str) -> str:
    from cloud_sync.delivery import Broker  # noqa: PLC0415

    try:
        Broker.from_url(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def cmd_rules_push(args: argparse.Namespace) -> int:
    """Publish a signed bundle, retained, where the hall it names (or every hall) takes it; the gateways verify it.
    Exit 2: the file or a flag is wrong; exit 1: the broker could not be reached or did not take the bundle."""
    from cloud_sync.bundle import BundleError  # noqa: PLC0415
    from cloud_sync.delivery import Broker, addressed_to, applied_topic, push  # noqa: PLC0415
    from devices.errors import SyncError  # noqa: PLC0415

    try:
        raw = args.bundle.read_bytes()
        password = args.password_file.read_text(encoding="utf-8").strip() if args.password_file else None
    except OSError as exc:
        _say(f"hallops rules push: cannot read {exc.filename}: {exc.strerror}")
        return 2
    try:
        hall, version = addressed_to(raw)
    except BundleError as exc:
        _say(f"hallops rules push: {args.bundle}: {exc}")
        return 2
    if args.tls_ca is not None and not args.tls_ca.is_file():
        _say(f"hallops rules push: --tls-ca: no such file: {args.tls_ca}")
        return 2
    broker = Broker.from_url(args.broker, args.username, password, args.tls_ca)
    try:
        topic = push(raw, broker, timeout_s=args.timeout)
    except SyncError as exc:
        _say(f"hallops rules push: {exc}")
        return 1
    reports = applied_topic("+" if hall == "*" else hall)
    _say(f"hallops rules push: bundle {version} for {'every hall' if hall == '*' else 'hall ' + hall} is on {topic} "
         f"(retained); each gateway verifies it and reports on {reports}")  # fmt: skip
    return 0


def _on_versions(args: argparse.Namespace, command: str, work: Callable[[RuleVersions], str | None]) -> int:
    """One rule-version command on the gateway's database: says what `work` returns; an unknown version, a refused
    change or invalid rules exit 1 with the reason, a missing database 2."""
    from edge.versions import RuleVersions  # noqa: PLC0415

    store = _open_store(args.db, command)
    if store is None:
        return 2
    try:
        said = work(RuleVersions(store))
    except KeyError as exc:
        _say(f"{command}: no rule version {exc.args[0]}")
        return 1
    except ConfigError as exc:
        print(f"{exc.source}: {len(exc.problems)} error(s)")
        for problem in exc.problems:
            print(f"  {problem}")
        return 1
    except (LookupError, ValueError, OSError) as exc:
        _say(f"{command}: {exc}")
        return 1
    finally:
        store.close()
    if said:
        _say(said)
    return 0


def _cli_user() -> str:
    return f"cli:{getpass.getuser()}"


def cmd_rules_versions(args: argparse.Namespace) -> int:
    def listing(versions: RuleVersions) -> None:
        active, shadow = versions.active_number(), versions.shadow_number()
        print("version\tin force\tcreated\tauthor\torigin\trules\tcomment")
        for v in reversed(versions.all()):
            mark = "active" if v.number == active else "shadow" if v.number == shadow else ""
            at = datetime.fromtimestamp(v.created_at).astimezone().isoformat(timespec="seconds")
            print(f"{v.number}\t{mark}\t{at}\t{v.author}\t{v.origin}\t{len(v.rules.rules)}\t{v.comment}")

    return _on_versions(args, "hallops rules versions", listing)


def cmd_rules_add(args: argparse.Namespace) -> int:
    def add(versions: RuleVersions) -> str:
        source = args.file.read_text(encoding="utf-8")
        v, created = versions.add(source, _cli_user(), args.comment, "cli", name=str(args.file))
        if args.activate:
            versions.activate(v.number, _cli_user(), args.comment)
        state = "new version" if created else "the same rules are already version"
        then = ", in force" if args.activate else f"; put it in force with: hallops rules activate {v.number}"
        return f"hallops rules add: {state} {v.number} ({len(v.rules.rules)} rules){then}"

    return _on_versions(args, "hallops rules add", add)


def cmd_rules_activate(args: argparse.Namespace) -> int:
    command = f"hallops rules {args.command_name}"

    def activate(versions: RuleVersions) -> str:
        if args.command_name == "rollback":
            v = versions.rollback(_cli_user(), args.comment)
        else:
            v = versions.activate(args.number, _cli_user(), args.comment)
        return (f"{command}: version {v.number} in force (a running gateway takes it up within a second; the rules "
                "that did not change keep their timers)")  # fmt: skip

    return _on_versions(args, command, activate)


def cmd_rules_diff(args: argparse.Namespace) -> int:
    from edge.versions import diff  # noqa: PLC0415

    def show(versions: RuleVersions) -> None:
        old = versions.get(args.old)
        d = diff(old, versions.get(args.new if args.new is not None else versions.active_number() or 0))
        for label, ids in (("added", d.added), ("removed", d.removed), ("changed", d.changed)):
            print(f"# {label}: {', '.join(ids) or '—'}")
        if d.settings_changed:
            print("# schedules or inhibitions changed")
        sys.stdout.write(d.unified)

    return _on_versions(args, "hallops rules diff", show)


def cmd_rules_shadow(args: argparse.Namespace) -> int:
    def shadow(versions: RuleVersions) -> str:
        versions.set_shadow(None if args.off else args.number, _cli_user(), args.comment)
        if args.off:
            return "hallops rules shadow: stopped"
        return f"hallops rules shadow: version {args.number} runs in shadow (see the administrator page for its diff)"

    return _on_versions(args, "hallops rules shadow", shadow)


def _hall_time(text: str, tz: ZoneInfo) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=tz)


def cmd_rules_backtest(args: argparse.Namespace) -> int:
    from edge.backtest import backtest  # noqa: PLC0415
    from edge.config import load_config  # noqa: PLC0415
    from edge.store import Store  # noqa: PLC0415
    from edge.versions import RuleVersions, parse_source  # noqa: PLC0415

    try:
        cfg = load_config(args.config, {"storage": {"path": str(args.db)}} if args.db else {})
        candidate = parse_source(args.file.read_text(encoding="utf-8"), str(args.file))
    except ConfigError as exc:
        _say(str(exc))
        return 2
    except OSError as exc:
        _say(f"hallops rules backtest: {exc}")
        return 2
    tz = ZoneInfo(cfg.hall.timezone)
    try:
        start, end = _hall_time(args.from_, tz), _hall_time(args.to, tz)
    except ValueError as exc:
        _say(f"hallops rules backtest: --from/--to: {exc} (use 2026-11-23 or 2026-11-23T09:00)")
        return 2
    if end <= start:
        _say("hallops rules backtest: --to must be after --from")
        return 2
    if not cfg.storage.path.exists():
        _say(f"hallops rules backtest: no such database: {cfg.storage.path}")
        return 2
    store = Store(cfg.storage.path)
    try:
        versions = RuleVersions(store)
        number = args.against or versions.active_number()
        if number is None:
            _say("hallops rules backtest: the database has no rule version yet (start the gateway once)")
            return 2
        try:
            active = versions.get(number)
        except KeyError:
            _say(f"hallops rules backtest: no rule version {number}")
            return 2

        def progress(at: datetime) -> None:
            _say(f"  replaying {at.astimezone(tz):%Y-%m-%d %H:%M} …")

        _say(f"hallops rules backtest: {args.file} against version {number}, {start:%Y-%m-%d %H:%M} → "
             f"{end:%Y-%m-%d %H:%M} ({cfg.storage.path})")  # fmt: skip
        result = backtest(cfg, store, active.rules, candidate, start, end, step_s=args.step,
                          parallel=not args.serial, progress=progress)  # fmt: skip
    finally:
        store.close()
    body = result.to_dict(tz)
    if args.json:
        args.json.write_text(json.dumps(body, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"{result.events:,} events (+{result.warmup_events:,} warm-up) in {result.seconds:.1f} s — "
          f"{result.events_per_s:,.0f} events/s")
    print(f"{'rule':<28}{'version ' + str(number):>12}{'candidate':>12}{'both':>8}{'only active':>13}"
          f"{'only cand.':>12}")  # fmt: skip
    per_a, per_c = result.active.firings.per_rule(), result.candidate.firings.per_rule()
    diff_rules = result.diff.per_rule()
    for rule in sorted(set(per_a) | set(per_c)):
        d = diff_rules.get(rule, {})
        print(f"{rule:<28}{per_a.get(rule, 0):>12}{per_c.get(rule, 0):>12}{d.get('both', 0):>8}"
              f"{d.get('only_active', 0):>13}{d.get('only_candidate', 0):>12}")  # fmt: skip
    print(f"{'tickets':<28}{len(result.active.tickets):>12}{len(result.candidate.tickets):>12}")
    print(f"{'recommendations':<28}{len(result.active.recommendations):>12}{len(result.candidate.recommendations):>12}")
    for label, rows in (("only the candidate would fire", result.diff.only_candidate),
                        ("only version " + str(number) + " fired", result.diff.only_active)):  # fmt: skip
        for f in rows[: args.show]:
            labels = ",".join(f"{k}={v}" for k, v in sorted(f.labels.items()))
            print(f"  {label}: {f.fired_at.astimezone(tz):%m-%d %H:%M:%S} {f.rule} {labels}")
        if len(rows) > args.show:
            print(f"  … and {len(rows) - args.show} more ({label})")
    print("same alerts" if result.diff.same else f"different: {len(result.diff.only_active)} only in version "
          f"{number}, {len(result.diff.only_candidate)} only in the candidate")  # fmt: skip
    return 0


# ---------------------------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hallops", description="On-premises controller for government service halls (政务服务大厅)."
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    gw = sub.add_parser("gateway", help="run the edge gateway: MQTT ingest, hall state, HTTP API")
    gw.add_argument("--config", type=Path, help="YAML configuration (see docs/configuration.md)")
    gw.add_argument("--broker", help="mqtt://HOST:PORT (overrides mqtt.url)")
    gw.add_argument("--hall", help="hall id (overrides hall.id)")
    gw.add_argument("--db", type=Path, help="SQLite file (overrides storage.path)")
    gw.add_argument("--http", type=_http, help="HOST:PORT for the API and page (overrides http.*)")
    gw.add_argument("--clock", choices=["system", "device"], help="system clock, or follow device timestamps")
    gw.add_argument("--speed", type=_positive, help="with --clock device: hall seconds per wall second")
    gw.set_defaults(func=cmd_gateway)

    from devices.simulator import cli as sim_cli  # noqa: PLC0415

    sim = sub.add_parser("simulate", help="simulate a hall's devices on an MQTT broker")
    sim_cli.add_arguments(sim)
    sim.set_defaults(func=sim_cli.run)

    vis = sub.add_parser("vision", help="count people per zone from the cameras and publish it (see docs/vision.md)")
    vis.set_defaults(func=_vision)
    _vision_arguments(vis)

    demo = sub.add_parser("demo", help="broker + simulated hall + gateway + live page, in one command")
    demo.add_argument("--scenario", default="county", help="county, city, or a scenario YAML file")
    demo.add_argument("--speed", type=_positive, default=30.0, help="simulated seconds per real second (30)")
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--http", type=_http, default=("127.0.0.1", 8080), help="HOST:PORT (127.0.0.1:8080)")
    demo.add_argument("--db", type=Path, help="SQLite file (default: a new temporary one)")
    demo.set_defaults(func=cmd_demo)

    users = sub.add_parser("users", help="users of the web UI and API")
    users_sub = users.add_subparsers(dest="users_command", required=True, metavar="COMMAND")
    hash_ = users_sub.add_parser("hash", help="make a password hash for the config's users: section")
    hash_.add_argument("--user", default="NAME", help="user name for the YAML snippet printed")
    hash_.add_argument("--role", default="manager", choices=["manager", "technician", "administrator"])
    hash_.set_defaults(func=cmd_users_hash)
    add = users_sub.add_parser("add", help="add a user to the gateway's database (asks for the password)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=["manager", "technician", "administrator"])
    add.add_argument("--name", dest="display", help="the name the UI shows, e.g. 王经理")
    add.add_argument("--db", type=Path, required=True, help="the gateway's SQLite file")
    add.set_defaults(func=cmd_users_add)
    ls = users_sub.add_parser("list", help="who can sign in: the database's users and the config file's")
    ls.add_argument("--db", type=Path, required=True)
    ls.add_argument("--config", type=Path, help="read the config file's users from this file (default: as recorded "
                    "in the database when the gateway last started)")  # fmt: skip
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
    create.add_argument("--user", required=True)
    create.add_argument("--label", default="", help="what it is for, e.g. the city platform")
    create.add_argument("--db", type=Path, required=True)
    create.add_argument("--config", type=Path, help="the gateway's config, for a user defined in its users:")
    create.set_defaults(func=cmd_tokens_create)

    audit = sub.add_parser("audit", help="the audit log of changes people made")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="COMMAND")
    verify_ = audit_sub.add_parser("verify", help="check the hash chain: exit 1 if any row was edited or deleted")
    verify_.add_argument("--db", type=Path, required=True, help="the gateway's SQLite file")
    verify_.set_defaults(func=cmd_audit_verify)
    list_ = audit_sub.add_parser("list", help="the newest changes, newest first")
    list_.add_argument("--db", type=Path, required=True, help="the gateway's SQLite file")
    list_.add_argument("--limit", type=int, default=50)
    list_.set_defaults(func=cmd_audit_list)

    rules = sub.add_parser("rules", help="rule files: validate, sign and apply bundles")
    rules_sub = rules.add_subparsers(dest="rules_command", required=True, metavar="COMMAND")
    validate = rules_sub.add_parser("validate", help="check rule files; prints every error with its field path")
    validate.add_argument("files", nargs="*", type=Path, help="rule YAML files (default: the built-in pack)")
    validate.set_defaults(func=cmd_rules_validate)
    keygen = rules_sub.add_parser("keygen", help="make an Ed25519 key pair for signing rule bundles")
    keygen.add_argument("--out", type=Path, required=True, help="directory for bundle.key (secret) and bundle.pub")
    keygen.set_defaults(func=cmd_rules_keygen)
    sign = rules_sub.add_parser("sign", help="sign a rule file as a numbered bundle for one hall or all (*)")
    sign.add_argument("file", type=Path)
    sign.add_argument("--key", type=Path, required=True, help="the private key file (bundle.key)")
    sign.add_argument("--version", type=int, required=True, help="must be higher than the version applied now")
    sign.add_argument("--hall", default="*", help="the hall id it is for (default: every hall)")
    sign.add_argument("--out", type=Path, required=True)
    sign.set_defaults(func=cmd_rules_sign)
    apply = rules_sub.add_parser("apply", help="verify a signed bundle and put its rules in force (refuses downgrades)")
    apply.add_argument("bundle", type=Path)
    apply.add_argument("--public-key", type=Path, required=True, help="the trusted public key (bundle.pub)")
    apply.add_argument("--hall", required=True, help="this gateway's hall id")
    apply.add_argument("--db", type=Path, required=True, help="the gateway's SQLite file (keeps the applied version)")
    apply.add_argument("--rules-file", type=Path, help="also write the rules here (the config's rules.file)")
    apply.set_defaults(func=cmd_rules_apply)
    push = rules_sub.add_parser("push", help="publish a signed bundle on the cloud MQTT cluster (retained, QoS 1) for "
                                "the halls' gateways to verify and apply")  # fmt: skip
    push.add_argument("bundle", type=Path, help="the signed bundle (from `hallops rules sign`), sent as it is")
    push.add_argument("--broker", type=_broker_url, required=True, help="mqtt://HOST:PORT (mqtts:// for TLS)")
    push.add_argument("--username", help="the MQTT user, if the broker requires one")
    push.add_argument("--password-file", type=Path, help="a file holding that user's password")
    push.add_argument("--tls-ca", type=Path, help="CA certificate(s) of the broker (PEM); implies TLS")
    push.add_argument("--timeout", type=_positive, default=10.0, help="seconds to wait for the broker (10)")
    push.set_defaults(func=cmd_rules_push)
    db_help = "the gateway's SQLite file (storage.path)"
    versions = rules_sub.add_parser("versions", help="the rule versions, which is in force and which in shadow")
    versions.add_argument("--db", type=Path, required=True, help=db_help)
    versions.set_defaults(func=cmd_rules_versions)
    add_v = rules_sub.add_parser("add", help="store a rule file as a new immutable version")
    add_v.add_argument("file", type=Path)
    add_v.add_argument("--comment", "-m", default="", help="what changed and why")
    add_v.add_argument("--activate", action="store_true", help="and put it in force")
    add_v.add_argument("--db", type=Path, required=True, help=db_help)
    add_v.set_defaults(func=cmd_rules_add)
    act = rules_sub.add_parser("activate", help="put a version in force (a running gateway takes it up at once)")
    act.add_argument("number", type=int)
    act.add_argument("--comment", "-m", default="")
    act.add_argument("--db", type=Path, required=True, help=db_help)
    act.set_defaults(func=cmd_rules_activate, command_name="activate")
    rb = rules_sub.add_parser("rollback", help="put back the version in force before the current one")
    rb.add_argument("--comment", "-m", default="")
    rb.add_argument("--db", type=Path, required=True, help=db_help)
    rb.set_defaults(func=cmd_rules_activate, command_name="rollback", number=None)
    df = rules_sub.add_parser("diff", help="what changed between two versions (rules added/removed/changed, YAML)")
    df.add_argument("old", type=int)
    df.add_argument("new", type=int, nargs="?", help="default: the version in force")
    df.add_argument("--db", type=Path, required=True, help=db_help)
    df.set_defaults(func=cmd_rules_diff)
    sh = rules_sub.add_parser("shadow", help="run a version beside the active one on live data, acting on nothing")
    sh.add_argument("number", type=int, nargs="?")
    sh.add_argument("--off", action="store_true", help="stop the shadow")
    sh.add_argument("--comment", "-m", default="")
    sh.add_argument("--db", type=Path, required=True, help=db_help)
    sh.set_defaults(func=cmd_rules_shadow)
    bt = rules_sub.add_parser("backtest", help="replay recorded events through a rule file beside the active version")
    bt.add_argument("file", type=Path, help="the candidate rule file")
    bt.add_argument("--from", dest="from_", required=True, help="start: 2026-11-23 or 2026-11-23T09:00 (hall time)")
    bt.add_argument("--to", required=True, help="end (exclusive), same forms")
    bt.add_argument("--config", type=Path, required=True, help="the gateway's configuration (the hall, the db)")
    bt.add_argument("--db", type=Path, help="another copy of the database than the config's storage.path")
    bt.add_argument("--against", type=int, help="compare with this version (default: the one in force)")
    bt.add_argument("--step", type=float, default=60.0, help="seconds of hall time between two evaluations of "
                    "every rule after messages (deadlines are met to the second; default 60)")  # fmt: skip
    bt.add_argument("--serial", action="store_true", help="one process (default: the candidate on a second core)")
    bt.add_argument("--show", type=int, default=10, help="differing alerts to list (default 10)")
    bt.add_argument("--json", type=Path, help="write the whole result (alerts, tickets, recommendations) as JSON")
    bt.set_defaults(func=cmd_rules_backtest)

    from rules import staffing_cli  # noqa: PLC0415

    staffing = sub.add_parser("staffing", help="how many windows a queue needs (Erlang C / Erlang A), as JSON")
    staffing_cli.add_arguments(staffing)
    staffing.set_defaults(func=staffing_cli.run)

    from devices import cli as dev_cli  # noqa: PLC0415

    dev = sub.add_parser("devices", help="the device contract")
    dev_sub = dev.add_subparsers(dest="devices_command", required=True, metavar="COMMAND")
    schema = dev_sub.add_parser("schema", help="write the contract's JSON Schema")
    dev_cli.add_schema_arguments(schema)
    schema.set_defaults(func=dev_cli.run_schema)
    for name, text in (("add", "give a device (or the gateway: --type gateway) its own broker user; prints the "
                        "password once"), ("revoke", "take a device's broker user away"), ("list", "devices with "
                        "broker credentials")):  # fmt: skip
        p = dev_sub.add_parser(name, help=text)
        if name != "list":
            p.add_argument("device_id")
            p.add_argument("--password-file", type=Path, required=True, help="mosquitto's password_file")
            p.add_argument("--acl-file", type=Path, required=True, help="mosquitto's acl_file")
        if name == "add":
            p.add_argument("--type", required=True, choices=[*(t.value for t in DeviceType), "gateway"])
            p.add_argument("--hall", required=True)
        p.add_argument("--db", type=Path, required=True, help="the gateway's SQLite file")
        p.set_defaults(func=cmd_device_credentials, action=name)
    return parser


def _vision_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="vision YAML (required; see docs/vision.md)")
    sub = parser.add_subparsers(dest="vision_command", metavar="COMMAND")
    snap = sub.add_parser("snapshot", help="write one frame with the zones and the people found (blurred) drawn on it")
    snap.add_argument("camera", help="the camera id, as in the config")
    snap.add_argument("--config", type=Path, default=argparse.SUPPRESS, help="vision YAML (or before `snapshot`)")
    snap.add_argument("--out", type=Path, help="JPEG to write (default: snapshot-CAMERA.jpg)")


def _vision(args: argparse.Namespace) -> int:
    if args.log_level != "DEBUG":  # a camera being retried would print OpenCV's and FFmpeg's own lines every time
        os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # quiet
    from vision import cli as vision_cli  # noqa: PLC0415 - OpenCV and ONNX Runtime load only for this command

    return vision_cli.run(args)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    for noisy in ("amqtt", "transitions", "uvicorn.error"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        result: int = args.func(args)
    except ConfigError as exc:
        _say(f"hallops: {exc}")
        return 2
    except KeyboardInterrupt:
        return 130
    return result


if __name__ == "__main__":
    raise SystemExit(main())
