"""The cloud tier's ledger in PostgreSQL: the halls' records committed once, and each stream's confirmation.

    fetched batches ─▶ rows per table (pure, `rows_of`) ─▶ one transaction: entity tables (ON CONFLICT), ranges,
                       the watermark per (hall, stream) under its row lock, halls, dead letters ─▶ confirmations

Idempotent by construction: history tables are keyed by (hall, seq) and insert `ON CONFLICT DO NOTHING`; current-state
tables (alerts, tickets, decisions, kpi_hours, devices) upsert `… DO UPDATE … WHERE existing.seq < excluded.seq`, so
a batch delivered twice, re-sent with other boundaries or committed out of order by another instance leaves the same
tables. Telemetry is not kept row by row here (it is the time series' job): only its ranges count, for the
confirmation.

The watermark (`advance`) is a pure function; `Ledger.commit` applies it under `SELECT … FOR UPDATE` on the
(hall, stream) row of `confirmed`, so two instances never race on it. Every transaction takes its row locks table by
table in the same order and, within a table, in key order, and is retried on a deadlock or serialization failure.

It must not talk to NATS or to the time-series store, and it decides nothing about acknowledgement.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from psycopg import errors as pg_errors

from cloud_sync import wire
from cloud_sync.settings import RatingsProfile
from devices.errors import PayloadError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
RATINGS_FORMAT = "hallops-ratings/1"
_SCHEMA_LOCK = 0x48414C4C  # an advisory lock: two instances starting at once create the tables once
_RETRIES = 5


# -- the watermark ---------------------------------------------------------------------------------------------------


def advance(confirmed: int, ranges: Iterable[tuple[int, int]]) -> tuple[int, list[tuple[int, int]]]:
    """From the confirmed number `w`, merge committed ranges `(lo, hi]`: while one has lo <= w < hi, w = its hi.
    Returns the new w and the ranges still needed (those starting above it; the rest are wholly at or below w)."""
    w = confirmed
    for lo, hi in sorted(ranges):
        if lo > w:
            break  # sorted by lo: every later range starts above w too, and w no longer moves
        w = max(w, hi)
    return w, sorted((lo, hi) for lo, hi in ranges if lo > w)


# -- records → rows (pure) -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message or a record refused: kept (bounded) with the reason and the field path, never retried."""

    reason: str
    path: str
    detail: str
    subject: str
    hall: str | None
    payload: bytes


@dataclass(slots=True)
class Rows:
    """What a group of batches adds, per table: tuples in the table's column order."""

    tables: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    dead: list[DeadLetter] = field(default_factory=list)

    def add(self, table: str, row: tuple[Any, ...]) -> None:
        self.tables.setdefault(table, []).append(row)


_INT64 = 2**63  # PostgreSQL's bigint: a larger number in a column would fail the whole group's transaction


def _get(body: dict[str, Any], key: str, path: str, kinds: tuple[type, ...], required: bool) -> Any:
    value = body.get(key)
    if value is None:
        if required:
            raise PayloadError("bad_record", "is required", f"{path}.{key}")
        return None
    if isinstance(value, bool) and bool not in kinds:
        raise PayloadError("bad_record", f"must be {'/'.join(k.__name__ for k in kinds)}", f"{path}.{key}")
    if not isinstance(value, kinds):
        raise PayloadError("bad_record", f"must be {'/'.join(k.__name__ for k in kinds)}", f"{path}.{key}")
    if type(value) is int and not -_INT64 <= value < _INT64:
        raise PayloadError("bad_record", f"{value} is out of range", f"{path}.{key}")
    return value


def _text(body: dict[str, Any], key: str, path: str, required: bool = False) -> str | None:
    value = _get(body, key, path, (str, int), required)
    return None if value is None else _plain(str(value)[:512])


