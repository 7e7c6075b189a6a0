"""Route of the `alerts` tag: the alert history — each alert from its start to its end (or now), filtered and searched.

    GET /api/alerts/history?state=&severity=&rule=&service=&window=&device=&from=&to=&q=&limit=&before=

The store keeps every change of state of an alert (fired, acknowledged, escalated, resolved) as a row of
`alert_history`; this route folds the rows of one alert's run (its fingerprint and the time it began) into one item
in its latest state, overlays the alerts open now, and filters, searches and pages them, newest start first. Time
ranges are bounded (`MAX_RANGE`), pages too (`MAX_LIMIT`). Must not decide anything: it only reads.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from edge.api.deps import ALL, ApiState, State, needs
from edge.api.schemas import Timestamp
from edge.wording.alerts import Names
from rules.language import Severity

router = APIRouter(tags=["alerts"])

DEFAULT_RANGE = timedelta(days=7)  # `from` when not given: a week before `to`
MAX_RANGE = timedelta(days=93)  # a quarter: a longer range is refused (422), the history is read in memory
MAX_LIMIT = 200
SUBJECT = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"  # a service code, window id or device id
RULE = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
CURSOR = re.compile(r"^(\d{1,15})-([0-9a-f]{16})$")  # the start (UNIX ms) and fingerprint of the last item seen
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
    `before`: the `next` of the previous page."""
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
    runs: dict[tuple[str, str], dict[str, object]] = {}
    if store is not None:
        state.flush()
        for change in store.decisions.alert_changes(start.timestamp(), float("inf")):
            body = json.loads(change.body)
            runs[(change.fingerprint, str(body.get("active_since")))] = body  # oldest first: the latest wins
    for a in d.engine.alerts.values():
        body = d.alert_json(a)
        runs[(a.fingerprint, str(body.get("active_since")))] = body
    people = {acc.user.name: acc.user.display for acc, _ in state.auth.accounts() if acc.user.display}
    names = Names(state.config.profile())
    items = []
    for body in runs.values():
        item = _run(body, now, names, people)
        if item is None:
            continue
        started = datetime.fromisoformat(item.started_at)
        ended = datetime.fromisoformat(item.ended_at) if item.ended_at else None
        if started >= end or (ended is not None and ended < start):
            continue
        if _wanted(item, status, severity, rule, {"service": service, "window": window, "device": device}, q):
            items.append((int(started.timestamp() * 1000), item))
    items.sort(key=lambda x: (x[0], x[1].fingerprint), reverse=True)
    total = len(items)
    if cursor is not None:
        items = [x for x in items if (x[0], x[1].fingerprint) < cursor]
    page = items[:limit]
    more = len(items) > limit
    return AlertHistoryPage(
        items=[item for _, item in page],
        total=total,
        next=f"{page[-1][0]}-{page[-1][1].fingerprint}" if more and page else None,
    )


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
    item: AlertRun,
    status: str | None,
    severity: str | None,
    rule: str | None,
    subject: Mapping[str, str | None],
    q: str | None,
) -> bool:
    if status == "active" and item.state == "resolved":
        return False
    if status not in (None, "active") and item.state != status:
        return False
    if severity is not None and item.severity != severity:
        return False
    if rule is not None and item.rule != rule:
        return False
    if any(want is not None and item.labels.get(key) != want for key, want in subject.items()):
        return False
    return q is None or _matches(item, q)


def _matches(item: AlertRun, q: str) -> bool:
    """Every word of `q` is somewhere in the alert's words, its rule, whom it is about or who took it."""
    haystack = " ".join(_words(item)).casefold()
    return all(word in haystack for word in q.casefold().split())


def _words(item: AlertRun) -> Iterable[str]:
    yield item.rule
    yield item.description
    yield from (item.text or {}).values()
    yield from (item.title or {}).values()
    yield from item.subject.values()
    yield from item.labels.values()
    yield from item.names.values()
    if item.acknowledged_by:
        yield item.acknowledged_by
