"""The saved formats of the tidal state: `TidalTracker.dump` and `DemandProfile.dump` as JSON, through pydantic
`TypeAdapter`s over the records below, with the schema number and the upgrade from the format before.

Owns `SCHEMA_VERSION`, `TrackerState`, `ProfileState`, `dump_*`/`load_*` and reading format 1. Must not decide
anything: the tracker and the profile convert themselves to and from these records.

Format 2 (issue 15): a recommendation carries `reason`, a code and the numbers its words need, instead of the words
(edge/wording/tidal.py renders them). Format 1 kept the English and Chinese words only (`reason_en`, `reason_zh`),
from which no code and numbers can be recovered (the service names and the settings were not saved): a recommendation
of format 1 comes back with a `SavedReason` holding those words, so it shows exactly what it showed before the
upgrade (it expires within `valid_for_min` anyway). The profile of format 1 has the shape of format 2.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import TypeAdapter

from rules.tidal.model import OpenedWindow, Opening, Recommendation
from rules.tidal.reason import ReasonCode

SCHEMA_VERSION = 2  # 1: words instead of a reason code (read and upgraded)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileState:
    """A `DemandProfile` as saved."""

    schema: int = SCHEMA_VERSION
    timezone: str
    weeks: int
    days: dict[date, dict[str, dict[int, int]]]  # local date → service → slot → tickets issued
    open_slots: dict[date, dict[str, list[int]]] = field(default_factory=dict)  # local date → window → slots open
    open_since: dict[str, datetime] = field(default_factory=dict)  # window → open since (an interval not ended yet)
    # local date → service → slot → of those tickets, the appointment ones (issue 20; None: saved before, not known)
    appointments: dict[date, dict[str, dict[int, int]]] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackerState:
    """A `TidalTracker` as saved."""

    schema: int = SCHEMA_VERSION
    pending: tuple[Recommendation, ...]
    rejected: dict[str, datetime]  # id → until when the same recommendation is not offered again
    openings: tuple[Opening, ...]
    opened: tuple[OpenedWindow, ...]
    quiet: dict[str, datetime]  # group key → quiet since
    last_check: datetime | None = None
    covers: tuple[OpenedWindow, ...] = ()  # approved AB-post covers (issue 20; none in states saved before)


_PROFILE = TypeAdapter(ProfileState)
_TRACKER = TypeAdapter(TrackerState)


def dump_profile(state: ProfileState) -> bytes:
    return _PROFILE.dump_json(state)


def load_profile(data: bytes) -> ProfileState:
    body = _body(data, "demand profile")
    return _PROFILE.validate_python({**body, "schema": SCHEMA_VERSION})


def dump_tracker(state: TrackerState) -> bytes:
    return _TRACKER.dump_json(state)


def load_tracker(data: bytes) -> TrackerState:
    body = _body(data, "tidal tracker")
    return _TRACKER.validate_python(_tracker_from_v1(body) if body["schema"] == 1 else body)


def _body(data: bytes, what: str) -> dict[str, Any]:
    body = json.loads(data)
    schema = body.get("schema") if isinstance(body, dict) else None
    if schema not in (1, SCHEMA_VERSION):
        raise ValueError(f"{what} schema {schema!r} is not {SCHEMA_VERSION} (or 1, which is upgraded)")
    return body  # type: ignore[no-any-return]


def _tracker_from_v1(body: Mapping[str, Any]) -> dict[str, Any]:
    """Format 1 → 2: every recommendation (pending, or in an opening awaiting its check) is upgraded."""
    return {
        **body,
        "schema": SCHEMA_VERSION,
        "pending": [_recommendation_from_v1(r) for r in body["pending"]],
        "openings": [{**o, "rec": _recommendation_from_v1(o["rec"])} for o in body["openings"]],
    }


def _recommendation_from_v1(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Its words become a `SavedReason`; the fields format 1 gained over time get the defaults its loader gave."""
    values = dict(raw)
    values.setdefault("serves", values["services"])  # saved before pooling
    values.setdefault("arriving", 0)
    values.setdefault("late", 0)
    values.setdefault("late_after", 0)
    values["reason"] = {"code": ReasonCode.SAVED, "en": values.pop("reason_en"), "zh": values.pop("reason_zh")}
    return values
