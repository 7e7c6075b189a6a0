"""The fleet view's reads: every hall of a city or province as the ledger holds it, worst first, and one hall in detail.

    PostgreSQL (cloud_sync/ledger.py's tables) ─▶ `FleetReader.halls(now)`  ─▶ HallRow per hall, worst first
                                               ─▶ `FleetReader.hall(id, now)` ─▶ HallDetail (hours, alerts, tickets …)

A hall's link is judged from its newest status (`halls.status_at`, sent every 30 s, docs/sync.md) against an
injected `now` (`link_of`): LIVE while that status is at most `stale_after_s` old, STALE (失联) once it is older — the
hall is cut off, or its box is down, and everything it said is as of then — OFFLINE when its last word was its link's
will, SILENT when it has sent batches but never a status. A hall that is not live is never shown as live: its
figures are its last status's, and the age of its backlog keeps growing with the time since (`backlog_age_s`).

The overview is one query over `halls` joined with per-hall counts of open alerts, devices down and overdue tickets
(indexes for 3,500 halls: docs/fleet.md). Today's SL15 / P95 / longest wait, the backlog and the rule version come
from the hall's status (only the hall knows its running day); alerts, devices and tickets from their tables, so that
the drill-down lists what the overview counts.

It must not write, nor decide anything about a hall; `FleetSection` is the fleet's part of the cloud tier's YAML.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import re
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import psycopg
from argon2 import extract_parameters
from argon2.exceptions import InvalidHashError
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, field_validator

log = logging.getLogger(__name__)

STALE_AFTER_S = 90.0  # three statuses (every 30 s) missed
OPEN_ALERTS = ("firing", "acknowledged")  # what the hall's own status counts as open
DONE_TICKETS = ("resolved", "closed")
HISTORY_SHOWN = 50
TICKETS_SHOWN = 100
HALL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$")  # cloud_sync/wire.py's


# -- the fleet's part of the cloud tier's YAML --------------------------------------------------------------------


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FleetUser(_Section):
    role: Literal["manager", "administrator"] = Field(
        description="manager: watches the fleet; administrator: everything (today the same, and what comes later)"
    )
    password_hash: str = Field(description="an Argon2 hash from `hallops users hash` (never the password itself)")
    name: str | None = Field(default=None, description="display name, e.g. 市政务服务中心 王主任")

    @field_validator("password_hash")
    @classmethod
    def _argon2(cls, v: str) -> str:
        try:
            extract_parameters(v)
        except InvalidHashError:
            raise ValueError("must be an Argon2 hash ($argon2id$…); make one with `hallops users hash`") from None
        if not v.startswith("$argon2"):
            raise ValueError("must be an Argon2 hash ($argon2id$…); make one with `hallops users hash`")
        return v


class FleetSection(_Section):
    """`fleet:` in the cloud tier's YAML: `hallops cloud serve` (the fleet view; the database is `postgres:`)."""

    host: str = Field(default="127.0.0.1", description="address of the fleet view; 0.0.0.0 for the whole network")
    port: Annotated[int, Field(ge=0, le=65535)] = Field(default=8090, description="0 picks a free port")
    stale_after_s: PositiveFloat = Field(
        default=STALE_AFTER_S,
        description="a hall whose newest status (every 30 s) is older than this is shown cut off (失联), not live",
    )
    poll_s: Annotated[float, Field(ge=1, le=300)] = Field(
        default=5.0, description="how often the page reads the halls again"
    )
    sessions_db: Path = Field(
        default=Path("/var/lib/hallops/fleet.db"),
        description="SQLite file for sign-in sessions, the sign-in throttle and the audit of signing in",
    )
    session_hours: PositiveFloat = Field(default=12, description="a sign-in lasts this long")
    dsn: str | None = Field(
        default=None,
        min_length=1,
        description="libpq connection string of a read-only role, without the password (default: postgres.dsn)",
    )
    password_file: Path | None = Field(
        default=None, description="file holding that role's password (or env HALLOPS_FLEET_PG_PASSWORD)"
    )
    connections: Annotated[int, Field(ge=1, le=32)] = Field(
        default=4, description="PostgreSQL connections the fleet view keeps (reads only)"
    )
    timezone: str = Field(
        default="Asia/Shanghai", description="the day of a hall whose status does not say its time zone"
    )
    max_body_bytes: PositiveInt = Field(default=64 * 1024, description="a larger request body is refused (413)")
    users: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")], FleetUser] = Field(
        default_factory=dict,
        description="who may sign in (besides users added to sessions_db with `hallops users add --db`); with none "
        "at all the fleet view refuses to start",
    )

    @field_validator("dsn")
    @classmethod
    def _no_password(cls, v: str | None) -> str | None:
        if v is not None and ("password=" in v or "@" in v.split("//", 1)[-1].split("/", 1)[0]):
            raise ValueError("put the password in password_file or HALLOPS_FLEET_PG_PASSWORD, not in the dsn")
        return v

    @field_validator("password_file")
    @classmethod
    def _readable(cls, v: Path | None) -> Path | None:
        if v is not None and not v.is_file():
            raise ValueError(f"no such file: {v}")
        return v

    def password(self) -> str | None:
        if self.password_file is not None:
            return self.password_file.read_text(encoding="utf-8").strip()
        return os.environ.get("HALLOPS_FLEET_PG_PASSWORD") or None

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (e.g. Asia/Shanghai)") from None
        return v


