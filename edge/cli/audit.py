"""`hallops audit verify|list|keygen|pubkey`: the audit log of changes people made, read from the gateway's database,
and the key that signs its anchors (the heads published off the box, edge/anchor.py).

Owns their flags, the report of a verification and the listing's format. It must not hold the hash chain's rules
(`edge.audit` does) nor the anchor's format (`edge.anchor`), nor write to the log.
"""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path

from edge.audit import verify
from edge.cli.database import open_store
from edge.cli.terminal import say

COMMAND = "hallops audit"  # how both subcommands name themselves when the database is missing


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `audit` (verify, list)."""
    audit = sub.add_parser("audit", help="the audit log of changes people made")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="COMMAND")
    verify_ = audit_sub.add_parser("verify", help="check the hash chain: exit 1 if any row was edited or deleted")
    verify_.add_argument("--db", type=Path, required=True, help="the gateway's SQLite file")
    verify_.add_argument(
        "--anchor",
        type=Path,
        action="append",
        default=[],
        help="a file of signed heads (audit.anchor_file, a syslog file, the cloud's copy): each must still be in the "
        "chain; repeat for several",
    )
    verify_.add_argument(
        "--pubkey",
        type=Path,
        action="append",
        default=[],
        help="a public key the anchors are signed with (`hallops audit pubkey`); repeat for the keys before a "
        "rotation. Default: the key beside --db",
    )
    verify_.set_defaults(func=cmd_audit_verify)
    list_ = audit_sub.add_parser("list", help="the newest changes, newest first")
    list_.add_argument("--db", type=Path, required=True, help="the gateway's SQLite file")
    list_.add_argument("--limit", type=int, default=50)
    list_.set_defaults(func=cmd_audit_list)
    keygen = audit_sub.add_parser("keygen", help="make the key that signs the audit chain's anchors (0600)")
    keygen.add_argument("--key", type=Path, required=True, help="the key file to make (audit.anchor_key)")
    keygen.set_defaults(func=cmd_audit_keygen)
    pubkey = audit_sub.add_parser("pubkey", help="print the public half of the anchor key, for whoever verifies")
    pubkey.add_argument("--key", type=Path, required=True, help="the key file (audit.anchor_key)")
    pubkey.set_defaults(func=cmd_audit_pubkey)


def cmd_audit_verify(args: argparse.Namespace) -> int:
    store = open_store(args.db, COMMAND)
    if store is None:
        return 2
    try:
        rows = store.audit.rows()
        findings = verify(rows, store.audit.head())
    finally:
        store.close()
    for finding in findings:
        say(f"audit: {finding}")
    anchored = _check_anchors(args, {r.id: r.hash for r in rows}) if args.anchor else (True, "")
    if isinstance(anchored, int):
        return anchored
    matches, summary = anchored
    if findings:
        say(f"audit: BROKEN — {len(findings)} problem(s) in {len(rows)} rows of {args.db}")
        return 1
    if not matches:
        say(f"audit: BROKEN — {summary}")
        return 1
    say(f"audit: intact — {len(rows)} rows, chain and head verified{summary}")
    return 0


def _check_anchors(args: argparse.Namespace, hashes: dict[int, str]) -> tuple[bool, str] | int:
    """Each anchor of the --anchor files against the chain as it is (`hashes`: row id → hash), every problem said:
    (all match, the summary), or an exit code when a file or a key cannot be used."""
    from edge.anchor import Anchor, check, default_key_path, key_id, read_anchors, read_key, read_public  # noqa: PLC0415

    keys = {}
    anchors: list[Anchor] = []
    problems: list[str] = []
    try:
        for path in args.pubkey:
            public = read_public(path.read_text(encoding="ascii", errors="replace"))
            keys[key_id(public)] = public
        if not args.pubkey:
            own = default_key_path(args.db)
            if not own.exists():
                say(f"{COMMAND} verify: no public key to check the anchors' signatures with: give --pubkey FILE")
                return 2
            public = read_key(own).public_key()
            keys[key_id(public)] = public
            say(
                f"audit: signatures checked with the box's own key {own}; an inspector gives the public key kept off "
                "the box with --pubkey"
            )
        for path in args.anchor:
            with path.open(encoding="utf-8", errors="replace") as f:
                found, unreadable = read_anchors(f)
            problems += [f"{path}: {p}" for p in [*unreadable, *check(found, hashes, keys)]]
            anchors += [a for _, a in found]
    except (OSError, ValueError) as exc:
        say(f"{COMMAND} verify: {exc}")
        return 2
    for problem in problems:
        say(f"audit: {problem}")
    names = ", ".join(str(p) for p in args.anchor)
    if problems:
        return False, (
            f"{len(problems)} anchor(s) in {names} do not match: the chain is not the one that was published (rows "
            "changed or deleted after they were anchored, and the chain recomputed to hide it), or a line was forged"
        )
    if not anchors:
        return False, f"{names} holds no anchor: nothing to check the chain against"
    newest = max(anchors, key=lambda a: a.count)
    unanchored = max(hashes, default=0) - newest.count
    since = f"; {unanchored} row(s) since are not anchored yet" if unanchored else ""
    return True, f"; {len(anchors)} anchor(s) match (newest: row {newest.count}, {newest.when()}){since}"


def cmd_audit_keygen(args: argparse.Namespace) -> int:
    from edge.anchor import create_key, key_id, public_text  # noqa: PLC0415

    try:
        public = create_key(args.key).public_key()
    except FileExistsError:
        say(f"{COMMAND} keygen: {args.key} exists; not overwriting a signing key (rotate: docs/audit.md)")
        return 1
    except OSError as exc:
        say(f"{COMMAND} keygen: {exc}")
        return 2
    say(f"{COMMAND} keygen: {args.key} (0600, key {key_id(public)}); its public key, for whoever verifies:")
    print(public_text(public))
    return 0


def cmd_audit_pubkey(args: argparse.Namespace) -> int:
    from edge.anchor import key_id, public_text, read_key  # noqa: PLC0415

    try:
        public = read_key(args.key).public_key()
    except (OSError, ValueError) as exc:
        say(f"{COMMAND} pubkey: {exc}")
        return 2
    say(f"{COMMAND} pubkey: key {key_id(public)}")
    print(public_text(public))
    return 0


def cmd_audit_list(args: argparse.Namespace) -> int:
    store = open_store(args.db, COMMAND)
    if store is None:
        return 2
    try:
        for r in store.audit.rows(args.limit):
            at = datetime.fromtimestamp(r.entry.at).astimezone().isoformat(timespec="seconds")
            detail = json.dumps(r.entry.detail, ensure_ascii=False, sort_keys=True)
            print(f"{r.id}\t{at}\t{r.entry.actor}\t{r.entry.action}\t{r.entry.subject}\t{detail}")
    finally:
        store.close()
    return 0