def _plain(text: str) -> str:
    """PostgreSQL's text and jsonb cannot hold U+0000 (a ticket's note may): it reads as U+FFFD, the rest is kept."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def _safe(value: Any) -> Any:
    """A body as PostgreSQL's jsonb takes it: NaN and ±Infinity (which JSON lacks but Python's reader accepts) as null,
    U+0000 as U+FFFD — one such value must never fail the transaction of a whole group of halls."""
    if isinstance(value, str):
        return _plain(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {_plain(str(k)): _safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_safe(v) for v in value]
    return value


def _iso(body: dict[str, Any], key: str, path: str) -> datetime:
    value = _get(body, key, path, (str,), True)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise PayloadError("bad_record", f"{value!r} is not an ISO 8601 time", f"{path}.{key}") from None
    if parsed.tzinfo is None:
        raise PayloadError("bad_record", f"{value!r} has no UTC offset", f"{path}.{key}")
    return parsed


def _json(body: dict[str, Any]) -> str:
    try:
        out = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:  # a NaN or an infinity somewhere inside
        out = "\\u0000"
    if "\\u0000" in out:  # (JSON writes U+0000 escaped; jsonb refuses it)
        out = json.dumps(_safe(body), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return out


def _add_record(rows: Rows, hall: str, r: wire.Record, path: str) -> None:
    b = r.body
    bp = f"{path}.body"
    if r.kind == "alert":
        fp = _text(b, "fingerprint", bp, True)
        rule, state, sev = _text(b, "rule", bp), _text(b, "state", bp, True), _text(b, "severity", bp)
        row = (hall, r.seq, r.at, fp, rule, state, sev, _json(b))
        rows.add("alert_history", row)
        rows.add("alerts", row)
    elif r.kind == "ticket":
        tid, status = _text(b, "id", bp, True), _text(b, "status", bp, True)
        prio, dev = _text(b, "priority", bp), _text(b, "device", bp)
        rows.add("ticket_versions", (hall, r.seq, r.at, tid, status, _json(b)))
        rows.add("tickets", (hall, tid, r.seq, r.at, status, prio, dev, _json(b)))
    elif r.kind == "recommendation":
        rid, status, action = _text(b, "id", bp, True), _text(b, "status", bp), _text(b, "action", bp)
        rows.add("decisions", (hall, rid, r.seq, r.at, status, action, _json(b)))
    elif r.kind == "audit":
        aid = _get(b, "id", bp, (int,), True)
        actor, action, subj = _text(b, "actor", bp), _text(b, "action", bp), _text(b, "subject", bp)
        rows.add("audit", (hall, aid, r.seq, r.at, actor, action, subj, _text(b, "hash", bp), _json(b)))
    elif r.kind == "anchor":
        count = _get(b, "count", bp, (int,), True)
        rows.add("audit_anchors", (hall, r.seq, r.at, count, _text(b, "head", bp, True), _json(b)))
    elif r.kind == "rating":
        score = _get(b, "score", bp, (int,), True)
        if not 1 <= score <= 5:
            raise PayloadError("bad_record", f"{score} is not a score 1–5", f"{bp}.score")
        rows.add(
            "ratings",
            (
                hall,
                r.seq,
                r.at,
                _text(b, "window", bp),
                _text(b, "service", bp),
                _text(b, "service_item", bp),
                score,
                _text(b, "device", bp),
                _text(b, "ticket", bp),
            ),
        )
    elif r.kind == "availability":
        dev, dtype = _text(b, "device", bp, True), _text(b, "device_type", bp)
        up = _get(b, "up", bp, (bool,), True)
        since, reason = _text(b, "since", bp), _text(b, "reason", bp)
        rows.add("device_availability", (hall, r.seq, r.at, dev, dtype, up, since, reason))
        rows.add("devices", (hall, dev, r.seq, r.at, dtype, up, since, reason))
    elif r.kind == "kpi_hour":
        start = _iso(b, "start", bp)
        figures = {k: v for k, v in b.items() if k != "start"}
        rows.add("kpi_hours", (hall, start, r.seq, r.at, _json(figures)))
    # "sample": the time series only (cloud_sync/series.py checks its shape)


def add_batch(rows: Rows, batch: wire.Batch, subject: str, raw: bytes) -> None:
    """The rows of one batch; a record whose body is wrong is a dead letter of its own (with its field path) and the
    rest of the batch is kept, so one bad record never holds the hall's confirmation back."""
    for i, r in enumerate(batch.records):
        try:
            _add_record(rows, batch.hall, r, f"records[{i}]")
        except PayloadError as exc:
            rows.dead.append(DeadLetter(exc.reason, exc.path, exc.detail, subject, batch.hall, raw))


