"""What crosses between a hall's box and the city/province tier: streams, topics, the batch and the confirmation.

    edge outbox ─▶ Batch (QoS 1) ─▶ cloud/halls/<hall>/up/<stream>  ─▶ the cloud engine's stream (NATS JetStream)
                                                                     ─▶ consumers: PostgreSQL, time series
    edge ◀─ Confirmation ◀─ cloud/halls/<hall>/ack ◀─ a consumer, after its database commit
    edge ─▶ Status (QoS 1, every 30 s, and the will when the link drops) ─▶ cloud/halls/<hall>/status

Each stream numbers its records 1, 2, 3 … per hall, never reusing a number. A batch says which records it answers
for: every record the edge still holds with `lo < seq <= hi` is in it — a number in that range and not in the batch
was dropped by the edge's disk budget (downsampled telemetry only) and will never come. The cloud commits a batch
and its range in one transaction, keyed by (hall, stream, seq), so a batch delivered twice or out of order changes
nothing; its confirmation is the highest number below which every range is committed. The edge prunes up to it and
sends the rest again after a reconnect (at least once, committed once).

The payloads need nothing of MQTT 5 (the NATS MQTT listener speaks 3.1.1). Owns the names and the shapes, and their
validation on the receiving side (pydantic: every error with its field path); it must not store, send or decide.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError

from devices.errors import PayloadError

ROOT = "cloud/halls"  # the same root as the rule bundles (cloud_sync/delivery.py)
BATCH_FORMAT = "hallops-sync/1"
ACK_FORMAT = "hallops-sync-ack/1"
STATUS_FORMAT = "hallops-status/1"
MAX_SEQ = 2**53 - 1  # a JSON number every reader keeps exactly; an outbox at 1,000 records/s needs 285,000 years
MAX_BATCH_BYTES = 256 * 1024  # under every broker's default message limit (NATS: 1 MiB)
HALL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$")  # no '.': a level of the engine's subject (NATS)


class Stream(StrEnum):
    """The streams of a hall, in the order they are sent when there is a backlog (the priority of each below)."""

    ALERTS = "alerts"  # every change of an alert's state
    TICKETS = "tickets"  # every version of a fault ticket
    AUDIT = "audit"  # the audit entries, and the signed head of the chain (the anchor)
    RATINGS = "ratings"  # 好差评, one record per rating
    DECISIONS = "decisions"  # tidal recommendations (潮汐窗口) and what became of them
    DEVICES = "devices"  # each device going down or up again
    KPIS = "kpis"  # the hour's figures, sent again while the hour is open
    TELEMETRY = "telemetry"  # the hall each minute (queues, windows, zones): the only stream the disk budget drops


PRIORITY: dict[Stream, int] = {
    Stream.ALERTS: 0,
    Stream.TICKETS: 0,
    Stream.AUDIT: 1,
    Stream.RATINGS: 1,
    Stream.DECISIONS: 1,
    Stream.DEVICES: 2,
    Stream.KPIS: 2,
    Stream.TELEMETRY: 3,
}
DROPPABLE = frozenset({Stream.TELEMETRY})

# what each stream's records are (`Record.kind`); a consumer refuses another kind with its field path
KINDS: dict[Stream, frozenset[str]] = {
    Stream.ALERTS: frozenset({"alert"}),
    Stream.TICKETS: frozenset({"ticket"}),
    Stream.AUDIT: frozenset({"audit", "anchor"}),
    Stream.RATINGS: frozenset({"rating"}),
    Stream.DECISIONS: frozenset({"recommendation"}),
    Stream.DEVICES: frozenset({"availability"}),
    Stream.KPIS: frozenset({"kpi_hour"}),
    Stream.TELEMETRY: frozenset({"sample"}),
}


# -- topics ---------------------------------------------------------------------------------------------------------


def up_topic(hall: str, stream: Stream) -> str:
    return f"{ROOT}/{hall}/up/{stream.value}"


def ack_topic(hall: str) -> str:
    return f"{ROOT}/{hall}/ack"


def status_topic(hall: str) -> str:
    return f"{ROOT}/{hall}/status"


def subject(topic: str) -> str:
    """The engine's subject for an MQTT topic (NATS: levels joined by '.')."""
    return topic.replace("/", ".")