# -- what the view shows -------------------------------------------------------------------------------------------


class Link(StrEnum):
    LIVE = "live"  # a status within the stale limit
    STALE = "stale"  # its newest status is older than the limit: cut off (失联)
    OFFLINE = "offline"  # its link's will: the hall's box said it went away
    SILENT = "silent"  # batches came, never a status


@dataclass(frozen=True, slots=True)
class Words:
    """A text in both languages, as the hall rendered it (edge/wording)."""

    zh: str
    en: str


@dataclass(frozen=True, slots=True)
class Severities:
    critical: int = 0
    major: int = 0
    warning: int = 0
    info: int = 0


@dataclass(frozen=True, slots=True)
class Today:
    """The hall's running day, as its newest status says (null: nothing to count yet)."""

    issued: int | None = None
    served: int | None = None
    sl_pct: float | None = None  # SL15: called within the target wait
    p95_wait_min: float | None = None
    max_wait_min: float | None = None


@dataclass(frozen=True, slots=True)
class HallRow:
    hall: str
    name: str | None
    name_en: str | None
    timezone: str | None
    link: Link
    last_seen: datetime  # the last time anything of the hall was committed (the cloud's clock)
    status_at: datetime | None  # when its newest status arrived (the cloud's clock: a box's own may be off)
    silent_s: float | None  # since that status, at `now`
    backlog: int | None  # records it held unconfirmed at that status
    backlog_age_s: float | None  # the oldest of them, now: its age then plus the time since (grows while cut off)
    rule_version: int | None
    today: Today
    alerts: Severities  # open (firing or acknowledged), from the alerts the cloud holds
    devices_down: int
    tickets_overdue: int


@dataclass(frozen=True, slots=True)
class Fleet:
    at: datetime
    stale_after_s: float
    halls: tuple[HallRow, ...]


@dataclass(frozen=True, slots=True)
class Hour:
    start: datetime
    issued: int | None
    served: int | None
    sl_pct: float | None
    p95_wait_min: float | None
    mean_wait_min: float | None
    max_wait_min: float | None
    utilisation_pct: float | None
    satisfaction_pct: float | None


@dataclass(frozen=True, slots=True)
class AlertItem:
    fingerprint: str
    state: str
    severity: str | None
    rule: str | None
    title: Words | None
    text: Words | None
    since: str | None  # when its condition began (ISO, the hall's offset)
    at: datetime  # this state's record