# -- tables ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Table:
    name: str
    columns: tuple[tuple[str, str], ...]  # (column, array element type of its parameter)
    key: tuple[str, ...]
    latest: bool = False  # current state: the highest seq wins

    def insert(self) -> str:
        names = [c for c, _ in self.columns]
        params = ", ".join(f"%b::{t}[]" for _, t in self.columns)  # binary: no quoting of every element
        select = ", ".join(
            f"to_timestamp({c})" if c == "at" else (f"{c}::jsonb" if t == "jsonb_text" else c) for c, t in self.columns
        )
        params = params.replace("jsonb_text", "text")
        sql = (
            f"INSERT INTO {self.name} AS cur ({', '.join(names)}) SELECT {select} "
            f"FROM unnest({params}) AS t({', '.join(names)}) ORDER BY {', '.join(self.key)} "
            f"ON CONFLICT ({', '.join(self.key)}) DO "
        )
        if not self.latest:
            return sql + "NOTHING"
        updates = ", ".join(f"{c} = excluded.{c}" for c in names if c not in self.key)
        return sql + f"UPDATE SET {updates} WHERE cur.seq < excluded.seq"

    def key_of(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        names = [c for c, _ in self.columns]
        return tuple(row[names.index(k)] for k in self.key)


_T, _B, _F, _TS, _J, _BOOL, _I2 = "text", "bigint", "float8", "timestamptz", "jsonb_text", "bool", "int2"
_ALERT_COLS = (("hall", _T), ("seq", _B), ("at", _F), ("fingerprint", _T), ("rule", _T), ("state", _T),
               ("severity", _T), ("body", _J))  # fmt: skip
_AVAIL_COLS = (("device", _T), ("seq", _B), ("at", _F), ("device_type", _T), ("up", _BOOL), ("since", _T),
               ("reason", _T))  # fmt: skip
TABLES: dict[str, _Table] = {
    t.name: t
    for t in (
        _Table("alert_history", _ALERT_COLS, ("hall", "seq")),
        _Table("alerts", _ALERT_COLS, ("hall", "fingerprint"), latest=True),
        _Table(
            "ticket_versions",
            (("hall", _T), ("seq", _B), ("at", _F), ("id", _T), ("status", _T), ("body", _J)),
            ("hall", "seq"),
        ),
        _Table(
            "tickets",
            (
                ("hall", _T),
                ("id", _T),
                ("seq", _B),
                ("at", _F),
                ("status", _T),
                ("priority", _T),
                ("device", _T),
                ("body", _J),
            ),
            ("hall", "id"),
            latest=True,
        ),
        _Table(
            "decisions",
            (("hall", _T), ("id", _T), ("seq", _B), ("at", _F), ("status", _T), ("action", _T), ("body", _J)),
            ("hall", "id"),
            latest=True,
        ),
        _Table(
            "audit",
            (
                ("hall", _T),
                ("id", _B),
                ("seq", _B),
                ("at", _F),
                ("actor", _T),
                ("action", _T),
                ("subject", _T),
                ("hash", _T),
                ("body", _J),
            ),
            ("hall", "id"),
        ),
        _Table(
            "audit_anchors",
            (("hall", _T), ("seq", _B), ("at", _F), ("count", _B), ("head", _T), ("body", _J)),
            ("hall", "seq"),
        ),
        _Table(
            "ratings",
            (
                ("hall", _T),
                ("seq", _B),
                ("at", _F),
                ("window_id", _T),
                ("service", _T),
                ("service_item", _T),
                ("score", _I2),
                ("device", _T),
                ("ticket", _T),
            ),
            ("hall", "seq"),
        ),
        _Table(
            "kpi_hours",
            (("hall", _T), ("start", _TS), ("seq", _B), ("at", _F), ("figures", _J)),
            ("hall", "start"),
            latest=True,
        ),
        _Table(
            "device_availability",
            (
                ("hall", _T),
                ("seq", _B),
                ("at", _F),
                ("device", _T),
                ("device_type", _T),
                ("up", _BOOL),
                ("since", _T),
                ("reason", _T),
            ),
            ("hall", "seq"),
        ),
        _Table("devices", (("hall", _T), *_AVAIL_COLS), ("hall", "device"), latest=True),
    )
}
HISTORY = {"alert_history", "ticket_versions", "audit", "audit_anchors", "ratings", "device_availability"}

SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS halls (
  hall text PRIMARY KEY, first_seen timestamptz NOT NULL, last_seen timestamptz NOT NULL,
  online boolean, status jsonb, status_at timestamptz);
ALTER TABLE halls ADD COLUMN IF NOT EXISTS box_at timestamptz;  -- the newest status's time on the box's clock
CREATE TABLE IF NOT EXISTS ranges (
  hall text NOT NULL, stream text NOT NULL, lo bigint NOT NULL, hi bigint NOT NULL,
  committed_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (hall, stream, lo, hi));
CREATE TABLE IF NOT EXISTS confirmed (
  hall text NOT NULL, stream text NOT NULL, seq bigint NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (hall, stream));
CREATE TABLE IF NOT EXISTS alert_history (
  hall text NOT NULL, seq bigint NOT NULL, at timestamptz NOT NULL, fingerprint text NOT NULL, rule text,
  state text NOT NULL, severity text, body jsonb NOT NULL, PRIMARY KEY (hall, seq));
CREATE TABLE IF NOT EXISTS alerts (
  hall text NOT NULL, fingerprint text NOT NULL, seq bigint NOT NULL, at timestamptz NOT NULL, rule text,
  state text NOT NULL, severity text, body jsonb NOT NULL, PRIMARY KEY (hall, fingerprint));
CREATE TABLE IF NOT EXISTS ticket_versions (
  hall text NOT NULL, seq bigint NOT NULL, at timestamptz NOT NULL, id text NOT NULL, status text NOT NULL,
  body jsonb NOT NULL, PRIMARY KEY (hall, seq));
CREATE TABLE IF NOT EXISTS tickets (
  hall text NOT NULL, id text NOT NULL, seq bigint NOT NULL, at timestamptz NOT NULL, status text NOT NULL,
  priority text, device text, body jsonb NOT NULL, PRIMARY KEY (hall, id));
CREATE TABLE IF NOT EXISTS decisions (
  hall text NOT NULL, id text NOT NULL, seq bigint NOT NULL, at timestamptz NOT NULL, status text, action text,
  body jsonb NOT NULL, PRIMARY KEY (hall, id));
CREATE TABLE IF NOT EXISTS audit (
  hall text NOT NULL, id bigint NOT NULL, seq bigint NOT NULL, at timestamptz NOT NULL, actor text, action text,
  subject text, hash text, body jsonb NOT NULL, PRIMARY KEY (hall, id));
CREATE TABLE IF NOT EXISTS audit_anchors (
  hall text NOT NULL, seq bigint NOT NULL, at timestamptz NOT NULL, count bigint NOT NULL, head text NOT NULL,
  body jsonb NOT NULL, PRIMARY KEY (hall, seq));
CREATE TABLE IF NOT EXISTS ratings (
  hall text NOT NULL, seq bigint NOT NULL, at timestamptz NOT NULL, window_id text, service text, service_item text,
  score smallint NOT NULL, device text, ticket text, PRIMARY KEY (hall, seq));
CREATE INDEX IF NOT EXISTS ratings_at ON ratings (at);
CREATE TABLE IF NOT EXISTS kpi_hours (
  hall text NOT NULL, start timestamptz NOT NULL, seq bigint NOT NULL, at timestamptz NOT NULL,
  figures jsonb NOT NULL, PRIMARY KEY (hall, start));
CREATE TABLE IF NOT EXISTS device_availability (
  hall text NOT NULL, seq bigint NOT NULL, at timestamptz NOT NULL, device text NOT NULL, device_type text,
  up boolean NOT NULL, since text, reason text, PRIMARY KEY (hall, seq));
CREATE TABLE IF NOT EXISTS devices (
  hall text NOT NULL, device text NOT NULL, seq bigint NOT NULL, at timestamptz NOT NULL, device_type text,
  up boolean NOT NULL, since text, reason text, PRIMARY KEY (hall, device));
-- the fleet view's counts per hall (cloud_sync/fleet.py): what is open, not the whole history
CREATE INDEX IF NOT EXISTS alerts_open ON alerts (hall) WHERE state IN ('firing', 'acknowledged');
CREATE INDEX IF NOT EXISTS tickets_open ON tickets (hall) WHERE status NOT IN ('resolved', 'closed');
CREATE INDEX IF NOT EXISTS devices_down ON devices (hall) WHERE NOT up;
CREATE TABLE IF NOT EXISTS dead_letters (
  id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), subject text NOT NULL, hall text,
  reason text NOT NULL, path text NOT NULL, detail text NOT NULL, payload text NOT NULL);
