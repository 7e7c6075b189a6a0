"""`hallops rules …`: rule files, signed rule bundles, rule versions and backtests.

- files: `validate`;
- signed bundles: `keygen`, `sign`, `apply` (verify and put in force here), `push` (publish on the cloud broker);
- versions in the gateway's database: `versions`, `add`, `activate`, `rollback`, `diff`, `shadow`;
- `backtest`: replay recorded events through a candidate rule file beside a version.

Owns the flags, the messages and the exit codes of these commands (0 done, 1 refused or failed, 2 bad input or a
missing file). It must not hold the rule language, the bundle format, the version store or the replay: `rules`,
`cloud_sync`, `edge.versions` and `edge.backtest` do that.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from devices.errors import ConfigError, SyncError
from edge.cli.arguments import positive
from edge.cli.database import missing, open_store, store_of
from edge.cli.terminal import cli_user, say

if TYPE_CHECKING:
    from edge.versions import RuleVersions


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:  # noqa: PLR0915 - a declaration
    """Add `rules` and its twelve subcommands, in the order `hallops rules --help` lists them."""
    rules = sub.add_parser("rules", help="rule files: validate, sign and apply bundles")
    rules_sub = rules.add_subparsers(dest="rules_command", required=True, metavar="COMMAND")
    validate = rules_sub.add_parser("validate", help="check rule files; prints every error with its field path")
    validate.add_argument("files", nargs="*", type=Path, help="rule YAML files (default: the built-in pack)")
    validate.set_defaults(func=cmd_rules_validate)
    keygen = rules_sub.add_parser("keygen", help="make an Ed25519 key pair for signing rule bundles")
    keygen.add_argument("--out", type=Path, required=True, help="directory for <id>.key (secret, 0600) and <id>.pub")
    keygen.add_argument("--id", type=_key_id, default="default", help="the key's id, for rotation (default: default)")
    keygen.set_defaults(func=cmd_rules_keygen)
    sign = rules_sub.add_parser("sign", help="sign a rule file as a numbered bundle for one hall or all (*)")
    sign.add_argument("file", type=Path)
    sign.add_argument("--key", type=Path, required=True, help="the private key file (<id>.key)")
    sign.add_argument("--key-id", type=_key_id, default="default", help="its id, as the halls trust it (default)")
    sign.add_argument(
        "--version", type=int, required=True, help="higher than the version applied now, by at most 1000 by default"
    )
    sign.add_argument("--hall", default="*", help="the hall id it is for (default: every hall)")
    sign.add_argument(
        "--expires-in", type=positive, default=30.0, help="days until the halls refuse it (default 30, at most 365)"
    )
    sign.add_argument("--out", type=Path, required=True)
    sign.set_defaults(func=cmd_rules_sign)
    apply = rules_sub.add_parser(
        "apply",
        help="verify a signed bundle and put its rules in force (refuses downgrades; a bundle with commands that "
        "reach the public or devices' service is stored for an administrator to activate)",
    )
    apply.add_argument("bundle", type=Path)
    trust = apply.add_mutually_exclusive_group(required=True)
    trust.add_argument("--config", type=Path, help="the gateway's configuration: its keys, hall, database, step")
    trust.add_argument("--public-key", type=Path, help="the trusted public key (<id>.pub)")
    apply.add_argument("--key-id", type=_key_id, default="default", help="the id of --public-key (default: default)")
    apply.add_argument("--hall", help="this gateway's hall id (with --public-key)")
    apply.add_argument("--db", type=Path, help="the gateway's SQLite file (with --public-key)")
    apply.add_argument(
        "--max-version-step", type=_step, default=1000, help="with --public-key: the largest version jump (1000)"
    )
    apply.add_argument("--rules-file", type=Path, help="also write the rules here (the config's rules.file)")
    apply.set_defaults(func=cmd_rules_apply)
    push = rules_sub.add_parser(
        "push",
        help="publish a signed bundle on the cloud MQTT cluster (retained, QoS 1) for "
        "the halls' gateways to verify and apply",
    )
    push.add_argument("bundle", type=Path, help="the signed bundle (from `hallops rules sign`), sent as it is")
    push.add_argument("--broker", type=_broker_url, required=True, help="mqtt://HOST:PORT (mqtts:// for TLS)")
    push.add_argument("--username", help="the MQTT user, if the broker requires one")
    push.add_argument("--password-file", type=Path, help="a file holding that user's password")
    push.add_argument("--tls-ca", type=Path, help="CA certificate(s) of the broker (PEM); implies TLS")
    push.add_argument("--timeout", type=positive, default=10.0, help="seconds to wait for the broker (10)")
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
    bt.add_argument(
        "--step",
        type=float,
        default=60.0,
        help="seconds of hall time between two evaluations of "
        "every rule after messages (deadlines are met to the second; default 60)",
    )
    bt.add_argument("--serial", action="store_true", help="one process (default: the candidate on a second core)")
    bt.add_argument("--show", type=int, default=10, help="differing alerts to list (default 10)")
    bt.add_argument("--json", type=Path, help="write the whole result (alerts, tickets, recommendations) as JSON")
    bt.set_defaults(func=cmd_rules_backtest)


def cmd_rules_validate(args: argparse.Namespace) -> int:
    from rules.language import BUILTIN, load_rules, summarise  # noqa: PLC0415 - keep `hallops --help` fast

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


def _key_id(value: str) -> str:
    from cloud_sync.bundle import KEY_ID  # noqa: PLC0415

    if not KEY_ID.match(value):
        raise argparse.ArgumentTypeError(f"{value!r}: letters, digits, '.', '_' or '-', up to 64")
    return value


def _step(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of 1 or more")
    return int(value)


def cmd_rules_keygen(args: argparse.Namespace) -> int:
    from cloud_sync.bundle import new_key  # noqa: PLC0415

    private, public = new_key()
    args.out.mkdir(mode=0o700, parents=True, exist_ok=True)
    key, pub = args.out / f"{args.id}.key", args.out / f"{args.id}.pub"
    try:
        # created readable by its owner only, before the secret is in it; never over an existing key
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        say(f"hallops rules keygen: {key} exists; not overwriting a signing key")
        return 1
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(private + "\n")
    pub.write_text(public + "\n", encoding="ascii")
    say(
        f"hallops rules keygen: {key} (keep it secret, off the halls' boxes; sign with --key-id {args.id}) and {pub} "
        f"(for the gateways: rules.bundle_keys, id {args.id})"
    )
    return 0


def cmd_rules_sign(args: argparse.Namespace) -> int:
    from cloud_sync.bundle import BundleError, sign  # noqa: PLC0415

    try:
        if args.key.stat().st_mode & 0o077:
            say(f"hallops rules sign: warning: {args.key} is readable by others; `chmod 600 {args.key}`")
        bundle = sign(
            args.file.read_text(encoding="utf-8"),
            args.version,
            args.key.read_text().strip(),
            args.hall,
            key_id=args.key_id,
            expires_in=timedelta(days=args.expires_in),
        )
    except (BundleError, OSError, ValueError) as exc:
        say(f"hallops rules sign: {exc}")
        return 1
    args.out.write_bytes(bundle)
    expires = json.loads(bundle)["header"]["expires_at"]
    say(
        f"hallops rules sign: {args.out} — version {args.version} for hall {args.hall}, key {args.key_id}, "
        f"valid until {expires}"
    )
    return 0


def _trusted(
    args: argparse.Namespace, command: str
) -> tuple[list[tuple[str, Path, date | None]], str, Path, int] | None:
    """What `apply` trusts and where it writes: from the gateway's configuration, or from the flags; None (and a
    message) if that is incomplete."""
    from edge.config import bundle_key_files, load_config  # noqa: PLC0415

    if args.config is None:
        if args.hall is None or args.db is None:
            say(f"{command}: --public-key needs --hall and --db (or give --config)")
            return None
        return [(args.key_id, args.public_key, None)], args.hall, args.db, args.max_version_step
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        say(str(exc))
        return None
    if not bundle_key_files(cfg.rules):
        say(f"{command}: {args.config} trusts no bundle key (rules.bundle_keys)")
        return None
    assert cfg.hall.id is not None  # load_config requires it
    return bundle_key_files(cfg.rules), cfg.hall.id, cfg.storage.path, cfg.rules.bundle_max_version_step


def cmd_rules_apply(args: argparse.Namespace) -> int:
    """Verify a bundle, then store its rules as a version and put it in force — or, when its commands reach the
    public or devices' service, store it only, for `hallops rules activate`; a refused bundle changes nothing."""
    from cloud_sync.bundle import BundleError, approval_needed, check_newer, verify  # noqa: PLC0415
    from cloud_sync.delivery import read_keys  # noqa: PLC0415
    from edge.versions import RuleVersions  # noqa: PLC0415
    from rules.language import RuleFile  # noqa: PLC0415

    command = "hallops rules apply"
    trusted = _trusted(args, command)
    if trusted is None:
        return 2
    entries, hall, db, step = trusted
    try:
        keys = read_keys(entries)
        raw = args.bundle.read_bytes()
    except (ValueError, OSError) as exc:
        say(f"{command}: {exc}")
        return 2
    store = open_store(db, command)
    if store is None:
        return 2
    try:
        versions = RuleVersions(store)
        applied = versions.applied_bundle()
        try:
            bundle = verify(raw, keys, hall, datetime.now().astimezone())
            check_newer(bundle.version, applied, step)
        except BundleError as exc:
            say(f"{command}: refused — {exc}")
            return 1
        active = versions.active()
        hold = approval_needed(bundle.rules, active.rules if active is not None else RuleFile())
        version = versions.take_bundle(
            bundle.rules_yaml, bundle.version, bundle.hall, cli_user(), str(args.bundle), hold
        )
        if args.rules_file is not None and not hold:  # keep the configured file in step, for a gateway started afresh
            tmp = args.rules_file.with_suffix(".tmp")
            tmp.write_text(bundle.rules_yaml, encoding="utf-8")
            tmp.replace(args.rules_file)
    finally:
        store.close()
    if hold:
        say(f"{command}: bundle {bundle.version} is rule version {version.number}, NOT in force — it needs approval:")
        for reason in hold:
            say(f"  {reason}")
        say(f"  an administrator approves it with `hallops rules activate {version.number} --db {db}` (or the web UI)")
        return 0
    say(
        f"{command}: bundle {bundle.version} ({len(bundle.rules.rules)} rules) is rule version "
        f"{version.number}, in force (a running gateway takes it up within a second)"
    )
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

    try:
        raw = args.bundle.read_bytes()
        password = args.password_file.read_text(encoding="utf-8").strip() if args.password_file else None
    except OSError as exc:
        say(f"hallops rules push: cannot read {exc.filename}: {exc.strerror}")
        return 2
    try:
        hall, version = addressed_to(raw)
    except BundleError as exc:
        say(f"hallops rules push: {args.bundle}: {exc}")
        return 2
    if args.tls_ca is not None and not args.tls_ca.is_file():
        say(f"hallops rules push: --tls-ca: no such file: {args.tls_ca}")
        return 2
    broker = Broker.from_url(args.broker, args.username, password, args.tls_ca)
    try:
        topic = push(raw, broker, timeout_s=args.timeout)
    except SyncError as exc:
        say(f"hallops rules push: {exc}")
        return 1
    reports = applied_topic("+" if hall == "*" else hall)
    say(
        f"hallops rules push: bundle {version} for {'every hall' if hall == '*' else 'hall ' + hall} is on {topic} "
        f"(retained); each gateway verifies it and reports on {reports}"
    )
    return 0


