"""Firings: the alerts a run of the rules fired, and the difference between two runs.

Used by backtests (a rule version replayed over the event log beside the active one), by shadow mode (a candidate
version evaluated beside the active one on live data) and to read what the live gateway did from its history.
Pure: alerts in, a diff out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from rules.engine import Alert, AlertState

TOLERANCE_S = 120.0


@dataclass(slots=True)
class Fired:
    """One alert as it fired in a run (an alert that fires twice is two of these)."""

    fingerprint: str
    rule: str
    labels: dict[str, str]
    severity: str
    fired_at: datetime
    resolved_at: datetime | None = None
    reason: str = ""

    def to_dict(self, tz: ZoneInfo) -> dict[str, object]:
        return {
            "fingerprint": self.fingerprint,
            "rule": self.rule,
            "labels": self.labels,
            "severity": self.severity,
            "fired_at": self.fired_at.astimezone(tz).isoformat(),
            "resolved_at": self.resolved_at.astimezone(tz).isoformat() if self.resolved_at else None,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class Diff:
    """Firings matched between two runs: the same alert (rule and subject) firing within the tolerance."""

    both: list[tuple[Fired, Fired]]  # (active, candidate)
    only_active: list[Fired]  # the active version fired it; the candidate would not have
    only_candidate: list[Fired]  # the candidate would have fired it; the active version did not

    @property
    def same(self) -> bool:
        return not self.only_active and not self.only_candidate

    def per_rule(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for a, _ in self.both:
            out.setdefault(a.rule, {"both": 0, "only_active": 0, "only_candidate": 0})["both"] += 1
        for a in self.only_active:
            out.setdefault(a.rule, {"both": 0, "only_active": 0, "only_candidate": 0})["only_active"] += 1
        for c in self.only_candidate:
            out.setdefault(c.rule, {"both": 0, "only_active": 0, "only_candidate": 0})["only_candidate"] += 1
        return dict(sorted(out.items()))

    def to_dict(self, tz: ZoneInfo) -> dict[str, object]:
        return {
            "same": self.same,
            "per_rule": self.per_rule(),
            "both": len(self.both),
            "only_active": [a.to_dict(tz) for a in self.only_active],
            "only_candidate": [c.to_dict(tz) for c in self.only_candidate],
        }


def compare(active: Iterable[Fired], candidate: Iterable[Fired], tolerance_s: float = TOLERANCE_S) -> Diff:
    """Pair each firing with the other run's firing of the same alert nearest in time, within `tolerance_s`."""
    left: dict[str, list[Fired]] = {}
    for a in active:
        left.setdefault(a.fingerprint, []).append(a)
    both: list[tuple[Fired, Fired]] = []
    only_candidate: list[Fired] = []
    for c in sorted(candidate, key=lambda f: f.fired_at):
        options = left.get(c.fingerprint, [])
        best = min(options, key=lambda a: abs((a.fired_at - c.fired_at).total_seconds()), default=None)
        if best is not None and abs((best.fired_at - c.fired_at).total_seconds()) <= tolerance_s:
            options.remove(best)
            both.append((best, c))
        else:
            only_candidate.append(c)
    only_active = sorted((a for rest in left.values() for a in rest), key=lambda f: f.fired_at)
    return Diff(both, only_active, only_candidate)


@dataclass(slots=True)
class Firings:
    """Collects the firings in [start, end) from alert state changes (an alert firing before the period — its start
    told by the hall — or after it is not counted)."""

    start: datetime
    end: datetime
    alerts: list[Fired] = field(default_factory=list)
    _open: dict[str, Fired] = field(default_factory=dict)

    @classmethod
    def from_history(cls, rows: Iterable[tuple[str, str, str, str, str]], start: datetime, end: datetime) -> Firings:
        """What a live gateway fired in [start, end), from its alert history rows (fingerprint, rule, state,
        severity, the alert as JSON)."""
        out = cls(start, end)
        for fp, rule, state, severity, body in rows:
            out.change(fp, rule, state, severity, json.loads(body))
        return out

    def observe(self, a: Alert) -> None:
        """An alert as the engine's take_changes() gives it."""
        if a.state is AlertState.FIRING and a.fired_at is not None:
            self._fired(a.fingerprint, a.rule_id, dict(a.labels), a.severity.value, a.fired_at, a.reason)
        elif a.state is AlertState.RESOLVED and a.fingerprint in self._open:
            self._open.pop(a.fingerprint).resolved_at = a.resolved_at

    def change(self, fp: str, rule: str, state: str, severity: str, body: dict[str, Any]) -> None:
        """An alert as the gateway's history and the API show it (JSON, times in ISO 8601)."""
        if state == "firing":
            fired = _when(body.get("fired_at"))
            if fired is not None:
                labels = body.get("labels") or {}
                self._fired(fp, rule, dict(labels), severity, fired, str(body.get("reason", "")))
        elif state == "resolved" and fp in self._open:
            self._open.pop(fp).resolved_at = _when(body.get("resolved_at"))

    def _fired(self, fp: str, rule: str, labels: dict[str, str], severity: str, at: datetime, reason: str) -> None:
        if fp in self._open or not self.start <= at < self.end:
            return
        alert = Fired(fp, rule, labels, severity, at, reason=reason)
        self.alerts.append(alert)
        self._open[fp] = alert

    def forget(self, oldest: int) -> None:
        """Drop the `oldest` firings (and start the period after them)."""
        gone, self.alerts = self.alerts[:oldest], self.alerts[oldest:]
        for a in gone:
            if self._open.get(a.fingerprint) is a:
                del self._open[a.fingerprint]
        if self.alerts:
            self.start = self.alerts[0].fired_at

    def per_rule(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for a in self.alerts:
            counts[a.rule] = counts.get(a.rule, 0) + 1
        return dict(sorted(counts.items()))

    def dump(self) -> list[dict[str, object]]:
        return [
            {
                "fingerprint": a.fingerprint,
                "rule": a.rule,
                "labels": a.labels,
                "severity": a.severity,
                "fired_at": a.fired_at.isoformat(),
                "resolved_at": a.resolved_at.isoformat() if a.resolved_at else None,
                "reason": a.reason,
                "open": a.fingerprint in self._open and self._open[a.fingerprint] is a,
            }
            for a in self.alerts
        ]

    def load(self, rows: list[dict[str, Any]]) -> None:
        for r in rows:
            fired = Fired(
                r["fingerprint"],
                r["rule"],
                dict(r["labels"]),
                r["severity"],
                datetime.fromisoformat(r["fired_at"]),
                _when(r.get("resolved_at")),
                r.get("reason", ""),
            )
            self.alerts.append(fired)
            if r.get("open"):
                self._open[fired.fingerprint] = fired


def _when(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


__all__ = ["TOLERANCE_S", "Diff", "Fired", "Firings", "compare"]
