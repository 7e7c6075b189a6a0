"""Backtests: what a rule version would have done over recorded history, beside what another version did.

    event log ─▶ HallState ─▶ snapshot at each evaluation ─▶ Decider(active rules)    ─▶ alerts, tickets, recs ─┐
    event log ─▶ HallState ─▶ snapshot at each evaluation ─▶ Decider(candidate rules) ─▶ alerts, tickets, recs ─┴▶ diff
                                                  (the candidate on the second core)

The log is replayed in the order the gateway received it, each message known from the moment it was received
(`received_at`, in hall time), as live: a rule evaluated before a message came did not know it. (A customer at the
counter a second before a re-call was due, heard a second after it, was re-called live, and is in the replay.)

Both versions run the gateway's own decision code (`edge.decisions.Decider` in replay mode: nothing stored or sent)
on the same events, so a difference between them is the rules' difference. The hall is rebuilt from
the hall's midnight before the start (windows opened in the morning, devices seen) without running any rule.

When the replay evaluates. The live gateway evaluates every rule at least once a second; a week replayed that way
would take an hour. The replay evaluates
- a rule at every deadline it asks for, to the second (a `for:` elapsing, a wait or a silence crossing its
  threshold, an escalation, an SLA clock, a tidal check);
- the rules with an open alert on a device or window `RECHECK_S` after that subject sends a message (the called
  number came: the alert ends, and the next one is a new alert, as live);
- every rule after messages, at most every `step_s` of hall time (and no later than `step_s` after the earliest of
  them happened: one heard after an evaluation it happened before may start a clock that runs out sooner), every
  `tick_s` in opening hours (the tidal recommender's minute), and when a schedule opens or closes; heartbeats
  alone, and messages outside every rule's schedule, do not call for one (nothing can start to hold there).
Evaluating later does not move most firing times: an alert fires at its condition's start plus `for:` whenever the
evaluation comes, and the hall tells when most conditions started (an idle window's idle-since, a call's time, a
device's last message). A condition whose start the hall does not tell fires up to `step_s` later than live, and
one that holds for less than that without a deadline can be missed; `compare` matches firings within a tolerance,
and every result compares the replay of the version in force with what the live gateway recorded.

Each version is replayed on its own hall with its own evaluation schedule, so what a version would have done does
not depend on what it is compared with; `parallel` replays the candidate on the box's second core.

A `deadline` bounds the work: each replay looks at the time at every evaluation and every `CHECK_EVERY` events, and
past it stops with `BacktestStopped` (what the API answers when a backtest runs longer than `rules.backtest_limit_s`).

Only what was recorded is replayed: of the period asked, the span from the first to the last event the log holds
in it (`recorded_span`, whole seconds), and nothing after the last. Replaying on past the end of the recording
would find every device silent and fire a device-offline alert for each (and a call system down, and a ticket per
device) that no hall ever had; replaying the hours before the first event would evaluate a hall not yet seen. A
period with no recorded event is `NothingRecorded`. The live firings it is compared with are taken over the same span.

A replay must not be mistaken for the live gateway: while a thread replays, what the decision layer logs (tickets
opened, decisions restored, commands) goes to the `edge.backtest.replay` logger at DEBUG instead of the gateway's
log (`quiet`), and its tickets and recommendations carry ids of their own (`REPLAY_ID` before the id the replay
gave them: a replay's ticket numbers count from 1 each day, as the live ones do, and would name live tickets). Its
alerts keep their fingerprints: a fingerprint says what an alert is about, and is how the replay is matched with
the live firings.
"""

from __future__ import annotations

import json
import logging
import math
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from devices.codec import decode
from devices.errors import HallOpsError, PayloadError
from devices.topics import DeviceType
from edge.config import GatewayConfig
from edge.decisions import Batch, decider_for, firings_of
from edge.store import EventRow, Store
from edge.stream import Broadcaster
from rules.clock import FixedClock
from rules.firings import TOLERANCE_S, Diff, Fired, Firings, compare
from rules.hall import Applied, HallState
from rules.language import RuleFile
from rules.schedule import in_schedule