@dataclass(frozen=True, slots=True)
class TicketItem:
    id: str
    status: str
    priority: str | None
    text: Words | None
    device: str | None
    opened_at: str | None
    resolve_due: str | None
    overdue: bool
    at: datetime


@dataclass(frozen=True, slots=True)
class DeviceDown:
    device: str
    device_type: str | None
    since: str | None
    reason: str | None


@dataclass(frozen=True, slots=True)
class HallDetail:
    hall: HallRow
    day: date  # today in the hall's time zone
    hours: tuple[Hour, ...]
    alerts: tuple[AlertItem, ...]  # open now, worst first
    history: tuple[AlertItem, ...]  # the newest changes of any alert
    tickets: tuple[TicketItem, ...]  # active ones and those closed today
    devices_down: tuple[DeviceDown, ...]


# -- pure: a hall's row, the order ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HallRecord:
    """A hall as the overview query reads it."""

    hall: str
    last_seen: datetime
    online: bool | None
    status: Mapping[str, Any] | None
    status_at: datetime | None
    alerts: Severities = Severities()
    devices_down: int = 0
    tickets_overdue: int = 0


def link_of(online: bool | None, status_at: datetime | None, now: datetime, stale_after_s: float) -> Link:
    if status_at is None:
        return Link.SILENT
    if online is False:
        return Link.OFFLINE
    if (now - status_at).total_seconds() > stale_after_s:
        return Link.STALE
    return Link.LIVE


def hall_row(rec: HallRecord, now: datetime, stale_after_s: float = STALE_AFTER_S) -> HallRow:
    body: Mapping[str, Any] = rec.status or {}
    figures = body.get("today")
    today: Mapping[str, Any] = figures if isinstance(figures, dict) else {}
    silent_s = max(0.0, (now - rec.status_at).total_seconds()) if rec.status_at is not None else None
    backlog = _int(body.get("backlog"))
    oldest = _num(body.get("oldest_s"))
    age: float | None = None
    if backlog is not None:
        age = (oldest or 0.0) + (silent_s or 0.0) if backlog > 0 else 0.0
    return HallRow(
        hall=rec.hall,
        name=_str(body.get("name")),
        name_en=_str(body.get("name_en")),
        timezone=_str(body.get("timezone")),
        link=link_of(rec.online, rec.status_at, now, stale_after_s),
        last_seen=rec.last_seen,
        status_at=rec.status_at,
        silent_s=silent_s,
        backlog=backlog,
        backlog_age_s=age,
        rule_version=_int(body.get("rule_version")),
        today=Today(
            issued=_int(today.get("issued")),
            served=_int(today.get("served")),
            sl_pct=_num(today.get("sl_pct")),
            p95_wait_min=_num(today.get("p95_wait_min")),
            max_wait_min=_num(today.get("max_wait_min")),
        ),
        alerts=rec.alerts,
        devices_down=rec.devices_down,
        tickets_overdue=rec.tickets_overdue,
    )


def worst_first_key(row: HallRow) -> tuple[int, int, float, int, int, int, str]:
    """Halls not live first (cut off, offline, never a status), then those with a critical alert, then by SL15
    ascending (a hall with nothing counted yet after those with figures); ties: more critical and major alerts,
    more devices down and tickets overdue, then the id."""
    sl = row.today.sl_pct
    return (
        0 if row.link is not Link.LIVE else 1,
        0 if row.alerts.critical else 1,
        sl if sl is not None else math.inf,
        -row.alerts.critical,
        -row.alerts.major,
        -(row.devices_down + row.tickets_overdue),
        row.hall,
    )


def worst_first(rows: Iterable[HallRow]) -> list[HallRow]:
    return sorted(rows, key=worst_first_key)


def _int(v: object) -> int | None:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return int(v)


def _num(v: object) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return float(v)


def _str(v: object) -> str | None:
    return v if isinstance(v, str) and v else None


