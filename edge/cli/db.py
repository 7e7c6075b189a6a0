"""`hallops db vacuum`: the gateway's SQLite file rewritten so that it gives the space retention frees back to the
disk (docs/deploy.md "Retention and disk").

A file made by this release is in incremental auto-vacuum mode already, and the running gateway gives freed pages back
itself (edge/upkeep.py); a file of an earlier release (auto_vacuum none) only reuses them until it is rewritten once
with VACUUM — the whole file, under an exclusive lock, with about its size free on the disk. The gateway does that
at start for a small file (`storage.vacuum_at_start_mb`); this command does it for any, with the gateway stopped.

Exit codes: 0 done (or nothing to do), 1 refused (the gateway or another process has the file open, not enough free
disk), 2 no such file, 3 the file cannot be used (edge/cli/__init__.py). It must not decide retention: it only
rewrites and gives back.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from edge.cli.database import missing, store_of
from edge.cli.terminal import say
from edge.store.integrity import in_use

COMMAND = "hallops db vacuum"
MB = 1024 * 1024
PROGRESS_EVERY_S = 5.0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `db` (vacuum)."""
    db = sub.add_parser("db", help="the gateway's SQLite file")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    vacuum = db_sub.add_parser(
        "vacuum",
        help="rewrite the file so that it gives freed space back (once per file of an earlier release); "
        "the gateway must be stopped",
    )
    vacuum.add_argument("--db", type=Path, required=True, help="the gateway's SQLite file")
    vacuum.set_defaults(func=cmd_db_vacuum)


def cmd_db_vacuum(args: argparse.Namespace) -> int:
    path: Path = args.db
    if missing(path, COMMAND):
        return 2
    busy = in_use(path)
    if busy is not None:
        say(f"{COMMAND}: refused: {busy}. Stop the gateway first (systemctl stop hallops-gateway)")
        return 1
    store = store_of(path, COMMAND)
    try:
        pages = store.retention.pages()
        size = pages.pages * pages.page_size
        say(
            f"{COMMAND}: {path}: {size / MB:,.1f} MB, of it {pages.free_bytes / MB:,.1f} MB free pages; "
            f"auto_vacuum {pages.auto_vacuum}"
        )
        if pages.auto_vacuum == "incremental":
            given = 0
            while (n := store.retention.vacuum_step()) > 0:
                given += n
            store.retention.checkpoint()
            say(f"{COMMAND}: incremental already; {given * pages.page_size / MB:,.1f} MB given back")
            return 0
        st = os.statvfs(path.resolve().parent)
        free = st.f_bavail * st.f_frsize
        if free < size * 1.1:
            say(
                f"{COMMAND}: refused: the rewrite needs about {size * 1.1 / MB:,.0f} MB free beside the file, "
                f"the disk has {free / MB:,.0f} MB"
            )
            return 1
        say(f"{COMMAND}: rewriting {size / MB:,.1f} MB with incremental vacuum on (about 1 s per 30 MB) …")
        began = time.monotonic()
        last = [began]

        def progress() -> None:
            now = time.monotonic()
            if now - last[0] >= PROGRESS_EVERY_S:
                last[0] = now
                say(f"{COMMAND}: … {now - began:.0f} s")

        store.retention.convert(progress)
        store.retention.checkpoint()
        after = path.stat().st_size
        say(
            f"{COMMAND}: done in {time.monotonic() - began:.1f} s: {size / MB:,.1f} → {after / MB:,.1f} MB; "
            "the gateway now gives freed space back as it runs"
        )
        return 0
    finally:
        store.close()