STEP_S = 60.0
TICK_S = 60.0
RECHECK_S = 1.0  # after a message from the subject of an open alert, look at the alert again this soon
CHECK_EVERY = 1024  # events replayed between two looks at the deadline (besides one at every evaluation)
STOP_GRACE_S = 10.0  # past the deadline, how long the second process may take to stop on its own before it is ended
REPLAY_ID = "BT-"  # before the id of each ticket and recommendation a replay opens: never a live one's
DECISION_LOGGERS = ("rules", "edge.decisions")  # what logs while a replay runs the gateway's decision code

log = logging.getLogger(__name__)
replay_log = logging.getLogger(f"{__name__}.replay")


class BacktestStopped(HallOpsError):
    """The backtest ran past its deadline and stopped; `reached` is the moment of the period it had replayed to (None:
    the second process did not say)."""

    def __init__(self, reached: datetime | None) -> None:
        super().__init__(reached)  # (the one argument: the error crosses from the second process pickled)
        self.reached = reached

    def __str__(self) -> str:
        where = f", having replayed to {self.reached.isoformat()}" if self.reached else ""
        return f"the backtest ran past its time limit and stopped{where}"


class NothingRecorded(HallOpsError):
    """No event was recorded in the period asked. `recorded`: the first and the last event the log holds (None: it is
    empty), to say where there is something to replay."""

    def __init__(self, start: datetime, end: datetime, recorded: tuple[datetime, datetime] | None) -> None:
        super().__init__(start, end, recorded)
        self.start, self.end, self.recorded = start, end, recorded

    def __str__(self) -> str:
        tz = self.start.tzinfo
        held = (
            f"the log holds events from {self.recorded[0].astimezone(tz).isoformat()} to "
            f"{self.recorded[1].astimezone(tz).isoformat()}"
            if self.recorded
            else "the event log is empty"
        )
        return f"no device events were recorded between {self.start.isoformat()} and {self.end.isoformat()}; {held}"


