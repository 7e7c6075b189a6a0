"""Route of the `alerts` tag: the alert history — each alert from its start to its end (or now), filtered and searched.

    GET /api/alerts/history?state=&severity=&rule=&service=&window=&device=&from=&to=&q=&limit=&before=

The store keeps every change of state of an alert (fired, acknowledged, escalated, resolved) as a row of
`alert_history`; this route folds the rows of one alert's run (its fingerprint and the time it began) into one item
in its latest state, overlays the alerts open now, and filters, searches and pages them, newest start first. Time
ranges are bounded (`MAX_RANGE`), pages too (`MAX_LIMIT`); the search runs off the event loop on its own connection,
within `http.slow_request_s`. Must not decide anything: it only reads.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from edge.api.deps import ALL, ApiState, State, needs
from edge.api.schemas import Timestamp
from edge.store import Store
from edge.wording.alerts import Names
from rules.language import Severity

router = APIRouter(tags=["alerts"])

DEFAULT_RANGE = timedelta(days=7)  # `from` when not given: a week before `to`
MAX_RANGE = timedelta(days=93)  # a quarter: a longer range is refused (422), the history is read in memory
MAX_LIMIT = 200
SUBJECT = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"  # a service code, window id or device id
RULE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
CURSOR = re.compile(r"^([0-9]{1,15})-([0-9a-f]{16})\Z")  # the start (UNIX ms) and fingerprint of the last item seen
HistoryState = Literal["active", "firing", "acknowledged", "resolved"]


class AlertRun(BaseModel):
    """One alert from its start to its end, in its latest recorded state."""

    fingerprint: str
    rule: str
    severity: Severity = Field(description="its severity at the end (or now), escalation included")
    state: Literal["firing", "acknowledged", "resolved"]
    labels: dict[str, str]
    subject: dict[str, str] = Field(description="whom it is about, in words: {zh, en} (window, service, device…)")
    title: dict[str, str] | None = Field(description="its rule's short name, {zh, en} (null: recorded before words)")
    text: dict[str, str] | None = Field(description="the alert in words, {zh, en} (null: recorded before words)")
    description: str = Field(description="its rule's description")
    started_at: Timestamp = Field(description="when it fired")
    ended_at: Timestamp | None = Field(description="when it resolved (null: still open)")
    duration_s: float = Field(description="from its start to its end, or to now while open")
    acknowledged_at: Timestamp | None
    acknowledged_by: str | None = Field(description="the login of who took it")
    names: dict[str, str] = Field(description="display names of the people it names: login → name")
    occurrences: int = Field(description="event alerts: how many events it gathered")
    escalation_level: int


class AlertHistoryPage(BaseModel):
    items: list[AlertRun] = Field(description="newest start first")
    total: int = Field(description="how many alerts match, over every page")
    next: str | None = Field(description="`before` for the next page (null: this is the last)")


def _bad(field: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("query", field), "msg": message, "type": "value_error"}])


def _aware(at: datetime, state: ApiState) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=state.tz)


@router.get("/api/alerts/history", response_model=AlertHistoryPage, **needs(*ALL))
async def alert_history(  # noqa: PLR0913 - one keyword per filter of the query
    state: State,
    status: Annotated[HistoryState | None, Query(alias="state")] = None,
    severity: Severity | None = None,
    rule: Annotated[str | None, Query(pattern=RULE)] = None,
    service: Annotated[str | None, Query(pattern=SUBJECT)] = None,
    window: Annotated[str | None, Query(pattern=SUBJECT)] = None,
    device: Annotated[str | None, Query(pattern=SUBJECT)] = None,
    since: Annotated[datetime | None, Query(alias="from")] = None,
    until: Annotated[datetime | None, Query(alias="to")] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    before: Annotated[str | None, Query(max_length=40)] = None,
) -> AlertHistoryPage:
    """The alerts that were open at some time in [`from`, `to`) (default: the week to now; at most 93 days), newest
    start first. `state`: the latest (`active` = firing or acknowledged); `severity`, `rule`, and the subject
    (`service`, `window`, `device`) as the alert's labels name it; `q` searches the rule id, the alert's words (zh and
    en, else its rule's description), whom it is about (display names and ids) and who took it. `limit` per page;
    `before`: the `next` of the previous page. 503 when the search takes longer than `http.slow_request_s`."""
    cursor = None
    if before is not None:
        m = CURSOR.match(before)
        if m is None:
            raise _bad("before", "not a page cursor: give the `next` of the previous page")
        cursor = (int(m.group(1)), m.group(2))
    now = state.clock.now()
    end = _aware(until, state) if until is not None else now
    start = _aware(since, state) if since is not None else end - DEFAULT_RANGE
    if start >= end:
        raise _bad("from", "must be before `to`")
    if end - start > MAX_RANGE:
        raise _bad("from", f"the range is longer than {MAX_RANGE.days} days")
    d = state.decider()
    store = state.current_store()
    path = None
    if store is not None:
        state.flush()  # (committed: what the search reads on its own connection)
        path = store.path
    live = [d.alert_json(a) for a in d.engine.alerts.values()]
    people = {acc.user.name: acc.user.display for acc, _ in state.auth.accounts() if acc.user.display}
    names = Names(state.config.profile())
    subject = {"service": service, "window": window, "device": device}
    # A quarter of a city hall is some 140,000 changes, seconds of reading: done off the event loop (the wall's
    # stream and the decider go on), on its own connection, within http.slow_request_s (else 503)
    search = asyncio.to_thread(
        _search, path, live, start, end, lambda body: _wanted(body, status, severity, rule, subject, q, names, people)
    )
    try:
        found = await asyncio.wait_for(search, state.config.http.slow_request_s)
    except TimeoutError:
        raise HTTPException(503, "the history takes too long to search; ask for a shorter time") from None
    total = len(found)
    if cursor is not None:
        found = [x for x in found if (x[0], x[1]) < cursor]
    page = found[:limit]
    more = len(found) > limit
    items = [item for _, _, body in page if (item := _run(body, now, names, people)) is not None]
    return AlertHistoryPage(
        items=items,
        total=total,
        next=f"{page[-1][0]}-{page[-1][1]}" if more and page else None,
    )


def _search(
    path: Path | None,
    live: list[dict[str, object]],
    start: datetime,
    end: datetime,
    wanted: Callable[[Mapping[str, object]], bool],
) -> list[tuple[int, str, Mapping[str, object]]]:
    """The runs open at some time in [start, end) that are `wanted`, newest start first: the stored changes since
    `start` folded into each run's latest body, the alerts open now (`live`) over them. Each run is filtered on its
    body as stored; only the page is made into items (a model, whom it is about in words)."""
    runs: dict[tuple[str, str], Mapping[str, object]] = {}
    if path is not None:
        store = Store(path)  # its own connection: the gateway's is not for other threads
        try:
            changes = store.decisions.alert_changes(start.timestamp(), float("inf"))
        finally:
            store.close()
        for change in changes:
            body = json.loads(change.body)
            runs[(change.fingerprint, str(body.get("active_since")))] = body  # oldest first: the latest wins
    for body in live:
        runs[(str(body.get("fingerprint")), str(body.get("active_since")))] = body
    found: list[tuple[int, str, Mapping[str, object]]] = []
    for body in runs.values():
        started = _started(body)
        if started is None or started >= end:
            continue
        ended = body.get("resolved_at") if body.get("state") == "resolved" else None
        if isinstance(ended, str) and datetime.fromisoformat(ended) < start:
            continue
        if wanted(body):
            found.append((int(started.timestamp() * 1000), str(body.get("fingerprint")), body))
    found.sort(key=lambda x: (x[0], x[1]), reverse=True)
    return found


def _started(body: Mapping[str, object]) -> datetime | None:
    """When a run fired; None for one that never did (pending, then gone) or a body that is not an alert's."""
    started = body.get("fired_at")
    if not isinstance(started, str) or body.get("state") not in ("firing", "acknowledged", "resolved"):
        return None
    try:
        return datetime.fromisoformat(started)
    except ValueError:
        return None


def _run(body: Mapping[str, object], now: datetime, names: Names, people: Mapping[str, str]) -> AlertRun | None:
    """The item of one alert's run from its latest body; None for one that never fired (pending, then gone)."""
    started = body.get("fired_at")
    alert_state = body.get("state")
    if not isinstance(started, str) or alert_state not in ("firing", "acknowledged", "resolved"):
        return None
    ended = body.get("resolved_at") if alert_state == "resolved" else None
    until = datetime.fromisoformat(ended) if isinstance(ended, str) else now
    labels = {str(k): str(v) for k, v in dict(body.get("labels") or {}).items()}  # type: ignore[call-overload]
    by = body.get("acknowledged_by")
    text, title, acked = body.get("text"), body.get("title"), body.get("acknowledged_at")
    return AlertRun(
        fingerprint=str(body["fingerprint"]),
        rule=str(body["rule"]),
        severity=Severity(str(body["severity"])),
        state=alert_state,
        labels=labels,
        subject={lang: names.subject(labels, lang) for lang in ("zh", "en")},
        title={str(k): str(v) for k, v in title.items()} if isinstance(title, dict) else None,
        text={str(k): str(v) for k, v in text.items()} if isinstance(text, dict) else None,
        description=str(body.get("description") or ""),
        started_at=started,
        ended_at=ended if isinstance(ended, str) else None,
        duration_s=max(0.0, (until - datetime.fromisoformat(started)).total_seconds()),
        acknowledged_at=acked if isinstance(acked, str) else None,
        acknowledged_by=by if isinstance(by, str) else None,
        names={by: people[by]} if isinstance(by, str) and by in people else {},
        occurrences=int(body.get("occurrences") or 1),  # type: ignore[call-overload]
        escalation_level=int(body.get("escalation_level") or 0),  # type: ignore[call-overload]
    )


def _wanted(
    body: Mapping[str, object],
    status: str | None,
    severity: str | None,
    rule: str | None,
    subject: Mapping[str, str | None],
    q: str | None,
    names: Names,
    people: Mapping[str, str],
) -> bool:
    """The filters and the search on a run's latest body as stored."""
    alert_state = body.get("state")
    if status == "active" and alert_state == "resolved":
        return False
    if status not in (None, "active") and alert_state != status:
        return False
    if severity is not None and body.get("severity") != severity:
        return False
    if rule is not None and body.get("rule") != rule:
        return False
    labels = body.get("labels")
    labels = labels if isinstance(labels, dict) else {}
    if any(
        want is not None and (labels.get(key) is None or str(labels.get(key)) != want) for key, want in subject.items()
    ):
        return False
    return q is None or _matches(body, q, names, people)


def _matches(body: Mapping[str, object], q: str, names: Names, people: Mapping[str, str]) -> bool:
    """Every word of `q` is somewhere in the alert's words, its rule, whom it is about or who took it."""
    haystack = " ".join(_words(body, names, people)).casefold()
    return all(word in haystack for word in q.casefold().split())


def _words(body: Mapping[str, object], names: Names, people: Mapping[str, str]) -> Iterable[str]:
    raw = body.get("labels")
    labels = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
    yield str(body.get("rule") or "")
    yield str(body.get("description") or "")
    for key in ("text", "title"):
        words = body.get(key)
        if isinstance(words, dict):
            yield from (str(v) for v in words.values())
    yield from (names.subject(labels, lang) for lang in ("zh", "en"))
    yield from labels.values()
    by = body.get("acknowledged_by")
    if isinstance(by, str):
        yield by
        if by in people:
            yield people[by]