UP_SUBJECTS = f"{subject(ROOT)}.*.up.*"  # what the cloud's stream captures
STATUS_SUBJECTS = f"{subject(ROOT)}.*.status"


# -- shapes (the receiving side validates; unknown fields are ignored so either side may be newer) -------------------

Seq = Annotated[int, Strict(), Field(ge=1, le=MAX_SEQ)]
Bound = Annotated[int, Strict(), Field(ge=0, le=MAX_SEQ)]
HallId = Annotated[str, Field(pattern=HALL_ID.pattern)]
Time = Annotated[float, Field(ge=0, le=4102444800)]  # UNIX seconds, before 2100


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Record(_Model):
    seq: Seq
    at: Time  # when it happened at the hall
    kind: Annotated[str, Field(min_length=1, max_length=32)]
    body: dict[str, Any]  # the kind's fields (docs/sync.md); validated by the consumer that stores it


class Batch(_Model):
    format: Literal["hallops-sync/1"]
    hall: HallId
    stream: Stream
    lo: Bound  # exclusive: every record the edge holds in (lo, hi] is in `records`
    hi: Seq
    sent_at: Time
    records: list[Record]


class Confirmation(_Model):
    format: Literal["hallops-sync-ack/1"]
    hall: HallId
    confirmed: dict[Stream, Bound]  # per stream: every record up to this number is committed in the cloud
    at: Time


class Status(_Model):
    """The hall now, for the fleet view: sent every 30 s while the link is up; `online` false is the link's will."""

    format: Literal["hallops-status/1"]
    hall: HallId
    at: Time
    online: bool
    body: dict[str, Any] = {}


_M = TypeVar("_M", bound=BaseModel)


def batch_problems(batch: Batch) -> list[str]:
    """What is inconsistent in a batch that parsed: records outside (lo, hi], out of order or twice, of another kind."""
    problems: list[str] = []
    if batch.hi <= batch.lo:
        problems.append(f"hi: {batch.hi} is not above lo {batch.lo}")
    last = batch.lo
    for i, r in enumerate(batch.records):
        if not batch.lo < r.seq <= batch.hi:
            problems.append(f"records[{i}].seq: {r.seq} is outside ({batch.lo}, {batch.hi}]")
        elif r.seq <= last:
            problems.append(f"records[{i}].seq: {r.seq} is not above the record before ({last})")
        last = max(last, r.seq)
        if r.kind not in KINDS[batch.stream]:
            problems.append(f"records[{i}].kind: {r.kind!r} is not a record of stream {batch.stream.value}")
    return problems


def decode_batch(raw: bytes) -> Batch:
    """A batch as received; PayloadError with the field path of the first problem (reason `bad_batch`)."""
    batch = _decode(Batch, raw, "bad_batch")
    problems = batch_problems(batch)
    if problems:
        path, _, detail = problems[0].partition(": ")
        raise PayloadError("bad_batch", detail, path)
    return batch


def decode_confirmation(raw: bytes) -> Confirmation:
    return _decode(Confirmation, raw, "bad_confirmation")


def decode_status(raw: bytes) -> Status:
    return _decode(Status, raw, "bad_status")


def _decode(model: type[_M], raw: bytes, reason: str) -> _M:
    """Parsed and validated in one pass by pydantic-core (no dict of the whole message first: a consumer decodes tens
    of thousands of records a second)."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(p) for p in first["loc"])
        if first["type"] == "json_invalid":
            raise PayloadError(reason, f"not JSON: {first['msg']}") from None
        raise PayloadError(reason, first["msg"], path) from None


def encode(payload: dict[str, object]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
