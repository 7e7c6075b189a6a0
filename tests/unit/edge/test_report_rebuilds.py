"""Past days' reports are rebuilt one at a time in a thread of their own: a burst of asks for many past days (a 30-day
chart) must not take the threads that signing in and the rule checks wait for (asyncio's shared pool)."""

from __future__ import annotations

import asyncio
import threading
from datetime import date, timedelta
from pathlib import Path

from edge.reports import Reports
from rules.hall import HallProfile
from rules.kpi import DayReport


class HeldReports(Reports):
    """Reports whose rebuilds hold until released, and which count how many run at once."""

    def __init__(self) -> None:
        super().__init__(HallProfile("h1"), 15.0)
        self.release = threading.Event()
        self.running = 0
        self.most = 0
        self.threads: set[str] = set()
        self._count = threading.Lock()

    def _rebuilt_from(self, day: date, db: Path | None) -> DayReport:
        with self._count:
            self.running += 1
            self.most = max(self.most, self.running)
            self.threads.add(threading.current_thread().name)
        try:
            self.release.wait()
            return super()._rebuilt_from(day, None)
        finally:
            with self._count:
                self.running -= 1


async def test_a_burst_of_past_day_rebuilds_leaves_the_shared_threads_to_signing_in() -> None:
    reports = HeldReports()
    first = date(2026, 11, 1)
    asks = [asyncio.ensure_future(reports.rebuild(first + timedelta(days=i), None)) for i in range(12)]
    await asyncio.sleep(0)  # the asks are made
    try:
        # a sign-in's password check runs in asyncio's shared pool: it gets a thread while 12 rebuilds wait
        # (that pool has min(32, cores + 4) threads: on this box 6, all of them held by the rebuilds before)
        assert await asyncio.wait_for(asyncio.to_thread(lambda: "checked"), timeout=10) == "checked"
    finally:
        reports.release.set()
    done = await asyncio.gather(*asks)
    assert [r.day for r in done] == [first + timedelta(days=i) for i in range(12)]
    assert reports.most == 1, "past days are rebuilt one at a time"
    assert all(name.startswith("hallops-rebuild") for name in reports.threads)
