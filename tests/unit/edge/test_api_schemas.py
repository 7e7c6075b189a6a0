"""The API's response models describe the records the decision layer writes and pass them through as written: a
client reads the same JSON whether or not a model stands between, and the OpenAPI document keeps up with the
records (a field added to a ticket, a recommendation or a day report is documented, or this fails)."""

from __future__ import annotations

import json
from dataclasses import fields

from pydantic import BaseModel, TypeAdapter

from edge.api.schemas import (
    AlertOut,
    DayReportOut,
    FiredOut,
    KpiToday,
    RecommendationOut,
    TicketFault,
    TicketOut,
    TicketStep,
    VersionDiffOut,
)
from edge.versions import VersionDiff
from rules.firings import Fired
from rules.kpi import DayReport
from rules.tickets import Fault, HistoryEntry, Ticket
from rules.tidal import Recommendation

ALERT = {
    "hall": "h1",
    "fingerprint": "f1",
    "rule": "wait-30",
    "description": "",
    "severity": "warning",
    "state": "firing",
    "labels": {"service": "SB"},
    "reason": "longest wait 31 min",
    "evidence": {"queue.longest_wait_min": 31, "window.idle": True, "window.status": "open", "x": 2.5, "y": None},
    "active_since": "2026-11-23T09:00:00+08:00",
    "fired_at": "2026-11-23T09:00:00+08:00",
    "resolved_at": None,
    "acknowledged_at": None,
    "acknowledged_by": None,
    "escalation_level": 0,
    "occurrences": 1,
    "muted_by": None,
    "from_a_later_release": [1, 2.0],
}
BEFORE_POOLING = {
    "id": "tidal-1",
    "kind": "open",
    "hall_id": "h1",
    "services": ["SB"],
    "windows": ["W2"],
    "staff": [],
    "n": 1,
    "current_servers": 1,
    "needed_servers": 2,
    "erlang_servers": 2,
    "backlog_servers": 2,
    "model": "erlang_c",
    "backlog": 6,
    "in_service": 1,
    "arrivals_live_per_h": 12,
    "arrivals_profile_per_h": None,
    "arrivals_per_h": 12.5,
    "aht_min": 8,
    "aht_learned": False,
    "projected_wait_min": 21.0,
    "projected_wait_after_min": 9.5,
    "worst_wait_min": None,
    "worst_wait_after_min": None,
    "service_level_now": 0.3,
    "service_level_after": 0.9,
    "reason_en": "…",
    "reason_zh": "…",
    "created_at": "2026-11-23T10:00:00+08:00",
    "expires_at": "2026-11-23T10:10:00+08:00",
    "status": "rejected",
    "decided_by": "wang",
}


def served(model: type[BaseModel], body: dict[str, object]) -> object:
    """The JSON a route with this response model answers for `body` (FastAPI: validate, then dump unset-excluded)."""
    adapter = TypeAdapter(model)
    return json.loads(adapter.dump_json(adapter.validate_python(body), by_alias=True, exclude_unset=True))


def test_an_alert_is_answered_as_written_numbers_and_unknown_keys_included() -> None:
    assert json.dumps(served(AlertOut, ALERT)) == json.dumps(ALERT)  # 31 stays 31, not 31.0


def test_a_recommendation_stored_before_pooling_is_answered_without_the_keys_it_never_had() -> None:
    assert json.dumps(served(RecommendationOut, BEFORE_POOLING)) == json.dumps(BEFORE_POOLING)


def names(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def test_the_record_models_describe_every_field_of_their_records() -> None:
    assert names(TicketOut) == [*(f.name for f in fields(Ticket)), "text", "problem", "names"]
    assert names(TicketFault) == [f.name for f in fields(Fault)]
    assert names(TicketStep) == [f.name for f in fields(HistoryEntry)]
    assert names(FiredOut) == [f.name for f in fields(Fired)]
    assert names(VersionDiffOut) == [f.name for f in fields(VersionDiff)]
    reason = ("reason_code", "reason_en", "reason_zh")
    rec = [n for f in fields(Recommendation) for n in (reason if f.name == "reason" else (f.name,))]
    assert names(RecommendationOut) == [*rec, "status", "decided_by"]
    # the tables per window and per staff member and where the served came from have their own routes
    # (/api/reports/{day}/windows, /staff, /served): the day's report stays the size it was
    day = [f.name for f in fields(DayReport) if f.name not in ("windows", "staff", "served_from")]
    assert names(DayReportOut) == [*day, "buckets", "targets"]
    assert names(KpiToday) == [*(n for n in day if n != "hours"), "buckets", "forecast", "targets"]
    words = {"title", "text", "public", "facts", "names"}
    assert set(names(AlertOut)) == set(ALERT) - {"from_a_later_release"} | words