def _words(v: object) -> Words | None:
    if isinstance(v, dict) and isinstance(v.get("zh"), str) and isinstance(v.get("en"), str):
        return Words(v["zh"], v["en"])
    return None


def _iso(v: object) -> datetime | None:
    if not isinstance(v, str):
        return None
    try:
        parsed = datetime.fromisoformat(v)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def ticket_overdue(status: str, body: Mapping[str, Any], now: datetime) -> bool:
    """An active ticket past a deadline: as the hall flagged it, or its due time has passed since."""
    if status in DONE_TICKETS:
        return False
    if body.get("ack_overdue") is True or body.get("resolve_overdue") is True:
        return True
    ack, resolve = _iso(body.get("ack_due")), _iso(body.get("resolve_due"))
    return (status == "open" and ack is not None and ack <= now) or (resolve is not None and resolve <= now)


_SEVERITY_ORDER = {"critical": 0, "major": 1, "warning": 2, "info": 3}


def _alert(fingerprint: str, state: str, severity: str | None, rule: str | None, at: datetime, body: Any) -> AlertItem:
    found = body.get("alert") if isinstance(body, dict) else None
    alert: Mapping[str, Any] = found if isinstance(found, dict) else {}
    return AlertItem(
        fingerprint=fingerprint,
        state=state,
        severity=severity,
        rule=rule,
        title=_words(alert.get("title")),
        text=_words(alert.get("text")),
        since=_str(alert.get("active_since")),
        at=at,
    )


def _hour(start: datetime, figures: Mapping[str, Any]) -> Hour:
    return Hour(
        start=start,
        issued=_int(figures.get("issued")),
        served=_int(figures.get("served")),
        sl_pct=_num(figures.get("sl_pct")),
        p95_wait_min=_num(figures.get("p95_wait_min")),
        mean_wait_min=_num(figures.get("mean_wait_min")),
        max_wait_min=_num(figures.get("max_wait_min")),
        utilisation_pct=_num(figures.get("utilisation_pct")),
        satisfaction_pct=_num(figures.get("satisfaction_pct")),
    )


# -- reading PostgreSQL --------------------------------------------------------------------------------------------

_ISO = "'____-__-__T__:__%%'"  # the shape of the hall's ISO times: anything else is never cast (CASE keeps the order)
_OVERDUE_SQL = (
    "status NOT IN ('resolved', 'closed') AND (body->'ack_overdue' = 'true'::jsonb "
    "OR body->'resolve_overdue' = 'true'::jsonb"
    "{due})"
)
_DUE_SQL = (
    f" OR (status = 'open' AND CASE WHEN body->>'ack_due' LIKE {_ISO} THEN (body->>'ack_due')::timestamptz END"
    f" <= %(now)s) OR CASE WHEN body->>'resolve_due' LIKE {_ISO} THEN (body->>'resolve_due')::timestamptz END"
    " <= %(now)s"
)
_OVERVIEW = """
WITH a AS (
  SELECT hall, count(*) FILTER (WHERE severity = 'critical') AS critical,
         count(*) FILTER (WHERE severity = 'major') AS major,
         count(*) FILTER (WHERE severity = 'warning') AS warning,
         count(*) FILTER (WHERE severity IS NULL OR severity NOT IN ('critical', 'major', 'warning')) AS info
  FROM alerts WHERE state IN ('firing', 'acknowledged') GROUP BY hall),
d AS (SELECT hall, count(*) AS down FROM devices WHERE NOT up GROUP BY hall),
t AS (SELECT hall, count(*) AS overdue FROM tickets WHERE {overdue} GROUP BY hall)
SELECT h.hall, h.last_seen, h.online, h.status, h.status_at,
       coalesce(a.critical, 0), coalesce(a.major, 0), coalesce(a.warning, 0), coalesce(a.info, 0),
       coalesce(d.down, 0), coalesce(t.overdue, 0)
FROM halls h LEFT JOIN a USING (hall) LEFT JOIN d USING (hall) LEFT JOIN t USING (hall)
WHERE (%(hall)s::text IS NULL OR h.hall = %(hall)s::text)
"""
OVERVIEW_SQL = _OVERVIEW.format(overdue=_OVERDUE_SQL.format(due=_DUE_SQL))
# when a due time of the shape above is still no time (a hall's bug): the tickets the hall itself flagged overdue
OVERVIEW_FLAGS_SQL = _OVERVIEW.format(overdue=_OVERDUE_SQL.format(due=""))