"""


# -- the transaction -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one commit did: per hall every stream's confirmed number; the batches not already confirmed before
    (the time series needs only those); records stored and those that were there already."""

    confirmations: dict[str, dict[str, int]]
    fresh: list[int]  # indexes into the committed batches
    stored: int
    duplicates: int


class Ledger:
    """One PostgreSQL connection of one consumer instance. `await Ledger.connect(dsn)` creates the schema."""

    def __init__(self, conn: psycopg.AsyncConnection[Any], dead_letters_kept: int) -> None:
        self.conn = conn
        self.dead_letters_kept = dead_letters_kept

    @classmethod
    async def connect(cls, dsn: str, password: str | None = None, dead_letters_kept: int = 10000) -> Ledger:
        kwargs: dict[str, Any] = {"password": password} if password else {}
        conn = await psycopg.AsyncConnection.connect(dsn, autocommit=False, connect_timeout=10, **kwargs)
        ledger = cls(conn, dead_letters_kept)
        await ledger.create_schema()
        return ledger

    async def close(self) -> None:
        await self.conn.close()

    async def create_schema(self) -> None:
        async with self.conn.transaction():
            await self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            await self.conn.execute(SCHEMA)
            cur = await self.conn.execute("SELECT coalesce(max(version), 0) FROM schema_version")
            row = await cur.fetchone()
            have = int(row[0]) if row else 0
            if have > SCHEMA_VERSION:
                raise RuntimeError(f"the database has schema {have}, newer than this consumer's {SCHEMA_VERSION}")
            if have < SCHEMA_VERSION:
                await self.conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (SCHEMA_VERSION,))

    async def commit(
        self, batches: Sequence[wire.Batch], rows: Rows, statuses: Sequence[wire.Status], now: float
    ) -> Outcome:
        """One transaction for a fetched group; retried on a deadlock or a serialization failure."""
        for attempt in range(_RETRIES):
            try:
                async with self.conn.transaction():
                    return await self._commit(batches, rows, statuses, now)
            except (pg_errors.DeadlockDetected, pg_errors.SerializationFailure) as exc:
                if attempt == _RETRIES - 1:
                    raise
                log.info("commit retried after %s", type(exc).__name__)
        raise AssertionError("unreachable")

    async def _commit(
        self, batches: Sequence[wire.Batch], rows: Rows, statuses: Sequence[wire.Status], now: float
    ) -> Outcome:
        cur = self.conn.cursor()
        stored = duplicates = 0
        for name, table in TABLES.items():  # always in this order (lock order)
            table_rows = rows.tables.get(name)
            if not table_rows:
                continue
            if table.latest:  # one row per key (the highest seq): an upsert may not touch a row twice
                best: dict[tuple[Any, ...], tuple[Any, ...]] = {}
                seq_at = [c for c, _ in table.columns].index("seq")
                for row in table_rows:
                    k = table.key_of(row)
                    if k not in best or best[k][seq_at] < row[seq_at]:
                        best[k] = row
                table_rows = list(best.values())
            await cur.execute(table.insert(), [list(col) for col in zip(*table_rows, strict=True)])
            if name in HISTORY:
                stored += cur.rowcount
                duplicates += len(table_rows) - cur.rowcount

        # the ranges, then the watermark of each (hall, stream) under its row lock
        keys = sorted({(b.hall, b.stream.value) for b in batches})
        fresh: list[int] = []
        confirmations: dict[str, dict[str, int]] = {}
        if keys:
            halls_k, streams_k = [k[0] for k in keys], [k[1] for k in keys]
            spans = sorted({(b.hall, b.stream.value, b.lo, b.hi) for b in batches})
            await cur.execute(
                "INSERT INTO ranges (hall, stream, lo, hi) SELECT * FROM unnest(%s::text[], %s::text[], "
                "%s::bigint[], %s::bigint[]) ON CONFLICT DO NOTHING",
                [[s[0] for s in spans], [s[1] for s in spans], [s[2] for s in spans], [s[3] for s in spans]],
            )
            await cur.execute(
                "INSERT INTO confirmed (hall, stream) SELECT * FROM unnest(%s::text[], %s::text[]) "
                "ON CONFLICT DO NOTHING",
                [halls_k, streams_k],
            )
            await cur.execute(
                "SELECT c.hall, c.stream, c.seq FROM confirmed c JOIN unnest(%s::text[], %s::text[]) AS k(hall, "
                "stream) USING (hall, stream) ORDER BY c.hall, c.stream FOR UPDATE OF c",
                [halls_k, streams_k],
            )
            before = {(h, s): int(w) for h, s, w in await cur.fetchall()}
            await cur.execute(
                "SELECT r.hall, r.stream, r.lo, r.hi FROM ranges r JOIN unnest(%s::text[], %s::text[]) AS k(hall, "
                "stream) USING (hall, stream)",
                [halls_k, streams_k],
            )
            spans_of: dict[tuple[str, str], list[tuple[int, int]]] = {}
            for h, s, lo, hi in await cur.fetchall():
                spans_of.setdefault((h, s), []).append((int(lo), int(hi)))
            after = {k: advance(before[k], spans_of.get(k, []))[0] for k in keys}
            moved = [k for k in keys if after[k] != before[k]]
            if moved:
                await cur.execute(
                    "UPDATE confirmed c SET seq = k.seq, updated_at = now() FROM unnest(%s::text[], %s::text[], "
                    "%s::bigint[]) AS k(hall, stream, seq) WHERE c.hall = k.hall AND c.stream = k.stream",
                    [[k[0] for k in moved], [k[1] for k in moved], [after[k] for k in moved]],
                )
            await cur.execute(
                "DELETE FROM ranges r USING unnest(%s::text[], %s::text[], %s::bigint[]) AS k(hall, stream, seq) "
                "WHERE r.hall = k.hall AND r.stream = k.stream AND r.hi <= k.seq",
                [halls_k, streams_k, [after[k] for k in keys]],
            )
            fresh = [i for i, b in enumerate(batches) if b.hi > before[(b.hall, b.stream.value)]]
            duplicates += sum(
                len(b.records)
                for b in batches
                if b.hi <= before[(b.hall, b.stream.value)] and b.stream in (wire.Stream.TELEMETRY,)
            )
        await self._halls(cur, batches, statuses, now)
        if rows.dead:
            await self._dead_letters(cur, rows.dead)
        # a hall's status is answered with its confirmations too (even none yet): a box restored from a backup asks
        # what the cloud holds before it sends anything (cloud_sync/uplink.py)
        hall_list = sorted({k[0] for k in keys} | {st.hall for st in statuses if st.online})
        if hall_list:
            await cur.execute("SELECT hall, stream, seq FROM confirmed WHERE hall = ANY(%s::text[])", [hall_list])
            confirmations = {h: {} for h in hall_list}
            for h, s, w in await cur.fetchall():
                confirmations[h][s] = int(w)
        return Outcome(confirmations, fresh, stored, duplicates)

    async def _halls(
        self, cur: psycopg.AsyncCursor[Any], batches: Sequence[wire.Batch], statuses: Sequence[wire.Status], now: float
    ) -> None:
        """Every hall heard from; its newest status (by the box's `at`); a will (`online` false) only while the
        hall's newest status is of the will's session — an older connection's will does not take a hall offline
        that is back — keeping the hall's last figures (docs/sync.md, "Status")."""
        newest: dict[str, wire.Status] = {}
        wills: set[tuple[str, str]] = set()
        for s in statuses:
            if not s.online:
                wills.add((s.hall, str(s.body.get("session", ""))))
            elif s.hall not in newest or newest[s.hall].at < s.at:
                newest[s.hall] = s
        seen = sorted({b.hall for b in batches} | set(newest) | {h for h, _ in wills})
        if not seen:
            return
        await cur.execute(
            "INSERT INTO halls AS h (hall, first_seen, last_seen) SELECT k, to_timestamp(%s), to_timestamp(%s) "
            "FROM unnest(%s::text[]) AS k ORDER BY k "
            "ON CONFLICT (hall) DO UPDATE SET last_seen = greatest(h.last_seen, excluded.last_seen)",
            [now, now, seen],
        )
        if newest:
            ordered = sorted(newest.values(), key=lambda s: s.hall)
            # newest by the box's clock (`box_at`), but dated by when it arrived (`status_at`): a box whose clock is
            # slow is not shown cut off for it, and one whose clock ran ahead does not freeze its figures (a stored
            # box time in the future is replaced)
            await cur.execute(
                "UPDATE halls h SET online = true, status = k.status::jsonb, status_at = to_timestamp(%s), "
                "box_at = to_timestamp(k.at) "
                "FROM unnest(%s::text[], %s::text[], %s::float8[]) AS k(hall, status, at) "
                "WHERE h.hall = k.hall AND (h.box_at IS NULL OR h.box_at < to_timestamp(k.at) "
                "OR h.box_at > to_timestamp(%s) + interval '5 minutes')",
                [now, [s.hall for s in ordered], [_json(s.body) for s in ordered], [s.at for s in ordered], now],
            )
        if wills:
            ordered_wills = sorted(wills)
            await cur.execute(
                "UPDATE halls h SET online = false FROM unnest(%s::text[], %s::text[]) AS k(hall, session) "
                "WHERE h.hall = k.hall AND coalesce(h.status->>'session', '') = k.session",
                [[h for h, _ in ordered_wills], [w for _, w in ordered_wills]],
            )

    async def _dead_letters(self, cur: psycopg.AsyncCursor[Any], dead: Sequence[DeadLetter]) -> None:
        await cur.executemany(
            "INSERT INTO dead_letters (subject, hall, reason, path, detail, payload) VALUES (%s, %s, %s, %s, %s, %s)",
            [
                (
                    _plain(d.subject[:256]),
                    d.hall,
                    d.reason,
                    _plain(d.path[:256]),
                    _plain(d.detail[:512]),
                    _excerpt(d.payload),
                )
                for d in dead
            ],
        )
        await cur.execute(
            "DELETE FROM dead_letters WHERE id <= (SELECT max(id) FROM dead_letters) - %s", (self.dead_letters_kept,)
        )