def _on_versions(args: argparse.Namespace, command: str, work: Callable[[RuleVersions], str | None]) -> int:
    """One rule-version command on the gateway's database: says what `work` returns; an unknown version, a refused
    change or invalid rules exit 1 with the reason, a missing database 2."""
    from edge.versions import RuleVersions  # noqa: PLC0415

    store = open_store(args.db, command)
    if store is None:
        return 2
    try:
        said = work(RuleVersions(store))
    except KeyError as exc:
        say(f"{command}: no rule version {exc.args[0]}")
        return 1
    except ConfigError as exc:
        print(f"{exc.source}: {len(exc.problems)} error(s)")
        for problem in exc.problems:
            print(f"  {problem}")
        return 1
    except (LookupError, ValueError, OSError) as exc:
        say(f"{command}: {exc}")
        return 1
    finally:
        store.close()
    if said:
        say(said)
    return 0


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
        v, created = versions.add(source, cli_user(), args.comment, "cli", name=str(args.file))
        if args.activate:
            versions.activate(v.number, cli_user(), args.comment)
        state = "new version" if created else "the same rules are already version"
        then = ", in force" if args.activate else f"; put it in force with: hallops rules activate {v.number}"
        return f"hallops rules add: {state} {v.number} ({len(v.rules.rules)} rules){then}"

    return _on_versions(args, "hallops rules add", add)


