"""Today's KPIs, kept live, and any past day's, rebuilt from the event log: what the manager's KPI panel, charts and
reports read.

Today's book is fed every accepted message on the ingest path (rules/kpi.py keeps that O(1)); it is saved with the
hall state, and at start it is that saved book plus the events logged after it (or, without one, rebuilt from the
log since the hall's midnight), so a restart loses nothing and does not grow with the hour of the day. A past day
does not change, so its report is computed once from the log and kept (a few per gateway; its figures for the whole
hall, which the KPI trends show per day, for two months). This module wires; the definitions live in rules/kpi.py.

Rebuilding a past day reads a whole day's log: seconds on a busy hall. The API has it done in a worker thread
(`rebuild`), on a read-only SQLite connection of its own — the gateway's connection belongs to the event loop, which
writes through it meanwhile — so the gateway goes on serving and ingesting. Today's book is the loop's: it is read
on the loop (`current`), where it is fed.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from time import monotonic
from zoneinfo import ZoneInfo

from devices.codec import DeviceMessage, decode
from edge.store import Store
from edge.store.events import DeadLetters, EventLog, SavedState
from rules.hall import HallProfile
from rules.kpi import DayBook, DayReport, Kpis
from rules.schedule import Schedule

log = logging.getLogger(__name__)

PAST_KEPT = 8
DAYS_KEPT = 62  # the hall's figures of a past day (a row), for the KPI trends over up to 31 days


# Past days are rebuilt one at a time in a thread of their own, never in asyncio's shared pool: a burst of asks for
# many past days (a 30-day chart, a script) would otherwise fill the few threads that signing in (Argon2 in
# edge.api.session) and the rule checks also wait for.
_REBUILDER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hallops-rebuild")


class Reports:
    def __init__(
        self, profile: HallProfile, target_wait_min: float, opening_hours: tuple[time, time] | None = None
    ) -> None:
        self.profile = profile
        self.target_wait_min = target_wait_min
        self.opening_hours = opening_hours
        self.tz = ZoneInfo(profile.timezone)
        self.today: DayBook | None = None
        self._heard = False  # today's book holds a message (from the log or live), so its day is the hall's
        self._past: OrderedDict[date, DayReport] = OrderedDict()
        self._days: OrderedDict[date, Kpis] = OrderedDict()  # each past day's hall row, kept longer than its report
        self._rebuilding: dict[date, asyncio.Task[DayReport]] = {}

    def _book(self, day: date) -> DayBook:
        return DayBook(self.profile, day, self.target_wait_min, opening_hours=self.opening_hours)

    def restore(self, store: Store, now: datetime, saved: SavedState | None = None) -> None:
        """Today's book at the gateway's start: the one saved with the hall state plus the events logged after it,
        when it is today's and was kept under today's configuration; else rebuilt from the whole day's log."""
        day = now.astimezone(self.tz).date()
        started = monotonic()
        how = "log"
        book = self._load(saved, day)
        if book is not None and saved is not None:
            self.today, self._heard, how = book, book.heard(), "saved book"
            for ev in store.events.after(saved.event_id):  # the live path's own way, midnight included
                msg = decode(ev.topic, ev.payload, datetime.fromtimestamp(ev.received_at, UTC), max_bytes=1 << 30)
                if msg is not None:
                    self.apply(msg)
        else:
            self.today = self._book(day)
            self._heard = self._fill(self.today, store.events, day) > 0
        log.info("kpi book restored day=%s from=%s seconds=%.2f", day, how, monotonic() - started)

    def dump(self) -> bytes | None:
        """Today's book, to be saved with the hall state (rules/kpi.py `DayBook.dump`)."""
        return self.today.dump() if self.today is not None else None

    def _load(self, saved: SavedState | None, day: date) -> DayBook | None:
        if saved is None or saved.kpi is None:
            return None
        try:
            book = DayBook.load(self.profile, saved.kpi, self.target_wait_min, opening_hours=self.opening_hours)
        except ValueError as exc:  # another configuration, or a book this release cannot read: the log has it all
            log.info("saved kpi book not used (%s); rebuilding today's from the log", exc)
            return None
        return book if book.day == day else None

    def apply(self, msg: DeviceMessage) -> None:
        # the day is the box's (when the message arrived, in the hall's zone), as the hall model's: a device whose
        # clock runs ahead does not start tomorrow's book before midnight
        day = msg.received_at.astimezone(self.tz).date()
        # a new day; or the first message of all, whose day was only guessed from the clock at start (a device clock
        # that has heard no device yet runs on the box's date). A late message of yesterday never resets today.
        if self.today is None or day > self.today.day or (day < self.today.day and not self._heard):
            self.today = self._book(day)
        self.today.apply(msg)
        self._heard = True

    def report(self, day: date, now: datetime, store: Store | None) -> DayReport:
        """The day's report as of `now` (today), or as it ended (a past day: rebuilt here and now from `store`, on the
        caller's thread; the API uses `current` and `rebuild` instead)."""
        known = self.current(day, now)
        if known is not None:
            return known
        report = self._rebuilt(day, store.events if store is not None else None)
        self._keep(day, report)
        return report

    def current(self, day: date, now: datetime) -> DayReport | None:
        """The day's report if it is at hand: today's as of `now` (from the live book), a future day's (empty), a past
        day's rebuilt before. None: a past day to `rebuild` from the log."""
        if self.today is not None and day == self.today.day:
            return self.today.report(now)
        if day > now.astimezone(self.tz).date():
            return self._book(day).report(self._end(day))
        return self._past.get(day)

    def figures(self, day: date, now: datetime) -> Kpis | None:
        """The day's figures for the whole hall if they are at hand (as `current`), also of a past day whose report
        was rebuilt longer ago. None: a past day to `rebuild_days`."""
        known = self.current(day, now)
        return known.hall if known is not None else self._days.get(day)

    def rebuild_days(self, days: list[date], db: Path | None) -> asyncio.Future[None]:
        """Rebuild past `days` whose figures are not at hand (`figures` None), one after another (`rebuild`), each
        kept as it is done; the future is done with the last. One after another: a month asked for at once must not
        take every worker thread, and both of the box's cores, from the gateway; and it goes on when whoever asked
        gives up waiting. Another ask meanwhile waits for the same rebuilds."""

        async def one_by_one() -> None:
            for day in days:
                if day not in self._days:
                    await self.rebuild(day, db)

        return asyncio.ensure_future(one_by_one())

    async def rebuild(self, day: date, db: Path | None) -> DayReport:
        """A past day's report, rebuilt from the log in the file `db` (None: no log, an empty day) in the rebuilder's
        thread on a read-only connection of its own, and kept. Asks for a day already being rebuilt wait for that
        rebuild; one whose wait is given up (a time limit) leaves it running, its report kept for the next ask."""
        job = self._rebuilding.get(day)
        if job is None:
            work = asyncio.get_running_loop().run_in_executor(_REBUILDER, self._rebuilt_from, day, db)
            job = self._rebuilding[day] = asyncio.ensure_future(work)
            job.add_done_callback(lambda done: self._finished(day, done))
        return await asyncio.shield(job)

    def _finished(self, day: date, job: asyncio.Task[DayReport]) -> None:
        del self._rebuilding[day]
        if job.cancelled():
            return
        if job.exception() is not None:  # (the waiters get it; logged for a rebuild nobody waits for any more)
            log.warning("rebuilding the report of %s failed: %r", day, job.exception())
            return
        self._keep(day, job.result())

    def _rebuilt_from(self, day: date, db: Path | None) -> DayReport:
        """In the worker thread: touches no state of the loop's (the profile and settings do not change)."""
        if db is None:
            return self._rebuilt(day, None)
        conn = read_only(db)
        try:
            return self._rebuilt(day, EventLog(conn, DeadLetters(conn)))
        finally:
            conn.close()

    def _rebuilt(self, day: date, events: EventLog | None) -> DayReport:
        book = self._book(day)
        self._fill(book, events, day)
        return book.report(self._end(day))

    def _keep(self, day: date, report: DayReport) -> None:
        self._past[day] = report
        while len(self._past) > PAST_KEPT:
            self._past.popitem(last=False)
        self._days[day] = report.hall
        while len(self._days) > DAYS_KEPT:
            self._days.popitem(last=False)

    def _end(self, day: date) -> datetime:
        return datetime.combine(day + timedelta(days=1), datetime.min.time(), self.tz) - timedelta(microseconds=1)

    def _fill(self, book: DayBook, events: EventLog | None, day: date) -> int:
        """Apply the day's logged messages to `book`; how many."""
        if events is None:
            return 0
        start = datetime.combine(day, datetime.min.time(), self.tz)
        end = start + timedelta(days=1)
        applied = 0
        for row in events.rows_between(start.timestamp(), end.timestamp()):
            if row.type == "hb":  # all a heartbeat tells is in its row: no need to decode it again
                book.heartbeat(row.device_id, row.device_type, row.seq, row.at)
                applied += 1
                continue
            msg = decode(row.topic, row.payload, datetime.fromtimestamp(row.received_at, UTC), max_bytes=1 << 30)
            if msg is not None:
                book.apply(msg)
                applied += 1
        return applied


def read_only(db: Path) -> sqlite3.Connection:
    """A read-only connection to the gateway's file, for one thread: in WAL mode it reads what was committed while the
    gateway goes on writing, and it can take no lock that would hold the gateway's writes up."""
    return sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)


def forecast(
    rate: Callable[[str, datetime], float | None], services: list[str], slots: list[datetime]
) -> list[tuple[datetime, float]]:
    """Tickets expected per slot (15 min) from the demand profile's learned rates, for the slots that have one."""
    out = []
    for at in slots:
        rates = [r for s in services if (r := rate(s, at)) is not None]
        if rates:
            out.append((at, round(sum(rates) / 4, 2)))
    return out


def day_span(schedule: Schedule | None) -> tuple[time, time] | None:
    """The hall's day from a schedule (its first opening to its last closing), over which device availability is
    counted: devices switched off at night are not "unavailable". None for a schedule that runs to midnight."""
    if schedule is None or not schedule.hours:
        return None
    closings = [span.end for span in schedule.hours]
    if None in closings:
        return None
    return min(span.start for span in schedule.hours), max(t for t in closings if t is not None)
