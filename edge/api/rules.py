"""Routes of the `rules` tag: the rules in force, their stored versions (add, compare, activate, roll back), the
shadow version and its would-have-fired report, backtests over the recorded events, and checking a rule file.

Must not keep or evaluate rules itself: edge.versions stores the versions (and audits each change), the gateway takes
a change up (`follow_rules`), the decision layer runs the shadow, and edge.backtest replays.

A rule file a person sends is read within bounds (rules.language `read_rule_text`: nesting, values, aliases; 422 past
them) and checked in a worker thread within `http.slow_request_s` (503 past it), so no text stalls the event loop or
ends in a RecursionError. A backtest runs in a worker thread within `rules.backtest_limit_s`, one at a time: the next
is refused (409) until the running one has really ended, even after its request was answered 503. It replays the span
of the period the event log covers; a period with nothing recorded is a 422 that says where the log has events, and
`GET /api/rules/backtest/period` gives a backtest form the latest period with some.
"""

from __future__ import annotations

import asyncio
import math
import time
from datetime import datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import yaml
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi import Path as FastPath
from fastapi.responses import PlainTextResponse

from devices.errors import ConfigError, Problem
from devices.validation import line_of
from edge.api.deps import ALL, ApiState, State, needs, who
from edge.api.schemas import (
    BacktestBody,
    BacktestOut,
    BacktestPeriod,
    CommentBody,
    RuleOut,
    RuleProblem,
    RulesCheck,
    ShadowReport,
    VersionAdded,
    VersionBody,
    VersionDiffOut,
    VersionOut,
    VersionSource,
    VersionsOut,
)
from edge.auth import Role
from edge.backtest import STOP_GRACE_S, BacktestStopped, NothingRecorded, backtest, suggested_period
from edge.backtest import Result as BacktestResult
from edge.store import Store
from edge.versions import diff as version_diff
from edge.wording.alerts import rule_title
from rules.language import RuleFile, RuleTextError, parse_rules, read_rule_text, summarise

router = APIRouter(tags=["rules"])
VersionNumber = Annotated[int, FastPath(ge=1, le=2**31)]


@router.get("/api/rules", response_model=list[RuleOut], **needs(*ALL))
async def rules(state: State) -> list[RuleOut]:
    """The rules in force."""
    in_force = state.rules()
    enabled = {r.id: (r.enabled, r.description) for r in in_force.rules}
    by_id = {r.id: r for r in in_force.rules}
    return [
        RuleOut(
            id=x.id,
            description=enabled[x.id][1],
            title=rule_title(by_id[x.id], x.id),
            severity=x.severity.value,
            kind=x.kind,
            subject=x.subject,
            enabled=enabled[x.id][0],
        )
        for x in summarise(in_force)
    ]


@router.get("/api/rules/source", response_class=PlainTextResponse, **needs(*ALL))
async def rules_source(state: State) -> str:
    """The YAML of the rule version in force."""
    return state.versions().get(state.rules_version()).source


def unprocessable(exc: ConfigError, text: str) -> HTTPException:
    problems = [
        {"path": p.path, "message": p.message, "line": line_of(text, p.path) if p.path else None} for p in exc.problems
    ]
    first = exc.problems[0] if exc.problems else Problem("", "invalid")
    where = f"source.{first.path}" if first.path else "source"
    return HTTPException(422, {"message": f"{where}: {first.message}", "problems": problems})


def unreadable(source: str, message: str, line: int | None) -> HTTPException:
    """422 for a text that is not read as a rule file at all (its YAML), with the line when it is known."""
    at = f" (line {line})" if line is not None else ""
    problem = {"path": "", "message": message, "line": line}
    return HTTPException(422, {"message": f"{source}: {message}{at}", "problems": [problem]})


def syntax(exc: yaml.YAMLError) -> tuple[str, int | None]:
    """A YAML syntax error in words, and its 1-based line."""
    mark = getattr(exc, "problem_mark", None)
    return f"YAML syntax: {getattr(exc, 'problem', None) or exc}", mark.line + 1 if mark is not None else None


def read_rules(text: str, source: str) -> RuleFile:
    """The rule file of a text a person sent (in a worker thread): `yaml.YAMLError` for bad syntax, `RuleTextError`
    for a text past a bound, ConfigError with every problem of invalid rules."""
    return parse_rules(read_rule_text(text, source), source)