def cmd_rules_activate(args: argparse.Namespace) -> int:
    command = f"hallops rules {args.command_name}"

    def activate(versions: RuleVersions) -> str:
        if args.command_name == "rollback":
            v = versions.rollback(cli_user(), args.comment)
        else:
            v = versions.activate(args.number, cli_user(), args.comment)
        return (
            f"{command}: version {v.number} in force (a running gateway takes it up within a second; the rules "
            "that did not change keep their timers)"
        )

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
        versions.set_shadow(None if args.off else args.number, cli_user(), args.comment)
        if args.off:
            return "hallops rules shadow: stopped"
        return f"hallops rules shadow: version {args.number} runs in shadow (see the administrator page for its diff)"

    return _on_versions(args, "hallops rules shadow", shadow)


def _hall_time(text: str, tz: ZoneInfo) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=tz)


def cmd_rules_backtest(args: argparse.Namespace) -> int:  # noqa: PLR0911 - one refusal per reason it cannot run
    from edge.backtest import NothingRecorded, backtest  # noqa: PLC0415
    from edge.config import load_config  # noqa: PLC0415
    from edge.versions import RuleVersions, parse_source  # noqa: PLC0415

    try:
        cfg = load_config(args.config, {"storage": {"path": str(args.db)}} if args.db else {})
        candidate = parse_source(args.file.read_text(encoding="utf-8"), str(args.file))
    except ConfigError as exc:
        say(str(exc))
        return 2
    except OSError as exc:
        say(f"hallops rules backtest: {exc}")
        return 2
    tz = ZoneInfo(cfg.hall.timezone)
    try:
        start, end = _hall_time(args.from_, tz), _hall_time(args.to, tz)
    except ValueError as exc:
        say(f"hallops rules backtest: --from/--to: {exc} (use 2026-11-23 or 2026-11-23T09:00)")
        return 2
    if end <= start:
        say("hallops rules backtest: --to must be after --from")
        return 2
    if missing(cfg.storage.path, "hallops rules backtest"):
        return 2
    store = store_of(cfg.storage.path, "hallops rules backtest")
    try:
        versions = RuleVersions(store)
        number = args.against or versions.active_number()
        if number is None:
            say("hallops rules backtest: the database has no rule version yet (start the gateway once)")
            return 2
        try:
            active = versions.get(number)
        except KeyError:
            say(f"hallops rules backtest: no rule version {number}")
            return 2

        def progress(at: datetime) -> None:
            say(f"  replaying {at.astimezone(tz):%Y-%m-%d %H:%M} …")

        say(
            f"hallops rules backtest: {args.file} against version {number}, {start:%Y-%m-%d %H:%M} → "
            f"{end:%Y-%m-%d %H:%M} ({cfg.storage.path})"
        )
        try:
            result = backtest(
                cfg,
                store,
                active.rules,
                candidate,
                start,
                end,
                step_s=args.step,
                parallel=not args.serial,
                progress=progress,
            )
        except NothingRecorded as exc:
            say(f"hallops rules backtest: {exc}")
            return 2
    finally:
        store.close()
    body = result.to_dict(tz)
    first, last = result.start.astimezone(tz), result.end.astimezone(tz)
    print(f"replayed {first:%Y-%m-%d %H:%M:%S} → {last:%Y-%m-%d %H:%M:%S}: the part of the period that was recorded")
    if args.json:
        args.json.write_text(json.dumps(body, ensure_ascii=False, indent=1), encoding="utf-8")
    print(
        f"{result.events:,} events (+{result.warmup_events:,} warm-up) in {result.seconds:.1f} s — "
        f"{result.events_per_s:,.0f} events/s"
    )
    print(
        f"{'rule':<28}{'version ' + str(number):>12}{'candidate':>12}{'both':>8}{'only active':>13}{'only cand.':>12}"
    )
    per_a, per_c = result.active.firings.per_rule(), result.candidate.firings.per_rule()
    diff_rules = result.diff.per_rule()
    for rule in sorted(set(per_a) | set(per_c)):
        d = diff_rules.get(rule, {})
        print(
            f"{rule:<28}{per_a.get(rule, 0):>12}{per_c.get(rule, 0):>12}{d.get('both', 0):>8}"
            f"{d.get('only_active', 0):>13}{d.get('only_candidate', 0):>12}"
        )
    print(f"{'tickets':<28}{len(result.active.tickets):>12}{len(result.candidate.tickets):>12}")
    print(f"{'recommendations':<28}{len(result.active.recommendations):>12}{len(result.candidate.recommendations):>12}")
    for label, rows in (
        ("only the candidate would fire", result.diff.only_candidate),
        ("only version " + str(number) + " fired", result.diff.only_active),
    ):
        for f in rows[: args.show]:
            labels = ",".join(f"{k}={v}" for k, v in sorted(f.labels.items()))
            print(f"  {label}: {f.fired_at.astimezone(tz):%m-%d %H:%M:%S} {f.rule} {labels}")
        if len(rows) > args.show:
            print(f"  … and {len(rows) - args.show} more ({label})")
    print(
        "same alerts"
        if result.diff.same
        else f"different: {len(result.diff.only_active)} only in version "
        f"{number}, {len(result.diff.only_candidate)} only in the candidate"
    )
    return 0
