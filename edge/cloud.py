"""The hall's side of the cloud tier: what goes into the cloud outbox besides the decisions, and the uplink.

    ingest (hot path) ─ a rating ─▶ the same transaction as its event (EventBatch.cloud)
    every second ─▶ devices that went down or came back · the audit entries since the last look
                 ─▶ every minute: the hours' figures that changed (an open hour at most every 5 min)
                 ─▶ every `telemetry_every_s`: a sample of the hall (queues, windows, zones, devices)
                 ─▶ the disk budget (only samples are dropped)
    the uplink (cloud_sync/uplink.py) sends it all and prunes what the cloud confirms

The decisions' own records (alert changes, tickets, recommendations) are added by the decision log in the transaction
of the decision (edge/store/decisions.py); the audit chain's signed head by the anchor publisher (edge/anchor.py).
What this module keeps between looks (the cursors, the devices' last state, the hours sent) is in the store's meta,
written with the records, so a restart neither loses nor repeats anything. It must not decide anything about the
hall or send anything itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from cloud_sync.uplink import Uplink, UplinkSettings
from cloud_sync.wire import Stream
from devices.codec import DeviceMessage
from devices.contract import RatingSubmitted, TicketIssued
from edge.config import GatewayConfig
from edge.reports import Reports
from edge.store import CloudRecord, Store
from edge.supervisor import Worker
from rules.clock import Clock
from rules.hall import HallSnapshot

log = logging.getLogger(__name__)

AUDIT_CURSOR, DEVICES, HOURS = "cloud.audit_cursor", "cloud.devices", "cloud.hours"  # meta keys
TICKETS_KEPT = 20_000  # ticket → service, for the ratings (a city hall issues about 3,000 a day)
HOURS_EVERY_S = 60.0
OPEN_HOUR_EVERY_S = 300.0  # an hour still running is sent again at most this often
TICK_S = 1.0
SAMPLE_REFRESH_S = 900.0  # a series whose figures do not change is sent again this often (hall time)


def _due(now: float, at: float, every: float) -> bool:
    """`at` has come — or lies more than `every` ahead: the hall's clock went back (a device clock that started on the
    box's time and then took the devices')."""
    return now >= at or at - now > every


def _dumps(body: object) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=str)


class CloudExport:
    """The records the hall sends besides its decisions (docs/sync.md)."""

    def __init__(
        self,
        cfg: GatewayConfig,
        store: Store,
        snapshot: Callable[[], HallSnapshot],
        reports: Reports,
        clock: Clock,
    ) -> None:
        self._cfg = cfg
        # the hall's time (a device clock in a demo or a test): what the records say, and their cadence (a sample
        # per minute of the hall, as the hall's own reports count)
        self._clock = clock
        self._tz = ZoneInfo(cfg.hall.timezone)
        self._store = store
        self._snapshot = snapshot
        self._reports = reports
        self._services: OrderedDict[str, str] = OrderedDict()  # ticket id → its service, for the ratings
        self._items = {code: s.service_item for code, s in cfg.services.items() if s.service_item}
        self._next_sample = 0.0
        self._samples: dict[str, tuple[float, dict[str, float | int]]] = {}  # series → (when sent, its figures)
        self._next_hours = 0.0
        self._open_hour_sent = 0.0
        self.dropped = 0  # samples the disk budget dropped since the start
        self.over_budget = False  # over the budget with nothing left that may be dropped

    def prime(self) -> None:
        """The services of today's tickets, from the log: a rating of a ticket issued before a restart still names
        its service."""
        now = self._clock.now().timestamp()
        for row in self._store.events.tickets_issued(now - 16 * 3600, now + 60):
            try:
                body = json.loads(row.payload)
                self._remember(str(body["ticket_id"]), str(body["service"]))
            except (ValueError, KeyError, TypeError):
                continue

    def _remember(self, ticket: str, service: str) -> None:
        self._services[ticket] = service
        if len(self._services) > TICKETS_KEPT:
            self._services.popitem(last=False)

    # -- the hot path ----------------------------------------------------------------------------------------

    def observe(self, msg: DeviceMessage) -> list[CloudRecord]:
        """An accepted device message: a rating becomes a record (stored with its event); a ticket's service is
        remembered for the rating that may follow."""
        p = msg.payload
        if isinstance(p, TicketIssued):
            self._remember(p.ticket_id, p.service)
            return []
        if not isinstance(p, RatingSubmitted):
            return []
        service = self._services.get(p.ticket_id) if p.ticket_id else None
        body = {
            "device": msg.device_id,
            "window": p.window_id,
            "ticket": p.ticket_id,
            "score": p.score,
            "service": service,
            "service_item": self._items.get(service) if service else None,
        }
        return [CloudRecord(Stream.RATINGS, msg.at.timestamp(), "rating", _dumps(body))]

    # -- every second ------------------------------------------------------------------------------------------

    def tick(self) -> int:
        """Add what is due (one transaction with the cursors it moves); keep the disk budget. Returns the records
        added. A transaction that fails leaves this object as it was: the same records are due at the next tick."""
        now = self._clock.now().timestamp()
        hall = self._snapshot()
        records: list[CloudRecord] = []
        kept = (dict(self._samples), self._next_sample, self._next_hours, self._open_hour_sent)
        try:
            with self._store.transaction():
                records += self._devices(hall, now)
                records += self._audit()
                if _due(now, self._next_hours, HOURS_EVERY_S):
                    self._next_hours = now + HOURS_EVERY_S
                    records += self._hours(now)
                if _due(now, self._next_sample, self._cfg.cloud.telemetry_every_s):
                    self._next_sample = now + self._cfg.cloud.telemetry_every_s
                    records += self._sample(hall, now)
                self._store.cloud.add(records)  # with the cursors the parts above moved in meta
        except BaseException:
            self._samples, self._next_sample, self._next_hours, self._open_hour_sent = kept
            raise
        budget = int(self._cfg.cloud.budget_mb * 1024 * 1024)
        dropped = self._store.cloud.trim(budget)
        if dropped:
            self.dropped += dropped
            log.warning(
                "cloud outbox over its budget (%.0f MB): %d telemetry samples dropped",
                self._cfg.cloud.budget_mb,
                dropped,
            )
        over = self._store.cloud.held_bytes() > budget  # what is never dropped fills it: say so once, not every second
        if over and not self.over_budget:
            log.error(
                "cloud outbox over its budget (%.0f MB) with records that are never dropped (alerts, tickets, ratings, "
                "audit …): the cloud has confirmed nothing for a long time; the file grows until it does",
                self._cfg.cloud.budget_mb,
            )
        self.over_budget = over
        return len(records)

    def _devices(self, hall: HallSnapshot, now: float) -> list[CloudRecord]:
        """Devices that went down or came back since the last look (every device once, the first time)."""
        raw = self._store.meta.get(DEVICES)
        before: dict[str, bool] = json.loads(raw) if raw else {}
        after = {d.device_id: d.online for d in hall.devices}
        out = []
        for d in hall.devices:
            if before.get(d.device_id) == d.online:
                continue
            since = d.since or hall.at
            reason = None if d.online else (d.last_error or (d.problems[0] if d.problems else "offline"))
            out.append(
                CloudRecord(
                    Stream.DEVICES,
                    since.timestamp(),
                    "availability",
                    _dumps(
                        {
                            "device": d.device_id,
                            "device_type": d.device_type.value,
                            "up": d.online,
                            "since": since.astimezone(self._tz).isoformat(),
                            "reason": reason,
                        }
                    ),
                )
            )
        if after != before:
            self._store.meta.set(DEVICES, _dumps(after))
        return out

    def _audit(self) -> list[CloudRecord]:
        cursor = int(self._store.meta.get(AUDIT_CURSOR) or 0)
        rows = self._store.audit.after(cursor, 500)
        if not rows:
            return []
        self._store.meta.set(AUDIT_CURSOR, str(rows[-1].id))
        return [
            CloudRecord(
                Stream.AUDIT,
                r.entry.at,
                "audit",
                _dumps(
                    {
                        "id": r.id,
                        "at": datetime.fromtimestamp(r.entry.at, UTC).astimezone(self._tz).isoformat(),
                        "actor": r.entry.actor,
                        "action": r.entry.action,
                        "subject": r.entry.subject,
                        "detail": r.entry.detail,
                        "hash": r.hash,
                    }
                ),
            )
            for r in rows
        ]

    def _hours(self, now: float) -> list[CloudRecord]:
        """The hours of today whose figures changed since they were last sent; the hour running at most every
        OPEN_HOUR_EVERY_S (its last figures go when it has ended)."""
        local = datetime.fromtimestamp(now, UTC).astimezone(self._tz)
        report = self._reports.current(local.date(), local)
        if report is None:
            return []
        raw = self._store.meta.get(HOURS)
        sent: dict[str, str] = json.loads(raw) if raw else {}
        open_due = _due(now, self._open_hour_sent + OPEN_HOUR_EVERY_S, OPEN_HOUR_EVERY_S)
        out = []
        for k in report.hours:
            if k.service is not None:  # the hall's rows; a service's hours stay at the hall (its reports)
                continue
            if k.start.timestamp() <= now < k.start.timestamp() + 3600 and not open_due:
                continue
            body = {
                "start": k.start.astimezone(self._tz).isoformat(),
                "service": k.service,
                "issued": k.issued,
                "called": k.called,
                "served": k.served,
                "no_shows": k.no_shows,
                "sl_pct": k.sl_pct,
                "p95_wait_min": k.p95_wait_min,
                "mean_wait_min": k.mean_wait_min,
                "max_wait_min": k.max_wait_min,
                "utilisation_pct": k.utilisation_pct,
                "availability_pct": k.availability_pct,
                "ratings": k.ratings,
                "satisfaction_pct": k.satisfaction_pct,
            }
            text = _dumps(body)
            key = f"{body['start']}|{k.service or ''}"
            digest = hashlib.blake2b(text.encode(), digest_size=8).hexdigest()
            if sent.get(key) == digest:
                continue
            sent[key] = digest
            # at: within its hour, as late as now allows: each re-send of a running hour is a newer sample of it
            at = max(k.start.timestamp(), min(now, k.start.timestamp() + 3599))
            out.append(CloudRecord(Stream.KPIS, at, "kpi_hour", text))
        if open_due:
            self._open_hour_sent = now
        if out:
            day = local.date().isoformat()
            self._store.meta.set(HOURS, _dumps({k: v for k, v in sent.items() if k.startswith(day)}))
        return out

    def _sample(self, hall: HallSnapshot, now: float) -> list[CloudRecord]:
        """The hall now, for the time series (docs/sync.md `sample`): each series whose figures changed since it was
        last sent, and every series at least every SAMPLE_REFRESH_S (a closed hall at night sends next to nothing;
        a dashboard still finds each series within its look-back)."""
        t = hall.totals
        series: list[tuple[str, dict[str, str], dict[str, float | int]]] = [
            (
                "hall_queue",
                {"service": s.code},
                {
                    "waiting": s.waiting,
                    "longest_wait_s": round(s.longest_wait_s or 0.0),
                    "arrivals_15m": s.arrivals_15m,
                    "serving": s.serving,
                },
            )
            for s in hall.services
        ]
        series.append(
            (
                "hall_windows",
                {},
                {
                    "open": t.windows_open,
                    "paused": t.windows_paused,
                    "closed": t.windows_closed,
                    "offline": t.windows_offline,
                    "waiting": t.waiting,
                    "devices_offline": t.devices_offline,
                    "devices_faulty": t.devices_faulty,
                },
            )
        )
        series += [("hall_zone", {"zone": z.zone_id}, {"people": z.count}) for z in hall.zones]
        out = []
        for measurement, tags, fields in series:
            key = f"{measurement}|{_dumps(tags)}"
            last = self._samples.get(key)
            if last is not None and last[1] == fields and now - last[0] < SAMPLE_REFRESH_S and now >= last[0]:
                continue
            self._samples[key] = (now, fields)
            body = {"measurement": measurement, "tags": tags, "fields": fields}
            out.append(CloudRecord(Stream.TELEMETRY, now, "sample", _dumps(body)))
        return out


class CloudSync:
    """The export and the uplink, run together by the gateway when `cloud.url` is set."""

    def __init__(
        self,
        cfg: GatewayConfig,
        store: Store,
        snapshot: Callable[[], HallSnapshot],
        reports: Reports,
        clock: Clock,
        status: Callable[[], dict[str, object]],
    ) -> None:
        assert cfg.hall.id is not None
        c = cfg.cloud
        self.export = CloudExport(cfg, store, snapshot, reports, clock)
        self._store = store
        self._status = status
        self.uplink = Uplink(
            cfg.hall.id,
            UplinkSettings(
                addresses=tuple(c.addresses()),
                client_id=c.client_id or f"hallops-uplink-{cfg.hall.id}",
                username=c.username,
                password=c.password(),
                batch_records=c.batch_records,
                max_records_per_s=c.max_records_per_s,
                in_flight=c.in_flight,
                resend_after_s=c.resend_after_s,
                status_every_s=c.status_every_s,
                keepalive_s=c.keepalive_s,
            ),
            store.cloud,
            self.status,
        )
        self.worker: Worker | None = None

    def status(self) -> dict[str, object]:
        """The hall for the fleet view (docs/sync.md, Status): the gateway's part and the backlog."""
        states = self._store.cloud.states()
        oldest = [s.oldest_at for s in states if s.oldest_at is not None]
        return {
            **self._status(),
            "backlog": sum(s.held for s in states),
            "backlog_bytes": sum(s.held_bytes for s in states),
            "oldest_s": round(time.time() - min(oldest), 1) if oldest else 0.0,
            "confirmed": {s.stream.value: s.confirmed for s in states},
            "dropped": sum(s.dropped for s in states),
        }

    async def run(self) -> None:
        self.export.prime()
        await asyncio.gather(self.uplink.run(), self._export())

    async def _export(self) -> None:
        fault: str | None = None
        while True:
            if self.worker is not None:
                self.worker.beat()
            try:
                if self.export.tick():
                    self.uplink.wake()
            except Exception as exc:  # a storage fault (ingest reports it too): the next second tries again
                cause = f"{type(exc).__name__}: {exc}"
                if cause != fault:
                    log.warning("cloud export waits: %s", cause)
                    if self.worker is not None:
                        self.worker.pause("cloud_export", cause)
                fault = cause
            else:
                if fault is not None:
                    log.warning("cloud export goes on")
                    if self.worker is not None:
                        self.worker.resume()
                fault = None
            await asyncio.sleep(TICK_S)
