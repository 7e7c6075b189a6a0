"""The gateway's upkeep of its disk: retention of every table that grows, space given back, and the database's disk
budget — a supervised task of the gateway (edge/gateway.py), and what /api/health shows of it (`DiskStatus`).

    every minute   measure the data directory (database, its -wal, backups, other files, the filesystem's free
                   space), assess the database and its -wal against `storage.disk_budget_mb` and the filesystem
                   against `storage.disk_free_min_mb` (edge/retention.py), log a change of level once; over the
                   budget, delete the oldest events until under 90 % of it (never for backups or other files: they
                   are shown, and named when the filesystem runs short)
    every hour     retention: events, alert history, sent notifications, closed records past their days, counted
                   from the box's clock or the newest stored row's time if that is earlier; paused (said once in the
                   log and in /api/health) while the clock is more than a day ahead of every stored row or the log
                   jumps ahead just before its newest rows: a box booted with a wrong date keeps its history
    after either   give the freed pages back (`incremental_vacuum`, 4 MB a step) and truncate a large -wal

Every delete is a batch of at most 2,000 rows in its own short transaction, and the task sleeps a moment between
batches: ingest, decisions and the HTTP API run in between, and another process waits for the write lock no longer
than one batch (tests/system/test_retention_locks.py measures it). A storage fault (a full disk, a lock) skips the
round; the next one tries again.

This module must not decide what is old or how much is too much (edge/retention.py does), nor write SQL (the store's
retention repository does).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from edge.config import StorageSection
from edge.retention import (
    Assessment,
    DiskUsage,
    Level,
    Policy,
    assess,
    budget_cut,
    clock_ahead,
    days_that_fit,
    horizons,
    log_jump,
)
from edge.store import Store
from edge.store.connection import SIDE_FILES
from edge.store.faults import describe, is_storage_fault
from edge.store.retention import BATCH_ROWS
from edge.supervisor import Worker
from rules.clock import Clock

log = logging.getLogger(__name__)

MB = 1024 * 1024
TICK_S = 5.0  # the task comes round this often (the supervisor's stall watch); it measures every minute (every
# tick while the disk is not ok)
MEASURE_EVERY_S = 60.0
RETAIN_EVERY_S = 3600.0
COUNT_DAY_EVERY_S = 600.0  # the last 24 hours' events, counted along the events_at index: every ten minutes is enough
BATCH_PAUSE_S = 0.02  # between two batches: the event loop's other tasks take their turn
WAL_TRUNCATE_BYTES = 64 * MB  # a -wal larger than this is checkpointed and truncated after the upkeep's writes
WALK_LIMIT = 20_000  # files counted in the data directory at most (a directory that is not hallops' own …)


@dataclass(frozen=True, slots=True)
class DiskStatus:
    """The last measure, for /api/health."""

    usage: DiskUsage
    assessment: Assessment
    budget: int
    free_min: int
    auto_vacuum: str
    days_fit: float | None  # days of the log the budget holds at the last 24 hours' rate
    oldest_event_at: float | None  # UNIX s: how far back the log goes now
    budget_pruned: int  # events the budget deleted since the start
    measured_at: datetime


def measure_directory(db: Path, backups: Path) -> tuple[int, int, int, int, int]:
    """(database, -wal and -shm, backups, other, filesystem free) bytes of the folder of `db` and of the backups
    folder (`storage.backups_dir`, within it or not): blocking file system calls, run in a thread. Files are counted by
    the blocks they use, up to WALK_LIMIT of them; links are not followed."""
    folder = db.resolve().parent
    backups = backups.resolve()
    own = {db.resolve(), *(db.resolve().with_name(db.name + s) for s in SIDE_FILES)}
    size_db = _size(db)
    wal = sum(_size(db.with_name(db.name + s)) for s in SIDE_FILES)
    counted = {"backups": 0, "other": 0}
    seen = 0
    stack = [(folder, folder == backups)]
    if not backups.is_relative_to(folder):
        stack.append((backups, True))
    while stack and seen < WALK_LIMIT:
        where, in_backups = stack.pop()
        try:
            entries = list(os.scandir(where))
        except OSError:
            continue
        for entry in entries:
            seen += 1
            if seen > WALK_LIMIT:
                break
            path = Path(entry.path)
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append((path, in_backups or path == backups))
                    continue
                if not entry.is_file(follow_symlinks=False) or path in own:
                    continue
                size = entry.stat(follow_symlinks=False).st_blocks * 512
            except OSError:
                continue
            counted["backups" if in_backups else "other"] += size
    try:
        st = os.statvfs(folder)
        free = st.f_bavail * st.f_frsize
    except OSError:
        free = 0
    return size_db, wal, counted["backups"], counted["other"], free


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


class Upkeep:
    def __init__(self, cfg: StorageSection, store: Store, clock: Clock) -> None:
        self.cfg = cfg
        self.store = store
        self.clock = clock
        self.policy = Policy(cfg.retention_days, cfg.alert_history_days, cfg.outbox_days, cfg.records_days)
        self.budget = int(cfg.disk_budget_mb * MB)
        self.free_min = int(cfg.disk_free_min_mb * MB)
        self.worker: Worker | None = None
        self.status: DiskStatus | None = None
        self.pruned: Counter[str] = Counter()  # rows deleted since the start, per table
        self.budget_pruned = 0
        self.paused: Callable[[], bool] = lambda: (
            False
        )  # the gateway's storage fault: nothing is written while it lasts
        self._level = Level.OK
        self.retention_paused: str | None = None  # why retention does not prune now (a clock ahead), in words
        self._events_day = 0
        self._counted_at = -COUNT_DAY_EVERY_S

    # -- at start, before the tasks run --------------------------------------------------------------------

    def convert_at_start(self) -> None:
        """A file of an earlier release (auto_vacuum none) cannot give space back: rewrite it now if it is small
        (`storage.vacuum_at_start_mb`), or say what to run."""
        pages = self.store.retention.pages()
        if pages.auto_vacuum == "incremental":
            return
        size = pages.pages * pages.page_size
        path = self.store.path
        if size > self.cfg.vacuum_at_start_mb * MB:
            log.warning(
                "storage: %s (%.0f MB, made by an earlier release) reuses the space retention frees but does not give "
                "it back to the disk; to convert it once, stop the gateway and run `hallops db vacuum --db %s` "
                "(needs about %.0f MB free)",
                path,
                size / MB,
                path,
                size / MB,
            )
            return
        log.info("storage: rewriting %s (%.1f MB) once so that it gives freed space back (VACUUM) …", path, size / MB)
        began = time.monotonic()
        self.store.retention.convert()
        self.store.retention.checkpoint()
        log.info("storage: %s rewritten in %.1f s: incremental vacuum on", path, time.monotonic() - began)

    # -- the task --------------------------------------------------------------------------------------------

    async def run(self) -> None:
        last_retain = last_measure = -RETAIN_EVERY_S
        while True:
            self._beat()
            # while the level is not ok, every tick: space freed shows in /api/health within seconds
            every = MEASURE_EVERY_S if self._level is Level.OK else TICK_S
            if not self.paused() and time.monotonic() - last_measure >= every:
                last_measure = time.monotonic()
                try:
                    if time.monotonic() - last_retain >= RETAIN_EVERY_S:
                        last_retain = time.monotonic()
                        await self.retain()
                    await self.keep_budget()
                    await self.give_back()
                except Exception as exc:
                    if not is_storage_fault(exc):
                        raise
                    log.warning("upkeep skipped a round: %s", describe(exc))
            await asyncio.sleep(TICK_S)

    def _beat(self) -> None:
        if self.worker is not None:
            self.worker.beat()

    async def retain(self) -> dict[str, int]:
        """Each table past its days, in batches; what went is logged and counted. Nothing goes while the clock is not
        to be trusted (`retention_paused`, said once)."""
        r = self.store.retention
        now = self.clock.now().timestamp()
        newest = r.newest_at()
        why = clock_ahead(now, newest)
        h = horizons(self.policy, min(now, newest) if newest is not None else now)
        if why is None:
            why = log_jump(h.events, *r.first_event_at(h.events), now)
        if why is not None:
            if why.split(" (")[0] != (self.retention_paused or "").split(" (")[0]:  # once, not each hour
                log.warning("%s", why)
            self.retention_paused = why
            return {"events": 0, "alert_history": 0, "outbox": 0, "records": 0}
        if self.retention_paused is not None:
            log.info("retention resumed: the box's clock agrees with the stored rows again")
            self.retention_paused = None
        gone = {
            "events": await self._batches(lambda: r.events(h.events)),
            "alert_history": await self._batches(lambda: r.alert_history(h.alert_history)),
            "outbox": await self._batches(lambda: r.outbox(h.outbox)),
            "records": await self._batches(lambda: r.records(h.records)),
        }
        self.pruned.update(gone)
        if any(gone.values()):
            log.info("retention removed %s", " ".join(f"{k}={v}" for k, v in gone.items()))
        return gone

    async def keep_budget(self) -> DiskStatus:
        """Measure, assess, say a change of level once; over the budget, delete the oldest events (only events:
        never a ticket, what waits for the cloud, or the audit chain) until under 90 % of it."""
        status = await self.measure()
        cut = budget_cut(status.usage, self.budget)
        if cut > 0:
            self._say(status)  # over it: said before the prune, and the level it leaves after
            before = self.store.retention.oldest_event_ats(cut)
            if before is None:  # the cut is the whole log: all of it the saved hall state holds
                newest = self.store.events.newest_at()
                before = newest + 1.0 if newest is not None else None
            if before is not None:
                left = cut
                r = self.store.retention

                def batch() -> int:
                    nonlocal left
                    n = r.events(before, min(BATCH_ROWS, left)) if left > 0 else 0
                    left -= n
                    return n

                gone = await self._batches(batch)
                self.budget_pruned += gone
                self.pruned["events"] += gone
                await self.give_back()
                self.store.retention.checkpoint()  # the deletes went through the -wal: it counts in the budget too
                status = await self.measure()
                oldest = status.oldest_event_at
                days = (self.clock.now().timestamp() - oldest) / 86400 if oldest is not None else 0.0
                log.warning(
                    "disk budget: deleted the %d oldest events (before %s) to stay within %.0f MB: the log now goes "
                    "back %.1f days of the %d configured (storage.retention_days)",
                    gone,
                    datetime.fromtimestamp(before, UTC).isoformat(),
                    self.budget / MB,
                    days,
                    self.policy.events_days,
                )
        self._say(status)
        return status

    async def measure(self) -> DiskStatus:
        db, wal, backups, other, free = await asyncio.to_thread(measure_directory, self.store.path, self.cfg.backups())
        pages = self.store.retention.pages()
        now = self.clock.now()
        if time.monotonic() - self._counted_at >= COUNT_DAY_EVERY_S:
            self._counted_at = time.monotonic()
            self._events_day = self.store.events.count_since((now - timedelta(days=1)).timestamp())
        usage = DiskUsage(
            db,
            min(db, pages.free_bytes),
            wal,
            backups,
            other,
            free,
            self.store.events.count(),
            self._events_day,
        )
        assessment = assess(usage, self.budget, self.free_min)
        if self.retention_paused is not None:
            level = Level.WARNING if assessment.level is Level.OK else assessment.level
            assessment = Assessment(level, assessment.share, (*assessment.problems, self.retention_paused))
        self.status = DiskStatus(
            usage,
            assessment,
            self.budget,
            self.free_min,
            pages.auto_vacuum,
            days_that_fit(usage, self.budget),
            self.store.events.oldest_at(),
            self.budget_pruned,
            now,
        )
        return self.status

    def _say(self, status: DiskStatus) -> None:
        level = status.assessment.level
        if level is self._level:
            return
        if level is Level.OK:
            log.info(
                "disk: back within its budget (%.0f %% of %.0f MB)", status.assessment.share * 100, self.budget / MB
            )
        else:
            log.warning("disk %s: %s", level.value, "; ".join(status.assessment.problems))
        self._level = level

    async def give_back(self) -> int:
        """Free pages back to the disk a step at a time, then a large -wal truncated. Returns the pages given back."""
        r = self.store.retention
        total = 0
        while True:
            self._beat()
            n = r.vacuum_step()
            total += n
            if n == 0:
                break
            await asyncio.sleep(BATCH_PAUSE_S)
        if _size(self.store.path.with_name(self.store.path.name + "-wal")) > WAL_TRUNCATE_BYTES:
            busy, frames, _ = r.checkpoint()
            if busy:
                log.info("storage: the -wal (%d frames) could not be truncated now: a reader held it", frames)
        return total

    async def _batches(self, batch: Callable[[], int]) -> int:
        """Run `batch` (one delete, returning the rows it took) until it deletes fewer than a full batch."""
        total = 0
        while True:
            self._beat()
            n = batch()
            total += n
            if n < BATCH_ROWS:
                return total
            await asyncio.sleep(BATCH_PAUSE_S)