async def checked_rules(state: ApiState, text: str, source: str) -> RuleFile:
    """`read_rules` off the event loop within `http.slow_request_s` (503 past it). A text past a bound (or nested
    deeply enough to exhaust the recursion limit all the same) is a 422 naming the problem; bad syntax and invalid
    rules are raised as they are."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(read_rules, text, source), state.config.http.slow_request_s)
    except TimeoutError:
        raise HTTPException(503, "checking the rule file takes too long; try again") from None
    except RuleTextError as exc:
        raise unreadable(source, exc.problems[0].message, exc.line) from None
    except RecursionError:
        raise unreadable(source, "nested too deeply to read", None) from None


async def checked_source(state: ApiState, text: str) -> RuleFile:
    """The rule file `source` of a body, every problem a 422 (`unprocessable`)."""
    try:
        return await checked_rules(state, text, "source")
    except yaml.YAMLError as exc:
        raise unreadable("source", *syntax(exc)) from None
    except ConfigError as exc:
        raise unprocessable(exc, text) from None


@router.get("/api/rules/versions", response_model=VersionsOut, **needs(Role.ADMINISTRATOR))
async def rule_versions(state: State) -> VersionsOut:
    """Every rule version (newest first), which is in force, which runs in shadow, and the activations."""
    v = state.versions()
    return VersionsOut.model_validate(
        {
            "active": state.rules_version(),
            "shadow": v.shadow_number(),
            "versions": [x.summary() for x in reversed(v.all())],
            "activations": v.activations(50),
        }
    )


@router.post("/api/rules/versions", response_model=VersionAdded, status_code=201, **needs(Role.ADMINISTRATOR))
async def add_rule_version(body: VersionBody, request: Request, state: State) -> VersionAdded:
    """Store a rule file as a new immutable version (not put in force). The same YAML as an existing version
    returns that version with `created: false`. Invalid rules: 422 with every problem, its path and line."""
    rules = await checked_source(state, body.source)
    try:
        v, created = state.versions().add(body.source, who(request, None), body.comment, "web", rules=rules)
    except ConfigError as exc:
        raise unprocessable(exc, body.source) from None
    return VersionAdded.model_validate({**v.summary(), "created": created})


@router.get("/api/rules/versions/{number}", response_model=VersionSource, **needs(Role.ADMINISTRATOR))
async def rule_version(number: VersionNumber, state: State) -> VersionSource:
    """One version with its YAML."""
    try:
        v = state.versions().get(number)
    except KeyError:
        raise HTTPException(404, f"no rule version {number}") from None
    return VersionSource.model_validate({**v.summary(), "source": v.source})


@router.get("/api/rules/versions/{number}/diff", response_model=VersionDiffOut, **needs(Role.ADMINISTRATOR))
async def rule_version_diff(
    number: VersionNumber,
    state: State,
    against: Annotated[int | None, Query(ge=1, le=2**31, description="default: the version in force")] = None,
) -> VersionDiffOut:
    """What changed from `against` to `number`: rules added, removed, changed, and the unified YAML diff."""
    versions = state.versions()
    try:
        old, new = versions.get(against or state.rules_version()), versions.get(number)
    except KeyError as exc:
        raise HTTPException(404, f"no rule version {exc.args[0]}") from None
    return VersionDiffOut.model_validate(version_diff(old, new).to_dict())


@router.post("/api/rules/versions/{number}/activate", response_model=VersionOut, **needs(Role.ADMINISTRATOR))
async def activate_rule_version(number: VersionNumber, body: CommentBody, request: Request, state: State) -> VersionOut:
    """Put a version in force now; the rules that did not change keep their timers."""
    try:
        v = state.versions().activate(number, who(request, None), body.comment)
    except KeyError:
        raise HTTPException(404, f"no rule version {number}") from None
    state.follow_rules()
    return VersionOut.model_validate(v.summary())


@router.post("/api/rules/rollback", response_model=VersionOut, **needs(Role.ADMINISTRATOR))
async def rollback_rules(body: CommentBody, request: Request, state: State) -> VersionOut:
    """Put back the version that was in force before the current one."""
    try:
        v = state.versions().rollback(who(request, None), body.comment)
    except LookupError as exc:
        raise HTTPException(409, str(exc)) from None
    state.follow_rules()
    return VersionOut.model_validate(v.summary())


@router.post("/api/rules/versions/{number}/shadow", response_model=ShadowReport, **needs(Role.ADMINISTRATOR))
async def shadow_rule_version(number: VersionNumber, body: CommentBody, request: Request, state: State) -> ShadowReport:
    """Run a version in shadow: evaluated beside the active one on live data, acting on nothing."""
    try:
        state.versions().set_shadow(number, who(request, None), body.comment)
    except KeyError:
        raise HTTPException(404, f"no rule version {number}") from None
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None
    state.follow_rules()
    return await shadow_report(state)


@router.get("/api/rules/shadow", response_model=ShadowReport, **needs(Role.ADMINISTRATOR))
async def shadow_report(state: State) -> ShadowReport:
    """The shadow version's would-have-fired diff against the active version since the shadow started."""
    report = state.decider().shadow_report()
    if report is None:
        raise HTTPException(404, "no rule version runs in shadow")
    return ShadowReport.model_validate(report)