def _record(row: Sequence[Any]) -> HallRecord:
    hall, last_seen, online, status, status_at, crit, major, warn, info, down, overdue = row
    return HallRecord(
        hall=hall,
        last_seen=last_seen,
        online=online,
        status=status if isinstance(status, dict) else None,
        status_at=status_at,
        alerts=Severities(int(crit), int(major), int(warn), int(info)),
        devices_down=int(down),
        tickets_overdue=int(overdue),
    )


class FleetReader:
    """Reads the ledger for the fleet view over a few PostgreSQL connections of its own (autocommit, read only),
    opened when first needed and replaced when one breaks. `async with FleetReader(dsn) as reader`."""

    def __init__(
        self,
        dsn: str,
        *,
        connections: int = 4,
        stale_after_s: float = STALE_AFTER_S,
        timezone: str = "Asia/Shanghai",
        cache_s: float = 1.0,
    ) -> None:
        self.dsn = dsn
        self.stale_after_s = stale_after_s
        self.timezone = timezone
        self._size = connections
        self._idle: asyncio.Queue[psycopg.AsyncConnection[Any]] = asyncio.Queue()
        self._slots = asyncio.Semaphore(connections)
        self._open: set[psycopg.AsyncConnection[Any]] = set()
        self.cache_s = cache_s
        self._reading = asyncio.Lock()
        self._cached: tuple[float, list[HallRecord]] | None = None

    async def __aenter__(self) -> FleetReader:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for conn in list(self._open):
            with contextlib.suppress(psycopg.Error):
                await conn.close()
        self._open.clear()

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        async with self._slots:
            conn = None
            while not self._idle.empty():
                candidate = self._idle.get_nowait()
                if not candidate.closed:
                    conn = candidate
                    break
                self._open.discard(candidate)
            if conn is None:
                conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True, connect_timeout=10)
                await conn.set_read_only(True)
                self._open.add(conn)
            try:
                yield conn
            except BaseException:  # broken, or cancelled mid-query: never lend it again
                self._open.discard(conn)
                with contextlib.suppress(psycopg.Error):
                    await conn.close()
                raise
            self._idle.put_nowait(conn)

    async def ping(self) -> None:
        async with self._connection() as conn:
            await conn.execute("SELECT 1")

    async def halls(self, now: datetime) -> Fleet:
        """Every hall the ledger knows, worst first. Pages asking within `cache_s` of each other share one read
        (each gets its rows judged at its own `now`)."""
        async with self._reading:
            cached = self._cached
            if cached is None or time.monotonic() - cached[0] > self.cache_s:
                cached = self._cached = (time.monotonic(), await self._records(None, now))
        made = [hall_row(r, now, self.stale_after_s) for r in cached[1]]
        return Fleet(now, self.stale_after_s, tuple(worst_first(made)))

    async def _records(self, hall: str | None, now: datetime) -> list[HallRecord]:
        params = {"now": now, "hall": hall}
        async with self._connection() as conn:
            try:
                cur = await conn.execute(OVERVIEW_SQL, params)
            except psycopg.DataError as exc:  # a ticket's due time that is no time: count what the halls flagged
                log.warning("a ticket's due time in the ledger is not a time (%s): overdue as the halls flagged", exc)
                cur = await conn.execute(OVERVIEW_FLAGS_SQL, params)
            return [_record(r) for r in await cur.fetchall()]

    async def hall(self, hall_id: str, now: datetime) -> HallDetail | None:
        """One hall in detail, or None when the ledger has never heard of it."""
        found = await self._records(hall_id, now)
        if not found:
            return None
        row = hall_row(found[0], now, self.stale_after_s)
        async with self._connection() as conn:
            zone = ZoneInfo(self.timezone)
            if row.timezone:
                with contextlib.suppress(ZoneInfoNotFoundError, ValueError):
                    zone = ZoneInfo(row.timezone)
            local = now.astimezone(zone)
            day = local.date()
            start = datetime(day.year, day.month, day.day, tzinfo=zone)
            cur = await conn.execute(
                "SELECT start, figures FROM kpi_hours WHERE hall = %s AND start >= %s AND start < %s ORDER BY start",
                (hall_id, start, start + timedelta(days=1)),
            )
            hours = tuple(_hour(s, f if isinstance(f, dict) else {}) for s, f in await cur.fetchall())
            cur = await conn.execute(
                "SELECT fingerprint, state, severity, rule, at, body FROM alerts "
                "WHERE hall = %s AND state = ANY(%s) ORDER BY at DESC",
                (hall_id, list(OPEN_ALERTS)),
            )
            open_alerts = sorted(
                (_alert(fp, st, sev, rule, at, body) for fp, st, sev, rule, at, body in await cur.fetchall()),
                key=lambda a: (_SEVERITY_ORDER.get(a.severity or "", 9), -a.at.timestamp()),
            )
            cur = await conn.execute(
                "SELECT fingerprint, state, severity, rule, at, body FROM alert_history "
                "WHERE hall = %s ORDER BY seq DESC LIMIT %s",
                (hall_id, HISTORY_SHOWN),
            )
            history = tuple(_alert(fp, st, sev, rule, at, body) for fp, st, sev, rule, at, body in await cur.fetchall())
            cur = await conn.execute(
                "SELECT id, status, priority, device, at, body FROM tickets "
                "WHERE hall = %s AND (status <> ALL(%s) OR at >= %s) ORDER BY at DESC LIMIT %s",
                (hall_id, list(DONE_TICKETS), start, TICKETS_SHOWN),
            )
            tickets = []
            for tid, status, priority, device, at, body in await cur.fetchall():
                b = body if isinstance(body, dict) else {}
                tickets.append(
                    TicketItem(
                        id=tid,
                        status=status,
                        priority=priority,
                        text=_words(b.get("text")),
                        device=device,
                        opened_at=_str(b.get("opened_at")),
                        resolve_due=_str(b.get("resolve_due")),
                        overdue=ticket_overdue(status, b, now),
                        at=at,
                    )
                )
            cur = await conn.execute(
                "SELECT device, device_type, since, reason FROM devices WHERE hall = %s AND NOT up ORDER BY device",
                (hall_id,),
            )
            down = tuple(DeviceDown(d, t, s, r) for d, t, s, r in await cur.fetchall())
        tickets.sort(key=lambda t: (t.status in DONE_TICKETS, not t.overdue, -t.at.timestamp()))
        return HallDetail(row, day, hours, tuple(open_alerts), history, tuple(tickets), down)


def utc(ts: float) -> datetime:
    """UNIX seconds as an aware datetime (the `now` the reads take)."""
    return datetime.fromtimestamp(ts, UTC)


__all__ = [
    "HALL_ID",
    "STALE_AFTER_S",
    "AlertItem",
    "DeviceDown",
    "Fleet",
    "FleetReader",
    "FleetSection",
    "FleetUser",
    "HallDetail",
    "HallRecord",
    "HallRow",
    "Hour",
    "Link",
    "Severities",
    "TicketItem",
    "Today",
    "Words",
    "hall_row",
    "link_of",
    "ticket_overdue",
    "utc",
    "worst_first",
    "worst_first_key",
]
