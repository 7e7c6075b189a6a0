"""`hallops audit verify|list`: the audit log of changes people made, read from the gateway's database.

Owns their flags, the report of a verification and the listing's format. It must not hold the hash chain's rules
(`edge.audit` does) nor write to the log.
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
    verify_.set_defaults(func=cmd_audit_verify)
    list_ = audit_sub.add_parser("list", help="the newest changes, newest first")
    list_.add_argument("--db", type=Path, required=True, help="the gateway's SQLite file")
    list_.add_argument("--limit", type=int, default=50)
    list_.set_defaults(func=cmd_audit_list)


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
    if findings:
        say(f"audit: BROKEN — {len(findings)} problem(s) in {len(rows)} rows of {args.db}")
        return 1
    say(f"audit: intact — {len(rows)} rows, chain and head verified")
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
