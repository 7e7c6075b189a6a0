"""Retention and space: deleting what has been kept long enough, a batch at a time, and giving the space back.

Each delete takes at most `BATCH_ROWS` rows in one short transaction, oldest first, along an index or the rowid, so
that the caller (edge/upkeep.py) can yield between batches: ingest, the decisions and the HTTP API go on while a year
of the log is deleted, and another process (a CLI command, a backtest) never waits long for the write lock.

What is deleted, and what never is:
    events          that happened before the horizon (the events_at index), never one after the saved hall state's
                    event (a restart replays those)
    alert_history   changes recorded before the horizon (rowid order: rows are written in time order)
    outbox          rows sent or given up before the horizon; a row still to be delivered never
    records         closed tickets and recommendations last changed before the horizon (index records_updated);
                    a ticket that is not closed never
    audit, rule_versions, rule_activations, cloud_outbox: never here (the audit chain and the rule history are the
                    hall's legal record; the cloud outbox keeps its own budget, cloud.py)

Space: a file made with `auto_vacuum=INCREMENTAL` (connection.py) gives its free pages back with
`incremental_vacuum`, a few MB per step; a file of an earlier release (auto_vacuum NONE) reuses them but never shrinks
until `convert()` (VACUUM) has run once, with the gateway stopped (`hallops db vacuum`) or at start while it is small.
This module must not decide when or how much: edge/retention.py decides, edge/upkeep.py schedules.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from edge.store.connection import transaction
from edge.store.events import EventLog

BATCH_ROWS = 2000  # rows per delete transaction: about 10–40 ms of the write lock on a small box (bench/disk.py)
VACUUM_STEP_PAGES = 1024  # pages given back per incremental_vacuum step: 4 MB of 4 KB pages
AUTO_VACUUM = {0: "none", 1: "full", 2: "incremental"}
RECORD_CLOSED = (
    "(kind = 'ticket' AND json_extract(body, '$.status') = 'closed')"
    " OR (kind = 'recommendation' AND json_extract(body, '$.status') != 'offered')"
)


@dataclass(frozen=True, slots=True)
class Pages:
    """The file as SQLite sees it: its pages, how many are free (deleted rows' space, kept for reuse), their size,
    and its auto_vacuum mode (none | full | incremental)."""

    page_size: int
    pages: int
    free: int
    auto_vacuum: str

    @property
    def live_bytes(self) -> int:
        """What the rows and indexes hold: the file less its free pages."""
        return (self.pages - self.free) * self.page_size

    @property
    def free_bytes(self) -> int:
        return self.free * self.page_size


class Retention:
    def __init__(self, db: sqlite3.Connection, events: EventLog) -> None:
        self._db = db
        self._events = events

    # -- deleting, one batch per call (each its own transaction) -------------------------------------------

    def events(self, before: float, limit: int = BATCH_ROWS) -> int:
        """Delete up to `limit` of the oldest events that happened before `before` (UNIX s), never one the saved hall
        state does not include yet. Returns how many went: fewer than `limit` means none is left to delete."""
        saved = self._db.execute("SELECT event_id FROM hall_state WHERE id = 1").fetchone()
        upto = int(saved[0]) if saved else 0
        return self._events.prune(before, limit=limit, upto_id=upto)

    def oldest_event_ats(self, skip: int) -> float | None:
        """The time of the event `skip` places after the oldest (along events_at): where a cut that removes `skip`
        events falls. None when the log holds fewer."""
        row = self._db.execute("SELECT at FROM events ORDER BY at LIMIT 1 OFFSET ?", (max(0, skip),)).fetchone()
        return float(row[0]) if row else None

    def alert_history(self, before: float, limit: int = BATCH_ROWS) -> int:
        """Delete up to `limit` of the oldest alert changes recorded before `before`. Read in rowid order (written in
        time order), stopping at the first newer one: no index on the time is needed, and a clock that went back
        keeps a few rows longer, never deletes a newer one."""
        rows = self._db.execute("SELECT id, at FROM alert_history ORDER BY id LIMIT ?", (limit,)).fetchall()
        upto = None
        for rid, at in rows:
            if float(at) >= before:
                break
            upto = int(rid)
        if upto is None:
            return 0
        with transaction(self._db, immediate=True) as db:
            return int(db.execute("DELETE FROM alert_history WHERE id <= ?", (upto,)).rowcount)

    def outbox(self, before: float, limit: int = BATCH_ROWS) -> int:
        """Delete up to `limit` of the oldest outbox rows made before `before` that were sent or given up; a row still
        to be delivered stays, however old, and does not hold back the finished rows behind it. Rowid order, as
        made."""
        with transaction(self._db, immediate=True) as db:
            return int(
                db.execute(
                    "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE (sent_at IS NOT NULL OR failed_at IS "
                    "NOT NULL) AND created_at < ? ORDER BY id LIMIT ?)",
                    (before, limit),
                ).rowcount
            )

    def newest_at(self) -> float | None:
        """The newest time stored in any table retention deletes from (events, alert history, outbox, records):
        what a clock far ahead of it must not be trusted to prune against. Each along an index or the rowid."""
        row = self._db.execute(
            "SELECT (SELECT max(at) FROM events), (SELECT at FROM alert_history ORDER BY id DESC LIMIT 1),"
            " (SELECT created_at FROM outbox ORDER BY id DESC LIMIT 1), (SELECT max(updated_at) FROM records)"
        ).fetchone()
        times = [float(t) for t in row if t is not None]
        return max(times) if times else None

    def first_event_at(self, since: float) -> tuple[float | None, float | None]:
        """(the newest event before `since`, the oldest at or after it), along the events_at index: a horizon that
        falls in a long gap just before the newest events is a clock that jumped ahead."""
        one = self._db.execute
        before = one("SELECT max(at) FROM events WHERE at < ?", (since,)).fetchone()[0]
        after = one("SELECT min(at) FROM events WHERE at >= ?", (since,)).fetchone()[0]
        return (float(before) if before is not None else None, float(after) if after is not None else None)

    def records(self, before: float, limit: int = BATCH_ROWS) -> int:
        """Delete up to `limit` closed tickets and decided (or long past) recommendations last changed before
        `before`, along the records_updated index; a ticket that is not closed stays, however old."""
        with transaction(self._db, immediate=True) as db:
            return int(
                db.execute(
                    "DELETE FROM records WHERE rowid IN (SELECT rowid FROM records WHERE updated_at < ? "
                    f"AND ({RECORD_CLOSED}) ORDER BY updated_at LIMIT ?)",
                    (before, limit),
                ).rowcount
            )

    # -- space ---------------------------------------------------------------------------------------------

    def pages(self) -> Pages:
        one = self._db.execute
        return Pages(
            int(one("PRAGMA page_size").fetchone()[0]),
            int(one("PRAGMA page_count").fetchone()[0]),
            int(one("PRAGMA freelist_count").fetchone()[0]),
            AUTO_VACUUM.get(int(one("PRAGMA auto_vacuum").fetchone()[0]), "none"),
        )

    def vacuum_step(self, pages: int = VACUUM_STEP_PAGES) -> int:
        """Give up to `pages` free pages back to the filesystem (a file in incremental mode; nothing otherwise).
        Returns the pages given back."""
        before = int(self._db.execute("PRAGMA freelist_count").fetchone()[0])
        if before == 0 or self._db.in_transaction or int(self._db.execute("PRAGMA auto_vacuum").fetchone()[0]) != 2:
            return 0
        # stepped to the end by executescript: `execute` steps a statement without result columns once, and each
        # step of incremental_vacuum gives back one page (no transaction is open here: the upkeep runs between them)
        self._db.executescript(f"PRAGMA incremental_vacuum({int(pages)});")
        return before - int(self._db.execute("PRAGMA freelist_count").fetchone()[0])

    def checkpoint(self) -> tuple[int, int, int]:
        """Copy the WAL into the file and truncate it (`wal_checkpoint(TRUNCATE)`): (busy, WAL frames, frames copied);
        busy 1 when a reader kept it from finishing (the WAL stays, nothing is lost)."""
        row = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return int(row[0]), int(row[1]), int(row[2])

    def convert(self, progress: Callable[[], None] | None = None) -> None:
        """Rewrite the file with `auto_vacuum=INCREMENTAL` (VACUUM): the whole file under an exclusive lock, and as
        much free disk as the file again. Once per file; a file made by this release is in that mode already.
        `progress` is called now and then while it runs (to say it is still going)."""
        self._db.execute("PRAGMA auto_vacuum=INCREMENTAL")
        if progress is not None:
            self._db.set_progress_handler(lambda: progress() or 0, 200_000)
        # VACUUM copies the whole file to a temporary one first: beside the file, where its size is free by the
        # sizing, not in TMPDIR (often a small tmpfs). The pragma is SQLite's process-wide setting (deprecated, kept
        # in the builds Python ships; SQLITE_TMPDIR is read only when the library loads): set just for this, and
        # reset — at start before the gateway's tasks run, or in `hallops db vacuum` alone.
        folder = self._folder()
        if folder is not None:
            self._db.execute("PRAGMA temp_store_directory = '{}'".format(folder.replace("'", "''")))
        try:
            self._db.execute("VACUUM")
        finally:
            self._db.set_progress_handler(None, 0)
            if folder is not None:
                self._db.execute("PRAGMA temp_store_directory = ''")

    def _folder(self) -> str | None:
        """The folder of the main database file (None for an in-memory one)."""
        for _, name, file in self._db.execute("PRAGMA database_list").fetchall():
            if name == "main" and file:
                return os.path.dirname(str(file))
        return None
