"""The halls' records as time series: InfluxDB line protocol, written through influxdb-client's batching write API to
VictoriaMetrics (its `/api/v2/write`, where a series is named `<measurement>_<field>`) or InfluxDB 2.x.

    sample        → <measurement>,hall=…,<tags> <fields>           (hall_queue_waiting, hall_windows_open, …)
    kpi_hour      → hall_kpi,hall=… issued=…,sl_pct=…,…            at the record's time (the newest figures last)
    rating        → hall_rating,hall=…,window=…[,service=…] score=…
    availability  → hall_device,hall=…,device=…,device_type=… up=1|0
    alert         → hall_alert,hall=…,rule=…,severity=… firing=1|0 (each change of an alert's state)

Writing never blocks nor fails the database path: `SeriesWriter.write` hands lines to the client's batching thread,
which retries with backoff; what fails in the end, or does not fit the bounded queue, is counted and logged.

It must not touch PostgreSQL or NATS.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import threading
from collections.abc import Iterable
from typing import Any

from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import WriteApi, WriteOptions
from influxdb_client.domain.write_precision import WritePrecision

from cloud_sync import wire
from cloud_sync.settings import SeriesSection
from devices.errors import PayloadError

log = logging.getLogger(__name__)

SERIES_STREAMS = frozenset(
    {wire.Stream.TELEMETRY, wire.Stream.KPIS, wire.Stream.RATINGS, wire.Stream.DEVICES, wire.Stream.ALERTS}
)
MEASUREMENT = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
CHUNK = 500  # lines per item handed to the batching thread (its per-item cost is what limits throughput)
_KPI_FIELDS = (
    "issued", "called", "served", "no_shows", "sl_pct", "p95_wait_min", "mean_wait_min", "max_wait_min",
    "utilisation_pct", "availability_pct", "ratings", "satisfaction_pct",
)  # fmt: skip


_ESCAPE = re.compile(r"[\\, =]")


def _escape(v: str) -> str:
    return _ESCAPE.sub(lambda m: "\\" + m.group(), v).replace("\n", "\\n")


@functools.lru_cache(maxsize=65536)
def _tags(items: tuple[tuple[str, str], ...]) -> str:
    """`,k=v,…` sorted by key, escaped; the same few label sets repeat for every sample, hence the cache."""
    return "".join(f",{k}={_escape(v)}" for k, v in sorted(items) if v != "")


def _number(v: object) -> float | None:
    t = type(v)
    if t is float:
        return v if math.isfinite(v) else None  # type: ignore[arg-type,return-value]
    if t is int:
        return float(v)  # type: ignore[arg-type]
    if t is bool:
        return 1.0 if v else 0.0
    return None


def _line(measurement: str, tags: dict[str, str], fields: dict[str, float], at: float) -> str:
    field_part = ",".join(f"{k}={v!r}" for k, v in fields.items())
    return f"{measurement}{_tags(tuple(tags.items()))} {field_part} {round(at * 1000)}"


def _sample(hall: str, r: wire.Record, path: str) -> str | None:
    b = r.body
    m = b.get("measurement")
    if not isinstance(m, str) or not MEASUREMENT.match(m):
        raise PayloadError("bad_record", "must be a name like hall_queue", f"{path}.body.measurement")
    tags_in, fields_in = b.get("tags") or {}, b.get("fields")
    if not isinstance(tags_in, dict):
        raise PayloadError("bad_record", "must be a mapping of strings", f"{path}.body.tags")
    if not isinstance(fields_in, dict):
        raise PayloadError("bad_record", "must be a mapping of numbers", f"{path}.body.fields")
    tags = {"hall": hall}
    for k, v in tags_in.items():
        if type(v) is not str or k == "hall" or not _key(k):
            raise PayloadError("bad_record", "must be a string under a plain name", f"{path}.body.tags.{k}")
        tags[k] = v
    fields: dict[str, float] = {}
    for k, v in fields_in.items():
        n = _number(v)
        if (n is None and v is not None) or not _key(k):
            raise PayloadError("bad_record", "must be a finite number", f"{path}.body.fields.{k}")
        if n is not None:
            fields[k] = n
    return _line(m, tags, fields, r.at) if fields else None


@functools.lru_cache(maxsize=4096)
def _key(k: str) -> bool:
    return KEY.match(k) is not None


def _line_of(hall: str, r: wire.Record, path: str) -> str | None:  # noqa: PLR0911 (one case per kind)
    b = r.body
    if r.kind == "sample":
        return _sample(hall, r, path)
    if r.kind == "kpi_hour":
        fields = {k: n for k in _KPI_FIELDS if (n := _number(b.get(k))) is not None}
        return _line("hall_kpi", {"hall": hall}, fields, r.at) if fields else None
    if r.kind == "rating":
        score = _number(b.get("score"))
        if score is None:
            return None
        tags = {"hall": hall, "window": str(b.get("window") or ""), "service": str(b.get("service") or "")}
        return _line("hall_rating", tags, {"score": score}, r.at)
    if r.kind == "availability":
        up = b.get("up")
        if not isinstance(up, bool) or not isinstance(b.get("device"), str):
            return None
        tags = {"hall": hall, "device": b["device"], "device_type": str(b.get("device_type") or "")}
        return _line("hall_device", tags, {"up": 1.0 if up else 0.0}, r.at)
    if r.kind == "alert":
        state = b.get("state")
        if not isinstance(state, str):
            return None
        tags = {"hall": hall, "rule": str(b.get("rule") or ""), "severity": str(b.get("severity") or "")}
        return _line("hall_alert", tags, {"firing": 1.0 if state == "firing" else 0.0}, r.at)
    return None


def lines_of(batch: wire.Batch) -> tuple[list[str], list[PayloadError]]:
    """The batch's records as line protocol (hall as a tag, millisecond times), and the records refused (a sample
    that is not measurement/tags/fields), each with its field path. Other streams give no lines."""
    if batch.stream not in SERIES_STREAMS:
        return [], []
    lines: list[str] = []
    problems: list[PayloadError] = []
    for i, r in enumerate(batch.records):
        try:
            line = _line_of(batch.hall, r, f"records[{i}]")
        except PayloadError as exc:
            problems.append(exc)
            continue
        if line is not None:
            lines.append(line)
    return lines, problems


class SeriesWriter:
    """influxdb-client's batching write API with retries and a bounded queue; thread-safe counters."""

    def __init__(self, cfg: SeriesSection, max_pending: int = 500_000) -> None:
        self.cfg = cfg
        self.max_pending = max_pending
        self._lock = threading.Lock()
        self.pending = 0
        self.written = 0
        self.failed = 0
        self.retried = 0
        self._client = InfluxDBClient(url=cfg.url, token=cfg.token(), org=cfg.org, timeout=30_000)
        options = WriteOptions(
            batch_size=max(1, cfg.batch_size // CHUNK),
            flush_interval=cfg.flush_interval_ms,
            retry_interval=cfg.retry_interval_ms,
            max_retries=cfg.max_retries,
            max_retry_delay=30_000,
            max_retry_time=max(60_000, cfg.retry_interval_ms * 2 ** min(cfg.max_retries, 6)),
            exponential_base=2,
        )
        self._api: WriteApi = self._client.write_api(
            write_options=options,
            success_callback=self._ok,
            error_callback=self._error,
            retry_callback=self._retry,
        )

    @staticmethod
    def _count(data: Any) -> int:
        return (data.count(b"\n") if isinstance(data, bytes) else str(data).count("\n")) + 1

    def _ok(self, conf: tuple[str, str, str], data: Any) -> None:
        n = self._count(data)
        with self._lock:
            self.pending -= n
            self.written += n

    def _error(self, conf: tuple[str, str, str], data: Any, exc: Exception) -> None:
        n = self._count(data)
        with self._lock:
            self.pending -= n
            self.failed += n
        log.warning("time series: %d points not written after retries: %s", n, exc)

    def _retry(self, conf: tuple[str, str, str], data: Any, exc: Exception) -> None:
        with self._lock:
            self.retried += 1
        log.info("time series: write retried: %s", exc)

    def write(self, lines: Iterable[str]) -> None:
        """Hand lines to the batching thread; never blocks on the store. Over `max_pending` they are counted as
        failed at once (the store has been away too long for the memory to hold them)."""
        batch = list(lines)
        if not batch:
            return
        with self._lock:
            if self.pending + len(batch) > self.max_pending:
                self.failed += len(batch)
                return
            self.pending += len(batch)
        for i in range(0, len(batch), CHUNK):
            chunk = "\n".join(batch[i : i + CHUNK]).encode()
            self._api.write(self.cfg.bucket, self.cfg.org, chunk, write_precision=WritePrecision.MS)  # type: ignore[arg-type]  # (its constants are str)

    def counters(self) -> dict[str, int]:
        with self._lock:
            return {"written": self.written, "failed": self.failed, "retried": self.retried, "pending": self.pending}

    def close(self) -> None:
        """Flush what is queued (waiting for it) and close the client."""
        try:
            self._api.close()  # type: ignore[no-untyped-call]
        finally:
            self._client.close()  # type: ignore[no-untyped-call]


__all__ = ["SERIES_STREAMS", "SeriesWriter", "lines_of"]
