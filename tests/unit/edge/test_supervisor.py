"""The supervisor: every background task reports honestly, and one that dies stops the gateway (never up but deaf)."""

from __future__ import annotations

import asyncio

import pytest

from edge.supervisor import Supervisor, Worker, WorkerState


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_a_worker_is_running_once_it_beats_and_stalled_when_it_stops_beating() -> None:
    clock = FakeClock()
    w = Worker("decisions", stall_s=30, clock=clock)
    assert w.report().state is WorkerState.STARTING
    w.beat()
    assert w.report().state is WorkerState.RUNNING
    clock.t += 29
    assert w.report().state is WorkerState.RUNNING
    clock.t += 2
    report = w.report()
    assert report.state is WorkerState.STALLED
    assert report.beat_age_s == pytest.approx(31)
    w.beat()
    assert w.report().state is WorkerState.RUNNING


def test_a_paused_worker_says_why_and_since_when_and_is_never_called_stalled() -> None:
    clock = FakeClock()
    w = Worker("ingest", stall_s=30, clock=clock)
    w.beat()
    w.pause("storage_error", "OperationalError: database or disk is full")
    clock.t += 10
    w.pause("storage_error", "OperationalError: database is locked")  # the same pause, a new cause
    clock.t += 100
    report = w.report()
    assert (report.state, report.reason, report.detail) == (
        WorkerState.PAUSED,
        "storage_error",
        "OperationalError: database is locked",
    )
    assert report.since_s == pytest.approx(110)  # since the pause began, not since the last cause
    w.resume()
    assert w.report().state is WorkerState.RUNNING and w.report().reason == ""


def test_a_worker_without_a_loop_is_never_stalled() -> None:
    clock = FakeClock()
    w = Worker("ingest", stall_s=None, clock=clock)
    w.resume()
    clock.t += 3600
    assert w.report().state is WorkerState.RUNNING
    assert w.report().beat_age_s is None


async def test_a_task_that_raises_is_reported_failed_and_stops_the_gateway() -> None:
    died: list[tuple[str, BaseException]] = []
    sup = Supervisor(lambda name, exc: died.append((name, exc)))

    async def decisions() -> None:
        await asyncio.sleep(0)
        raise ValueError("no alert will ever be decided again")

    w = sup.worker("decisions", 30)
    await asyncio.wait({sup.start(w, decisions())})
    assert [(name, str(exc)) for name, exc in died] == [("decisions", "no alert will ever be decided again")]
    report = sup.report()[0]
    assert report.state is WorkerState.FAILED
    assert report.detail == "ValueError: no alert will ever be decided again"
    await sup.stop()


async def test_a_task_that_returns_is_a_failure_too() -> None:
    died: list[str] = []
    sup = Supervisor(lambda name, exc: died.append(name))

    async def housekeeping() -> None:
        return

    await asyncio.wait({sup.start(sup.worker("housekeeping", 30), housekeeping())})
    assert died == ["housekeeping"]
    assert sup.report()[0].reason == "ended"
    await sup.stop()


async def test_stopping_cancels_every_task_and_reports_them_stopped_not_failed() -> None:
    died: list[str] = []
    sup = Supervisor(lambda name, exc: died.append(name))
    w = sup.worker("live", 30)
    beating = asyncio.Event()

    async def live() -> None:
        while True:
            w.beat()
            beating.set()
            await asyncio.sleep(0.001)

    sup.start(w, live())
    await beating.wait()
    assert sup.report()[0].state is WorkerState.RUNNING
    await sup.stop()
    assert sup.report()[0].state is WorkerState.STOPPED
    assert died == []