def recorded_span(store: Store, start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The part of [start, end) the event log covers: from the second of the first event received in it to the second
    after the last (`NothingRecorded` when there is none)."""
    span = store.events.received_span(start.timestamp(), end.timestamp())
    if span is None:
        whole = store.events.received_span(-math.inf, math.inf)
        raise NothingRecorded(start, end, None if whole is None else (_utc(whole[0]), _utc(whole[1])))
    first, last = (_utc(math.floor(t)).astimezone(start.tzinfo) for t in span)
    return max(start, first), min(end, last + timedelta(seconds=1))


def suggested_period(last: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The period a backtest form starts with, `last` being the newest recorded event: its hall day from midnight
    to the minute after it (today up to now, in a hall that is open; the last day with events, in one that is not)."""
    local = last.astimezone(tz)
    midnight = datetime.combine(local.date(), datetime.min.time(), tz)
    return midnight, local.replace(second=0, microsecond=0) + timedelta(minutes=1)


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class _Replaying(threading.local):
    on = False


_replaying = _Replaying()


class _ToReplayLog(logging.Filter):
    """Takes a record logged while its thread replays out of the gateway's log, into `replay_log` at DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _replaying.on:
            return True
        if replay_log.isEnabledFor(logging.DEBUG):
            replay_log.debug("%s: %s", record.name, record.getMessage())
        return False


_TO_REPLAY_LOG = _ToReplayLog()


@contextmanager
def quiet() -> Iterator[None]:
    """While this thread replays, the decision layer's log lines go to `replay_log` at DEBUG: a replay's "ticket
    opened … P1" in the gateway's log reads as the hall's own. Other threads (the live gateway beside it) log as ever.

    A logger's filters see only what is logged on it, not what its children pass up: the filter goes on every logger
    of the decision layer (all made when edge.decisions was imported, before any replay), and stays there, idle
    outside a replay."""
    for name in list(logging.root.manager.loggerDict):
        if any(name == p or name.startswith(p + ".") for p in DECISION_LOGGERS):
            logging.getLogger(name).addFilter(_TO_REPLAY_LOG)  # (once: a filter already there is not added again)
    _replaying.on = True
    try:
        yield
    finally:
        _replaying.on = False


@dataclass(slots=True)
class Run:
    """What one rule version did (or would have done) over the period."""

    firings: Firings
    tickets: dict[str, dict[str, Any]] = field(default_factory=dict)
    recommendations: dict[str, dict[str, Any]] = field(default_factory=dict)
    evaluations: int = 0

    @property
    def alerts(self) -> list[Fired]:
        return self.firings.alerts

    def take(self, batch: Batch) -> None:
        for c in batch.history:
            self.firings.change(c.fingerprint, c.rule_id, c.state, c.severity, json.loads(c.body))
        for r in batch.records:
            body = json.loads(r.body)
            body["id"] = REPLAY_ID + r.id
            (self.tickets if r.kind == "ticket" else self.recommendations)[body["id"]] = body


@dataclass(slots=True)
class Result:
    start: datetime  # the span replayed: from the first to the last event recorded in the period asked
    end: datetime
    events: int  # replayed inside the period (after the warm-up)
    warmup_events: int
    seconds: float  # wall time the backtest took
    active: Run
    candidate: Run
    diff: Diff
    recorded: Firings  # what the live gateway fired in the span (its alert history)
    replay_vs_recorded: Diff  # the active version's replay against that: how far the replay can be trusted
    asked_start: datetime  # the period asked
    asked_end: datetime
    tolerance_s: float = TOLERANCE_S  # two firings this close are the same firing

    @property
    def events_per_s(self) -> float:
        return (self.events + self.warmup_events) / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self, tz: ZoneInfo) -> dict[str, object]:
        def run(r: Run) -> dict[str, object]:
            return {
                "alerts": [a.to_dict(tz) for a in r.alerts],
                "alerts_per_rule": r.firings.per_rule(),
                "tickets": sorted(r.tickets.values(), key=lambda t: str(t.get("opened_at"))),
                "recommendations": sorted(r.recommendations.values(), key=lambda t: str(t.get("created_at"))),
                "evaluations": r.evaluations,
            }

        return {
            "from": self.start.astimezone(tz).isoformat(),
            "to": self.end.astimezone(tz).isoformat(),
            "asked_from": self.asked_start.astimezone(tz).isoformat(),
            "asked_to": self.asked_end.astimezone(tz).isoformat(),
            "tolerance_s": self.tolerance_s,
            "events": self.events,
            "warmup_events": self.warmup_events,
            "seconds": round(self.seconds, 3),
            "events_per_s": round(self.events_per_s),
            "active": run(self.active),
            "candidate": run(self.candidate),
            "diff": self.diff.to_dict(tz),
            "recorded": {"alerts_per_rule": self.recorded.per_rule(), "alerts": len(self.recorded.alerts)},
            "replay_vs_recorded": self.replay_vs_recorded.to_dict(tz),
        }


def backtest(  # noqa: PLR0913 - what `hallops rules backtest` and the API take, each a keyword
    cfg: GatewayConfig,
    store: Store,
    active: RuleFile,
    candidate: RuleFile,
    start: datetime,
    end: datetime,
    *,
    step_s: float = STEP_S,
    tick_s: float = TICK_S,
    tolerance_s: float = TOLERANCE_S,
    parallel: bool = False,
    progress: Callable[[datetime], None] | None = None,
    deadline: float | None = None,
    timer: Callable[[], float] = time.monotonic,
) -> Result:
    """Replay the log between `start` and `end` through both rule versions, over the span of it the log covers
    (`recorded_span`; `NothingRecorded` when it covers none). Reads the store; writes nothing, logs one line.

    Each version is replayed on its own, with its own evaluation schedule, so what a version would have done does not
    depend on what it is compared with. `parallel`: the candidate on a second process (the box's second core), the
    same answer in about half the time. `deadline` (a reading of `timer`): past it the replay stops with
    `BacktestStopped` at its next evaluation or within `CHECK_EVERY` events; the second process keeps the same
    time limit by its own clock."""
    began = time.perf_counter()
    asked_start, asked_end = start, end
    start, end = recorded_span(store, start, end)
    limit = TimeLimit(deadline, timer)
    if not parallel:
        with quiet():
            run_a, events, warmup = _replay(cfg, store, active, start, end, step_s, tick_s, progress, limit)
            run_c, _, _ = _replay(cfg, store, candidate, start, end, step_s, tick_s, None, limit)
    else:
        ctx = multiprocessing.get_context("spawn")  # no fork of a process with threads (the API's server)
        mine, theirs = ctx.Pipe()
        args = (cfg, store.path, candidate, start, end, step_s, tick_s, limit.left_s(), theirs)
        child = ctx.Process(target=_replay_child, args=args, daemon=True)
        child.start()
        try:
            with quiet():
                run_a, events, warmup = _replay(cfg, store, active, start, end, step_s, tick_s, progress, limit)
            outcome = _receive(mine, child, limit)
        finally:
            child.join(timeout=5)
            if child.is_alive():
                child.terminate()
        if isinstance(outcome, BaseException):
            raise outcome
        run_c = outcome
    live = firings_of(store.decisions.alert_changes(start.timestamp(), end.timestamp()), start, end)
    seconds = time.perf_counter() - began
    log.info(
        "backtest replayed %s to %s of the asked %s to %s: events=%d alerts=%d/%d seconds=%.1f",
        start.isoformat(),
        end.isoformat(),
        asked_start.isoformat(),
        asked_end.isoformat(),
        events,
        len(run_a.alerts),
        len(run_c.alerts),
        seconds,
    )
    return Result(
        start,
        end,
        events,
        warmup,
        seconds,
        run_a,
        run_c,
        compare(run_a.alerts, run_c.alerts, tolerance_s),
        live,
        compare(live.alerts, run_a.alerts, tolerance_s),
        asked_start,
        asked_end,
        tolerance_s,
    )


@dataclass(frozen=True, slots=True)
class TimeLimit:
    """A backtest's deadline on its timer (None: no limit)."""

    deadline: float | None
    timer: Callable[[], float] = time.monotonic

    def check(self, at: datetime) -> None:
        """Raise `BacktestStopped` (having replayed to `at`) once the deadline has passed."""
        if self.deadline is not None and self.timer() > self.deadline:
            raise BacktestStopped(at)

    def watch(self, rows: Iterable[EventRow]) -> Iterator[EventRow]:
        """`rows`, looking at the deadline every `CHECK_EVERY` of them."""
        for n, row in enumerate(rows, 1):
            if n % CHECK_EVERY == 0:
                self.check(datetime.fromtimestamp(row.received_at, UTC))
            yield row

    def left_s(self) -> float | None:
        """Seconds to the deadline: what another process, on its own clock, is given."""
        return None if self.deadline is None else self.deadline - self.timer()


def _receive(conn: Connection, process: BaseProcess, limit: TimeLimit) -> Any:
    """The second process's answer; a process that died is an error, not a hang, and one that does not stop within
    `STOP_GRACE_S` of the deadline is not waited for."""
    while not conn.poll(1.0):
        if not process.is_alive():
            raise RuntimeError(f"the backtest's second process ended (exit code {process.exitcode})")
        if limit.deadline is not None and limit.timer() > limit.deadline + STOP_GRACE_S:
            raise BacktestStopped(None)
    return conn.recv()


def _replay_child(  # noqa: PLR0913 - a process's target: what _replay takes, and the pipe back
    cfg: GatewayConfig,
    db: Path,
    rules: RuleFile,
    start: datetime,
    end: datetime,
    step_s: float,
    tick_s: float,
    left_s: float | None,
    conn: Connection,
) -> None:
    store = Store(db)
    try:
        limit = TimeLimit(None if left_s is None else time.monotonic() + left_s)
        with quiet():  # (its warnings would reach the gateway's stderr, which this process shares)
            run, _, _ = _replay(cfg, store, rules, start, end, step_s, tick_s, None, limit)
        conn.send(run)
    except BacktestStopped as exc:  # handed to the parent as it is: the time limit, not a failure
        conn.send(exc)
    except Exception as exc:  # handed to the parent, which raises it
        conn.send(RuntimeError(f"backtest of the candidate failed: {exc!r}"))
    finally:
        store.close()


KINDS = {kind.value: kind for kind in DeviceType}


def _replay(  # noqa: C901, PLR0913, PLR0915 - the live loop's schedule replayed step by step, in its order
    cfg: GatewayConfig,
    store: Store,
    rules: RuleFile,
    start: datetime,
    end: datetime,
    step_s: float,
    tick_s: float,
    progress: Callable[[datetime], None] | None,
    limit: TimeLimit,
) -> tuple[Run, int, int]:
    """The replay loop of one version: (what it did, events in the period, events of the warm-up)."""
    profile = cfg.profile()
    tz = ZoneInfo(profile.timezone)
    hall = HallState(profile)
    clock = FixedClock(start)
    run = Run(Firings(start, end + timedelta(microseconds=1)))  # … and what the last evaluation, at `end`, fires
    decider = decider_for(
        cfg, rules, store, clock, hall.snapshot, stream=Broadcaster(), replay=run.take, partial=hall.partial
    )
    warm_from = datetime.combine(start.astimezone(tz).date(), datetime.min.time(), tz)
    events = warmup = 0
    last_eval = start
    pending: datetime | None = None  # the first message since the last evaluation
    happened: datetime | None = None  # … and the earliest event time among those messages
    next_progress = start

    step, tick = timedelta(seconds=step_s), timedelta(seconds=tick_s)
    full_at = start - tick  # the last evaluation of every rule
    edges = schedule_edges((rules,), start, end, tz)  # a rule's schedule opens or closes: evaluate
    opening = rules.schedules.get("opening_hours")
    conditions = [rule for rule in rules.rules if rule.when is not None and rule.enabled]
    always = any(rule.during in (None, "always") for rule in conditions)
    watching = None if always else list({x.during: rules.schedules[x.during] for x in conditions if x.during}.values())
    deadline: datetime | None = None  # the earliest the rules ask for, as of the last evaluation
    watched: dict[str, set[str]] = {}  # device or window → the rules with an open condition alert on it
    recheck: datetime | None = None  # when to look at those alerts again, after their subject sent a message
    settle = timedelta(seconds=RECHECK_S)
    spoke: set[str] = set()  # … and which of them sent one

    def evaluate(at: datetime, *, last: bool = False) -> None:
        nonlocal last_eval, full_at, pending, happened, deadline, recheck, watched
        limit.check(at)
        clock.set(at)
        full = last or at >= full_due()
        rechecking = recheck is not None and at >= recheck
        only = None if full else decider.rules_due(at)
        if only is not None and rechecking:  # a subject of an open alert spoke: is the alert over?
            only |= {rule for subject in spoke for rule in watched.get(subject, ())}
        decider.evaluate(only=only)
        last_eval = at
        if full:
            full_at, pending, happened = at, None, None
        if full or rechecking:
            recheck = None
            spoke.clear()
        upcoming = decider.next_deadline()
        deadline = upcoming if upcoming is not None and upcoming > at else None
        watched = decider.engine.open_on()

    memo: dict[tuple[datetime | None, datetime | None, datetime], tuple[datetime, datetime | None]] = {}

    def full_due() -> datetime:
        """When every rule is next evaluated: messages waiting (at most every `step`), the tidal minute, a schedule
        edge. Asked before every message, so remembered until a message or an evaluation changes its inputs."""
        key = (pending, happened, full_at)
        if key not in memo:
            memo.clear()
            times, held = [], None
            if pending is not None:
                # outside every condition rule's schedule nothing can start to hold: messages wait for the next
                # edge (or a deadline), unless an event rule fired on them and its alert is to be acted on
                # … and no later than `step` after the earliest of them happened: a message that happened before
                # the last evaluation but came after it (a call heard late) may start a condition due sooner
                t = max(pending, full_at + step if happened is None else min(full_at, happened) + step)
                if watching is None or any(in_schedule(w, t.astimezone(tz)) for w in watching):
                    times.append(t)
                else:
                    held = t
            ticking = full_at + tick  # the tidal recommender's minute, in opening hours (always without a schedule)
            if opening is None or in_schedule(opening, ticking.astimezone(tz)):
                times.append(ticking)
            while edges and edges[0] <= full_at:
                edges.pop(0)
            if edges:
                times.append(edges[0])
            memo[key] = (min(times, default=end), held)
        due_at, held = memo[key]
        if held is not None and held < due_at and decider.has_pending():
            return held
        return due_at

    def due(upto: datetime) -> datetime:
        nonlocal deadline
        full = full_due() if recheck is None else min(full_due(), recheck)
        if deadline is not None and deadline < full and deadline <= upto:  # messages may have made it stale: ask again
            deadline = decider.next_deadline()
            if deadline is not None and deadline <= last_eval:
                deadline = None
        return min(full, deadline) if deadline is not None else full

    evaluate(start)
    first = start.timestamp()
    quiet_until = -math.inf  # no evaluation is due before this while only heartbeats come (they make none sooner)
    # in the order received, each message known from the moment it was received (`received_at`, hall time): the
    # rules evaluated before it came did not know it, as live (a customer reaching the counter a second before a
    # re-call is due, heard a second after it, was re-called)
    for row in limit.watch(store.events.received_between(warm_from.timestamp(), end.timestamp())):
        if row.channel == "hb":  # alive, nothing more: applied from the row, as the gateway logged it once checked
            kind = KINDS[row.device_type]
            if row.received_at < first:
                hall.heartbeat(row.device_id, kind, row.seq, row.at, row.received_at)
                warmup += 1
                continue
            if row.received_at >= quiet_until:
                when = datetime.fromtimestamp(row.received_at, UTC)
                while (t := due(when)) <= when:
                    evaluate(t)
                quiet_until = t.timestamp()
            if hall.heartbeat(row.device_id, kind, row.seq, row.at, row.received_at) is not Applied.DUPLICATE:
                events += 1
                # a heartbeat only moves a device's last-seen, whose deadlines the rules know
                decider.heard(row.device_id)
            continue
        quiet_until = -math.inf  # any other message may bring the next evaluation forward
        known = datetime.fromtimestamp(row.received_at, UTC)
        try:
            msg = decode(row.topic, row.payload, known, max_bytes=1 << 30)
        except PayloadError:
            continue  # logged under an older contract; the live gateway would have refused it too
        if msg is None:
            continue
        if row.received_at < first:
            hall.apply(msg)
            warmup += 1
            continue
        while (t := due(known)) <= known:
            evaluate(t)
        if hall.apply(msg) is Applied.DUPLICATE:
            continue
        events += 1
        decider.on_message(msg)
        if pending is None:
            pending = known
        if happened is None or msg.at < happened:
            happened = msg.at
        if watched:
            for subject in (msg.device_id, msg.payload.named_window):
                if subject in watched:
                    spoke.add(subject)
                    recheck = recheck or known + settle
        if progress is not None and known >= next_progress:
            progress(known)
            next_progress = known + timedelta(hours=1)
    while (t := due(end)) < end:
        evaluate(t)
    # every rule, on the messages of the last `step`: the span ends a second after the last one, and live they were
    # evaluated within that second
    evaluate(end, last=True)
    run.evaluations = decider.evaluations
    return run, events, warmup


def schedule_edges(versions: Iterable[RuleFile], start: datetime, end: datetime, tz: ZoneInfo) -> list[datetime]:
    """Every moment in [start, end) a schedule of these rule files opens or closes."""
    out: set[datetime] = set()
    day = start.astimezone(tz).date()
    while datetime.combine(day, datetime.min.time(), tz) < end:
        for rules in versions:
            for schedule in rules.schedules.values():
                for span in schedule.hours:
                    opens, closes = span.bounds(day, tz)
                    if not in_schedule(schedule, opens):
                        continue  # not a day this schedule keeps
                    out.update(t for t in (opens, closes) if start <= t < end)
        day += timedelta(days=1)
    return sorted(out)