def _excerpt(raw: bytes, limit: int = 4096) -> str:
    return raw[:limit].decode("utf-8", errors="replace").replace("\x00", "\ufffd")


# -- the ratings export (好差评) -------------------------------------------------------------------------------------


def ratings_document(
    province: str, profile: RatingsProfile, day: date, rows: Iterable[Sequence[Any]], now: float
) -> dict[str, Any]:
    """The day's ratings in the shape docs/sync.md gives ("Ratings export"): one entry per rating with its grade
    by the province's names, the window, the 事项编码 when one is known, and the time in the province's zone."""
    zone = ZoneInfo(profile.timezone)
    entries: list[dict[str, Any]] = []
    totals = {profile.grades[s]: 0 for s in sorted(profile.grades, reverse=True)}
    for hall, seq, at, window, service, service_item, score, device, ticket in rows:
        grade = profile.grades[int(score)]
        totals[grade] += 1
        entry: dict[str, Any] = {
            "hall": hall,
            "seq": seq,
            "time": datetime.fromtimestamp(at, zone).isoformat(timespec="seconds"),
            "score": int(score),
            "grade": grade,
            "window": window,
        }
        if hall in profile.hall_codes:
            entry["hall_code"] = profile.hall_codes[hall]
        if int(score) in profile.grade_codes:
            entry["grade_code"] = profile.grade_codes[int(score)]
        item = profile.service_items.get(service or "") or service_item
        if item:
            entry["service_item"] = item
        if service:
            entry["service"] = service
        if ticket:
            entry["ticket"] = ticket
        if device:
            entry["device"] = device
        entries.append(entry)
    return {
        "format": RATINGS_FORMAT,
        "province": province,
        "day": day.isoformat(),
        "timezone": profile.timezone,
        "generated_at": datetime.fromtimestamp(now, zone).isoformat(timespec="seconds"),
        "count": len(entries),
        "totals": totals,
        "ratings": entries,
    }


async def export_ratings(
    conn: psycopg.AsyncConnection[Any], province: str, profile: RatingsProfile, day: date, now: float
) -> dict[str, Any]:
    zone = ZoneInfo(profile.timezone)
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    end = start + timedelta(days=1)
    cur = await conn.execute(
        "SELECT hall, seq, extract(epoch FROM at)::float8, window_id, service, service_item, score, device, ticket "
        "FROM ratings WHERE at >= %s AND at < %s AND (%s::text[] IS NULL OR hall = ANY(%s::text[])) "
        "ORDER BY at, hall, seq",
        (start, end, profile.halls, profile.halls),
    )
    return ratings_document(province, profile, day, await cur.fetchall(), now)


__all__ = [
    "HISTORY",
    "RATINGS_FORMAT",
    "SCHEMA_VERSION",
    "TABLES",
    "DeadLetter",
    "Ledger",
    "Outcome",
    "Rows",
    "add_batch",
    "advance",
    "export_ratings",
    "ratings_document",
]
