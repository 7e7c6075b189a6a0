"""A shadow rule version: a candidate evaluated beside the active one on the same hall at the same moments, acting
on nothing. Its firings are only recorded, for the would-have-fired diff against what the active version fired
(the alert history).

This module must not read or write the store (the decider hands it the saved shadow and the active history) nor
notify anyone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from edge.store import AlertChange
from rules.engine import AlertState, RuleEngine
from rules.firings import Firings, compare
from rules.hall import HallSnapshot
from rules.language import RuleFile

SHADOW_FIRINGS_KEPT = 5000  # the newest firings of a shadow version kept for its diff
FOREVER = datetime.max.replace(tzinfo=UTC)


def firings_of(changes: Iterable[AlertChange], start: datetime, end: datetime) -> Firings:
    """What the alert history says fired in [start, end)."""
    return Firings.from_history(((c.fingerprint, c.rule_id, c.state, c.severity, c.body) for c in changes), start, end)


@dataclass(slots=True)
class Shadow:
    """A candidate rule version evaluated beside the active one on the same hall at the same moments, acting on
    nothing: its firings are only recorded, for the would-have-fired diff."""

    number: int
    engine: RuleEngine
    started_at: datetime
    firings: Firings

    @classmethod
    def start(cls, number: int, rules: RuleFile, timezone: str, saved: Mapping[str, Any], now: datetime) -> Shadow:
        """Version `number` in shadow from `now` — or, if `saved` (the shadow as dumped last) is the same version,
        carrying on where it was (a restart)."""
        engine = RuleEngine(rules, timezone)
        if saved.get("number") == number:
            engine.load(saved["engine"])
            firings = Firings(datetime.fromisoformat(saved["started_at"]), FOREVER)
            firings.load(saved["firings"])
            return cls(number, engine, firings.start, firings)
        return cls(number, engine, now, Firings(now, FOREVER))

    def dump(self) -> dict[str, object]:
        return {
            "number": self.number,
            "started_at": self.started_at.isoformat(),
            "engine": self.engine.dump(),
            "firings": self.firings.dump(),
        }

    def evaluate(self, hall: HallSnapshot, now: datetime, only: set[str] | None) -> None:
        """Evaluate the shadow's rules where the active ones were, and record what changed."""
        self.engine.evaluate(hall, now, only)
        for changed in self.engine.take_changes():
            self.firings.observe(changed)
        if len(self.firings.alerts) > SHADOW_FIRINGS_KEPT:  # a shadow left running for weeks stays small
            self.firings.forget(len(self.firings.alerts) - SHADOW_FIRINGS_KEPT)

    def report(self, active: Iterable[AlertChange], now: datetime, tz: ZoneInfo) -> dict[str, object]:
        """The would-have-fired diff: `active` (the alert history since `firings.start`) against the shadow's."""
        start = self.firings.start  # the start, or the oldest firing still kept
        fired = firings_of(active, start, FOREVER)
        # the same hall at the same moments: a firing of both is one at the same time (a second for rounding)
        found = compare(fired.alerts, self.firings.alerts, tolerance_s=1.0)
        firing = [
            f"{a.rule_id} " + ",".join(f"{k}={v}" for k, v in sorted(a.labels.items()))
            for a in self.engine.alerts.values()
            if a.state is AlertState.FIRING
        ]
        return {
            "number": self.number,
            "started_at": self.started_at.astimezone(tz).isoformat(),
            "compared_since": start.astimezone(tz).isoformat(),
            "now": now.astimezone(tz).isoformat(),
            "active_per_rule": fired.per_rule(),
            "shadow_per_rule": self.firings.per_rule(),
            "shadow_firing": sorted(firing),
            "diff": found.to_dict(tz),
        }
