"""A gateway upgraded over a restart keeps its alerts: the rule engine's state saved by the release before issue 15
(format 1, no schema number: tests/data/saved_state/engine-v1.json, the `engine` row of `decision_state` in
gateway.db.gz there — the county morning, with an acknowledged alert and a silence) loads with the code of today,
with every alert's state and clock and the silence as they were saved.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from rules.engine import AlertState, RuleEngine, Silence
from rules.language import Severity, builtin_rules

SAVED = Path(__file__).resolve().parents[2] / "data" / "saved_state"
CST = timezone(timedelta(hours=8))


def cst(hh: int, mm: int, ss: int = 0, ms: int = 0) -> datetime:
    return datetime(2026, 11, 23, hh, mm, ss, ms * 1000, tzinfo=CST)


def saved_v1() -> dict[str, object]:
    body: dict[str, object] = json.loads((SAVED / "engine-v1.json").read_text(encoding="utf-8"))
    assert "schema" not in body, "format 1 has no schema number"
    return body


def test_the_alerts_saved_by_format_1_come_back_with_their_states_and_clocks() -> None:
    engine = RuleEngine(builtin_rules())
    engine.load(saved_v1())
    seen = {
        fp: (
            a.rule_id,
            a.state,
            a.severity,
            a.labels,
            a.active_since,
            a.fired_at,
            a.last_true,
            a.notified_at,
            a.notifications,
            a.occurrences,
            a.acknowledged_at,
            a.acknowledged_by,
            a.muted_by,
        )
        for fp, a in engine.alerts.items()
    }
    assert seen == {
        "f498ed898ee17a7d": (
            "kiosk-help-requested",
            AlertState.FIRING,
            Severity.WARNING,
            {"device": "K01", "device_type": "kiosk"},
            cst(9, 11, 37, 590),
            cst(9, 11, 37, 590),
            cst(10, 31, 51, 154),
            cst(9, 11, 37, 590),
            1,
            4,
            None,
            None,
            None,
        ),
        "5a7e677a961add2d": (
            "bad-rating",
            AlertState.FIRING,
            Severity.MAJOR,
            {"device": "EV06", "device_type": "evaluator", "ticket": "20261123-C010", "window": "W06"},
            cst(10, 21, 31, 520),
            cst(10, 21, 31, 520),
            cst(10, 21, 31, 520),
            cst(10, 21, 31, 520),
            1,
            1,
            None,
            None,
            None,
        ),
        "5439af61129ee6b2": (
            "kiosk-help-requested",
            AlertState.FIRING,
            Severity.WARNING,
            {"device": "K02", "device_type": "kiosk"},
            cst(10, 33, 40, 117),
            cst(10, 33, 40, 117),
            cst(10, 55, 8, 169),
            cst(10, 33, 40, 117),
            1,
            2,
            None,
            None,
            None,
        ),
        "0acab7610b3a73a1": (
            "device-offline",
            AlertState.FIRING,
            Severity.MAJOR,
            {"device": "K03", "device_type": "kiosk"},
            cst(10, 50, 30),
            cst(10, 50, 30),
            cst(11, 0),
            cst(10, 50, 30),
            1,
            1,
            None,
            None,
            None,
        ),
        "d2873de38dc91d71": (
            "tidal-open",
            AlertState.ACKNOWLEDGED,
            Severity.MAJOR,
            {"service": "SCZT"},
            cst(10, 51, 42),
            cst(10, 53, 42),
            cst(10, 55, 54, 394),
            cst(10, 53, 42),
            1,
            1,
            cst(11, 0),
            "local",
            None,
        ),
    }
    offline = engine.alerts["0acab7610b3a73a1"]
    assert offline.evidence == {"device.offline_min": 10.0, "device.silent_s": 615.943}
    assert offline.reason == "device.offline_min = 10.0; device.silent_s = 615.9 (device=K03, device_type=kiosk)"
    assert engine.alerts["5a7e677a961add2d"].evidence == {"score": 2.0}
    assert all(a.resolved_at is None and a.escalation_level == 0 for a in engine.alerts.values())


def test_the_silence_saved_by_format_1_comes_back_and_mutes_from_its_start() -> None:
    engine = RuleEngine(builtin_rules())
    engine.load(saved_v1())
    assert engine.silences == {
        "e102b6cd8390": Silence(
            "e102b6cd8390", "missed-ticket", {}, cst(11, 0), cst(15, 0), "local", "known: a noisy morning"
        ),
    }


def test_a_restarted_engine_saves_format_2_the_same_document_with_its_number() -> None:
    engine = RuleEngine(builtin_rules())
    engine.load(saved_v1())
    saved = json.loads(json.dumps(engine.dump()))
    assert saved == {**saved_v1(), "schema": 2}
    again = RuleEngine(builtin_rules())
    again.load(saved)
    assert again.alerts == engine.alerts and again.silences == engine.silences


def test_a_state_of_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="schema 3"):
        RuleEngine(builtin_rules()).load({**saved_v1(), "schema": 3})