@router.delete("/api/rules/shadow", status_code=204, **needs(Role.ADMINISTRATOR))
async def stop_shadow(request: Request, state: State) -> None:
    """Stop the shadow version."""
    if state.versions().shadow_number() is None:
        raise HTTPException(404, "no rule version runs in shadow")
    state.versions().set_shadow(None, who(request, None))
    state.follow_rules()


@router.post("/api/rules/shadow/promote", response_model=VersionOut, **needs(Role.ADMINISTRATOR))
async def promote_shadow(body: CommentBody, request: Request, state: State) -> VersionOut:
    """Put the shadow version in force in one step; its alerts of the changed rules carry over with their
    start times, so a condition that has held long enough fires at once."""
    number = state.versions().shadow_number()
    if number is None:
        raise HTTPException(404, "no rule version runs in shadow")
    v = state.versions().activate(number, who(request, None), body.comment, kind="promote")
    state.follow_rules()
    return VersionOut.model_validate(v.summary())


@router.post("/api/rules/backtest", response_model=BacktestOut, **needs(Role.ADMINISTRATOR))
async def run_backtest(body: BacktestBody, state: State) -> BacktestOut:
    """Replay the recorded events of a period through a candidate (a stored version or a rule file) and the
    active version (or `against`): what each would have fired, the tickets and recommendations, and the diff.
    Only the span of the period the log covers is replayed (`from`/`to` of the answer; `asked_from`/`asked_to` the
    period asked); nothing recorded in it: 422, with the span the log does hold (`recorded`).
    One backtest at a time (409 while another runs); 503 when it runs longer than `rules.backtest_limit_s`."""
    tz = state.tz
    start, end = (t if t.tzinfo else t.replace(tzinfo=tz) for t in (body.from_, body.to))
    if end <= start:
        raise HTTPException(422, "to: must be after from")
    if end - start > timedelta(days=31):
        raise HTTPException(422, "to: a backtest covers at most 31 days")
    if (body.version is None) == (body.source is None):
        raise HTTPException(422, "version: give either version or source")
    try:
        base = state.versions().get(body.against or state.rules_version()).rules
        if body.source is not None:
            candidate = await checked_source(state, body.source)
        else:
            assert body.version is not None
            candidate = state.versions().get(body.version).rules
    except KeyError as exc:
        raise HTTPException(404, f"no rule version {exc.args[0]}") from None
    if state.backtests.locked():
        raise HTTPException(409, "a backtest is running; try again when it is done")
    limit_s = state.config.rules.backtest_limit_s
    state.flush()
    await state.backtests.acquire()  # (free, so taken at once: nothing else runs between the check and this)
    job = asyncio.ensure_future(
        asyncio.to_thread(backtest_in_thread, state, base, candidate, start, end, time.monotonic() + limit_s)
    )
    # the lock is given back when the replay has ended, not when this request is answered (or cancelled): a thread
    # cannot be stopped from outside, and a second backtest beside it would run the box out of memory and cores
    job.add_done_callback(lambda _: state.backtests.release())
    too_long = f"the backtest did not finish within rules.backtest_limit_s ({limit_s:g} s)"
    try:
        result = await asyncio.wait_for(asyncio.shield(job), limit_s + STOP_GRACE_S)
    except TimeoutError:
        raise HTTPException(503, f"{too_long}; try a shorter period") from None
    except BacktestStopped as exc:
        reached = f"; it had replayed to {exc.reached.astimezone(tz).isoformat()}" if exc.reached else ""
        raise HTTPException(503, f"{too_long}{reached}; try a shorter period") from None
    except NothingRecorded as exc:
        raise nothing_recorded(exc, tz) from None
    return BacktestOut.model_validate(result.to_dict(tz))


