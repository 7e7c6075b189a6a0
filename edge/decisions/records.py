"""Alerts, tickets and recommendations as JSON: the bodies the decisions write (alert history, ticket and
recommendation records), deliver (MQTT, webhooks, the live stream) and the API serves (edge/api/schemas.py
validates them as AlertOut, TicketOut, RecommendationOut).

They live with the decisions, not in edge/api, because the decisions make them first: a notification is sent and a
record stored whether or not anyone reads the API, and the decision layer must not import the API (which imports
it). Times are given in the hall's time zone. This module must not decide or store anything.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import fields
from datetime import UTC, datetime
from enum import Enum
from zoneinfo import ZoneInfo

from edge.wording.alerts import alert_words, ticket_words
from edge.wording.tidal import recommendation_json
from rules.engine import Alert, Notify, NotifyReason
from rules.hall import HallProfile
from rules.language import Rule
from rules.tickets import Ticket
from rules.tidal import Recommendation


def alert_json(
    a: Alert,
    *,
    description: str,
    hall: str,
    tz: ZoneInfo,
    note: Notify | None = None,
    rule: Rule | None = None,
    profile: HallProfile | None = None,
) -> dict[str, object]:
    """The alert as the API, the MQTT alert topic, webhooks and the live stream show it (`description`: its rule's).
    `text` ({zh, en}) is the alert in words for the staff, `public` for the wall screen (null: not for the public),
    `title` its rule's short name, rendered from `rule`'s templates with `profile`'s display names (edge/wording);
    `reason` stays the machine text."""

    def t(v: datetime | None) -> str | None:
        return v.astimezone(tz).isoformat() if v is not None else None

    words = alert_words(rule, a.rule_id, a.labels, a.evidence, a.active_since, profile, tz)
    body: dict[str, object] = {
        "hall": hall,
        "fingerprint": a.fingerprint,
        "rule": a.rule_id,
        "description": description,
        "severity": a.severity.value,
        "state": a.state.value,
        "labels": a.labels,
        "reason": a.reason,
        **words.json(),
        "evidence": {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in a.evidence.items()},
        "active_since": t(a.active_since),
        "fired_at": t(a.fired_at),
        "resolved_at": t(a.resolved_at),
        "acknowledged_at": t(a.acknowledged_at),
        "acknowledged_by": a.acknowledged_by,
        "escalation_level": a.escalation_level,
        "occurrences": a.occurrences,
        "muted_by": a.muted_by,
    }
    if note is not None:
        body["notification"] = {"reason": note.reason.value, "roles": [r.value for r in note.roles]}
    return body


def alert_notification_id(note: Notify) -> str:
    """A notification's stable id: the alert's fingerprint, its episode (when it started firing, UTC), and the
    transition — `firing`, `acknowledged`, `resolved` once per episode; `repeat-N`, `escalated-N` numbered. The
    outbox keeps it in the payload, so a delivery repeated after a crash carries the same id and a receiver drops
    it (docs/api.md, "Notifications")."""
    a = note.alert
    episode = (a.fired_at or a.active_since).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    transition = note.reason.value
    if note.reason is NotifyReason.REPEAT:
        transition = f"repeat-{a.notifications}"
    elif note.reason is NotifyReason.ESCALATED:
        transition = f"escalated-{a.escalation_level}"
    return f"alert:{a.fingerprint}:{episode}:{transition}"


def ticket_notification_id(t: Ticket, kind: str) -> str:
    """A ticket notification's stable id: the ticket, the event, and how many entries its history had then."""
    return f"ticket:{t.id}:{kind}:{len(t.history)}"


def recommendation_notification_id(rec_id: str, event: str) -> str:
    """A recommendation notification's stable id: each recommendation is offered, decided and escalated once."""
    return f"recommendation:{rec_id}:{event}"


def ticket_json(
    t: Ticket, tz: ZoneInfo, *, rules: Mapping[str, Rule] | None = None, profile: HallProfile | None = None
) -> dict[str, object]:
    """A ticket as the API, the MQTT ticket topic, webhooks and the live stream show it; `text` ({zh, en}) is its
    heading in words (what, about which device or window) and `problem` ({zh, en}) what it is, from the titles of
    `rules` and `profile`'s names."""
    body = {f.name: _plain_json(getattr(t, f.name), tz) for f in fields(t)}
    behind = [(rid, (rules or {}).get(rid)) for rid in t.rules]
    words = ticket_words(t.kind.value, behind, t.device, t.device_type, t.window, t.rating_ticket, profile)
    body["text"], body["problem"] = words
    return body


def recommendation_record(rec: Recommendation, event: str, by: str) -> dict[str, object]:
    """A recommendation as its record keeps it after `event` (offered, approved, assigned, rejected): who decided,
    if anyone. `assigned`: the manager picked the window (and staff) for an opening that proposed none."""
    decided_by = by if event in ("approved", "assigned", "rejected") else None
    return {**recommendation_json(rec), "status": event, "decided_by": decided_by}


def _plain_json(value: object, tz: ZoneInfo) -> object:
    if isinstance(value, datetime):
        return value.astimezone(tz).isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_plain_json(v, tz) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: _plain_json(getattr(value, f.name), tz) for f in fields(value)}  # type: ignore[arg-type, unused-ignore]
    return value
