"""Supervised background work: the gateway's long-running tasks, what each says about itself, and what happens when
one dies.

Each task runs as a `Worker`: it says it is alive (`beat()`) every time round its loop, and it may say it is paused
for a reason it knows (`pause("storage_error", "database or disk is full")`) and later `resume()`. `/api/health`
reports every worker (`Supervisor.report`): running, paused with its reason, stalled (no beat for `stall_s`), failed
or stopped — and the gateway is `ok` only when every worker is running.

A worker whose coroutine raises anything but a cancellation, or returns (they all run forever), hit something no
code handled: the supervisor logs it with the traceback and calls `on_fatal`, and the gateway then stops and exits
non-zero so that systemd starts it again. The process is never up but deaf.

This module must not know what the tasks do: the gateway decides what to run and what a pause means.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

log = logging.getLogger(__name__)


class WorkerState(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    PAUSED = "paused"  # it knows why (`reason`, `detail`) and will carry on by itself
    STALLED = "stalled"  # no beat for longer than it promised: stuck, or the event loop is blocked
    FAILED = "failed"  # it raised: the gateway is stopping
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class WorkerReport:
    name: str
    state: WorkerState
    reason: str  # for a pause or a failure: a stable code (`storage_error`, `crashed`)
    detail: str  # the cause in words
    since_s: float  # how long it has been in this state
    beat_age_s: float | None  # seconds since its last beat (None: it does not beat, e.g. the MQTT link)


class Worker:
    """One supervised task's own account of itself."""

    def __init__(self, name: str, stall_s: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.stall_s = stall_s  # None: the task has no loop of its own to beat in (it waits on the network)
        self._clock = clock
        self.state = WorkerState.STARTING
        self.reason = ""
        self.detail = ""
        self._since = clock()
        self._beat = self._since

    def beat(self) -> None:
        """Once round the loop: alive."""
        self._beat = self._clock()
        if self.state is WorkerState.STARTING:
            self._set(WorkerState.RUNNING, "", "")

    def pause(self, reason: str, detail: str) -> None:
        """Not working for a reason it knows (logged once per reason by the caller; the state is what health reads)."""
        self._beat = self._clock()
        if self.state is not WorkerState.PAUSED or self.reason != reason:
            self._set(WorkerState.PAUSED, reason, detail)
        else:
            self.detail = detail

    def resume(self) -> None:
        self._beat = self._clock()
        if self.state in (WorkerState.PAUSED, WorkerState.STARTING):
            self._set(WorkerState.RUNNING, "", "")

    @property
    def paused(self) -> bool:
        return self.state is WorkerState.PAUSED

    def report(self) -> WorkerReport:
        now = self._clock()
        state = self.state
        beat_age = None if self.stall_s is None else now - self._beat
        if state is WorkerState.RUNNING and self.stall_s is not None and now - self._beat > self.stall_s:
            state = WorkerState.STALLED
        return WorkerReport(self.name, state, self.reason, self.detail, now - self._since, beat_age)

    def _set(self, state: WorkerState, reason: str, detail: str) -> None:
        self.state, self.reason, self.detail = state, reason, detail
        self._since = self._clock()


class Supervisor:
    """Starts the workers' tasks and watches them; `on_fatal(name, exc)` when one dies."""

    def __init__(
        self, on_fatal: Callable[[str, BaseException], None], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._on_fatal = on_fatal
        self._clock = clock
        self.workers: dict[str, Worker] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def worker(self, name: str, stall_s: float | None = None) -> Worker:
        """A worker to hand to the code that will run as `name` (before it starts, so it can beat from the first)."""
        worker = self.workers[name] = Worker(name, stall_s, self._clock)
        return worker

    def start(self, worker: Worker, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(self._watch(worker, work), name=worker.name)
        self._tasks.append(task)
        return task

    async def _watch(self, worker: Worker, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except asyncio.CancelledError:
            worker._set(WorkerState.STOPPED, "", "")
            raise
        except BaseException as exc:  # whatever it was, the process must not stay up without it
            worker._set(WorkerState.FAILED, "crashed", f"{type(exc).__name__}: {exc}")
            log.critical("task %s died; the gateway stops so that it can be restarted", worker.name, exc_info=exc)
            self._on_fatal(worker.name, exc)
        else:
            worker._set(WorkerState.FAILED, "ended", "the task returned; it should run until stopped")
            log.critical("task %s ended on its own; the gateway stops so that it can be restarted", worker.name)
            self._on_fatal(worker.name, RuntimeError(f"task {worker.name} ended"))

    def report(self) -> list[WorkerReport]:
        return [w.report() for w in self.workers.values()]

    async def stop(self) -> None:
        """Cancel every task and wait for them (re-cancelling: on Python 3.11 `asyncio.wait_for`, inside aiomqtt, can
        swallow a cancellation that lands just as its inner future completes)."""
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            while not t.done():
                await asyncio.wait({t}, timeout=0.5)
                t.cancel()
        self._tasks.clear()