def nothing_recorded(exc: NothingRecorded, tz: ZoneInfo) -> HTTPException:
    """422 for a period without a recorded event, saying where the log has some (a UI words it from `recorded`)."""

    def minute(t: datetime) -> str:
        return t.astimezone(tz).strftime("%Y-%m-%d %H:%M")

    held = (
        {"first": exc.recorded[0].astimezone(tz).isoformat(), "last": exc.recorded[1].astimezone(tz).isoformat()}
        if exc.recorded
        else None
    )
    where = (
        f"the log holds events from {minute(exc.recorded[0])} to {minute(exc.recorded[1])}"
        if exc.recorded
        else "the event log is empty"
    )
    message = f"from: nothing was recorded between {minute(exc.start)} and {minute(exc.end)}; {where}"
    return HTTPException(422, {"message": message, "problems": [], "recorded": held})


@router.get("/api/rules/backtest/period", response_model=BacktestPeriod, **needs(Role.ADMINISTRATOR))
async def backtest_period(state: State) -> BacktestPeriod:
    """What the event log holds (its first and last event, as received) and the period a backtest form starts with:
    the hall day of the newest event, up to the minute after it (both null: nothing recorded yet)."""
    store = state.current_store()
    if store is None:
        raise HTTPException(503, "the gateway is starting")
    state.flush()
    span = store.events.received_span(-math.inf, math.inf)
    if span is None:
        return BacktestPeriod.model_validate({"first": None, "last": None, "from": None, "to": None})
    first, last = (datetime.fromtimestamp(t, state.tz) for t in span)
    start, end = suggested_period(last, state.tz)
    return BacktestPeriod.model_validate(
        {
            "first": first.isoformat(),
            "last": last.isoformat(),
            "from": start.strftime("%Y-%m-%dT%H:%M"),
            "to": end.strftime("%Y-%m-%dT%H:%M"),
        }
    )


def backtest_in_thread(
    state: ApiState, base: RuleFile, candidate: RuleFile, start: datetime, end: datetime, deadline: float
) -> BacktestResult:
    cfg = state.config
    store = Store(cfg.storage.path)  # its own connection: the gateway's is not for other threads
    try:
        parallel = end - start > timedelta(hours=12)
        return backtest(cfg, store, base, candidate, start, end, parallel=parallel, deadline=deadline)
    finally:
        store.close()


@router.post("/api/rules/check", response_model=RulesCheck, **needs(Role.ADMINISTRATOR))
async def rules_check(request: Request, state: State) -> RulesCheck:
    """Validate a rule file (the request body, YAML text) without applying it: every problem with its field
    path and the line it is on. A text nested deeper than 64 levels or holding more than 100,000 values (an alias
    counted as a copy) is refused (422); a check that takes longer than `http.slow_request_s` answers 503."""
    raw = await request.body()
    if len(raw) > 1 << 20:
        raise HTTPException(413, "a rule file is at most 1 MiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(422, f"body: not UTF-8 text (byte {exc.start})") from None
    try:
        parsed = await checked_rules(state, text, "body")
    except yaml.YAMLError as exc:
        message, line = syntax(exc)
        return RulesCheck(ok=False, rules=0, problems=[RuleProblem(path="", message=message, line=line)])
    except ConfigError as exc:
        return RulesCheck(
            ok=False,
            rules=0,
            problems=[RuleProblem(path=p.path, message=p.message, line=line_of(text, p.path)) for p in exc.problems],
        )
    return RulesCheck(ok=True, rules=len(parsed.rules), problems=[])
