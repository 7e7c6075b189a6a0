"""The built-in pack's disk rules: the hall manager and the technician are told when the gateway's data directory
nears its disk budget (major at 80 % for 5 minutes) and when it is all but used up (critical at 95 % for a minute),
and not before the gateway has measured it."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from rules.alerts import NotifyReason
from rules.engine import Notify, RuleEngine
from rules.hall import GatewayView, HallProfile, HallState
from rules.language import builtin_rules
from tests.unit.rules.feed import T0

DISK_RULES = {"gateway-disk-budget", "gateway-disk-critical"}


def fired(pct: float | None, minutes: int) -> dict[str, tuple[str, ...]]:
    """The disk rules that fired within `minutes` of the share staying at `pct`, with whom each tells."""
    state, engine = HallState(HallProfile("h1")), RuleEngine(builtin_rules())
    out: dict[str, tuple[str, ...]] = {}
    for s in range(0, minutes * 60 + 1, 10):
        now: datetime = T0 + timedelta(seconds=s)
        hall = replace(state.snapshot(now), gateway=GatewayView(disk_budget_pct=pct))
        for d in engine.evaluate(hall, now):
            if isinstance(d, Notify) and d.alert.rule_id in DISK_RULES and d.reason is NotifyReason.FIRING:
                out[d.alert.rule_id] = tuple(sorted(r.value for r in d.roles))
    return out


@pytest.mark.parametrize(
    ("pct", "minutes", "expected"),
    [
        (None, 10, set()),  # not measured yet: nothing
        (79.9, 10, set()),
        (85.0, 4, set()),  # not yet for 5 minutes
        (85.0, 6, {"gateway-disk-budget"}),
        (96.0, 2, {"gateway-disk-critical"}),
        (96.0, 6, {"gateway-disk-budget", "gateway-disk-critical"}),
    ],
)
def test_the_disk_rules_fire_at_their_share_of_the_budget(pct: float | None, minutes: int, expected: set[str]) -> None:
    got = fired(pct, minutes)
    assert set(got) == expected
    for roles in got.values():
        assert roles == ("hall_manager", "technician")
