"""The decision state is written part by part: each open alert is a row of its own, so an alert that fires rewrites its
own row and leaves the others alone, an alert that ends takes its row with it, and a restart finds every open alert.
Real SQLite file; time from a FixedClock."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

from edge.config import GatewayConfig, load_config
from edge.decisions import Decider, decider_for
from edge.decisions.loop import ALERT_PART, TICKET_PART
from edge.store import Store
from edge.stream import Broadcaster
from rules.clock import FixedClock
from rules.hall import HallState
from rules.language import builtin_rules
from tests.unit.rules.feed import T0, Feed


def rows(path: Path) -> dict[str, float]:
    """Each part of the saved decision state, with when it was written last."""
    with sqlite3.connect(path) as db:
        return {str(n): float(at) for n, at in db.execute("SELECT name, saved_at FROM decision_state")}


def started(tmp: Path) -> tuple[GatewayConfig, Store, HallState, FixedClock, Decider]:
    """A hall's decider on a real file, on a manual clock at T0, after its first evaluation."""
    cfg = load_config(None, {"hall": {"id": "h1"}, "storage": {"path": str(tmp / "g.db")}})
    store = Store(cfg.storage.path)
    hall = HallState(cfg.profile())
    clock = FixedClock(T0)
    decider = decider_for(cfg, builtin_rules(), store, clock, hall.snapshot, stream=Broadcaster())
    decider.evaluate()
    return cfg, store, hall, clock, decider


def test_an_alert_rewrites_its_own_row_and_a_restart_finds_every_open_alert(tmp_path: Path) -> None:
    cfg, store, hall, clock, decider = started(tmp_path)
    feed = Feed()

    def help_from(kiosk: str, second: int) -> None:
        msg = feed("kiosk", kiosk, second, type="kiosk.help_requested")
        hall.apply(msg)
        decider.on_message(msg)
        clock.set(T0 + timedelta(seconds=second + 1))
        decider.evaluate()

    def saved_alerts() -> dict[str, float]:
        return {n.removeprefix(ALERT_PART): at for n, at in rows(cfg.storage.path).items() if n.startswith(ALERT_PART)}

    def help_alert(kiosk: str) -> str:
        (fp,) = [
            fp
            for fp, a in decider.engine.alerts.items()
            if a.rule_id == "kiosk-help-requested" and a.labels.get("device") == kiosk
        ]
        return fp

    help_from("k1", 60)
    k1 = help_alert("k1")
    first = saved_alerts()
    assert set(first) == set(decider.engine.alerts) and k1 in first  # every open alert, each in a row of its own
    help_from("k2", 120)
    second = saved_alerts()
    assert set(second) == set(decider.engine.alerts) and help_alert("k2") in second
    assert second[k1] == first[k1]  # k2 firing did not rewrite k1's row

    open_alerts = {fp: a.state for fp, a in decider.engine.alerts.items()}
    again = decider_for(cfg, builtin_rules(), store, clock, hall.snapshot, stream=Broadcaster())
    assert {fp: a.state for fp, a in again.engine.alerts.items()} == open_alerts  # the restart finds both

    decider = again
    gone = {help_alert("k1"), help_alert("k2")}
    clock.set(T0 + timedelta(hours=2))  # an event alert lasts an hour: both end, and their rows go with them
    again.evaluate()
    assert not gone & set(again.engine.alerts)
    assert set(saved_alerts()) == set(again.engine.alerts)  # what is saved is what is open, no more
    store.close()


def test_a_ticket_rewrites_its_own_row_and_a_restart_finds_the_whole_book(tmp_path: Path) -> None:
    """Rectification tickets nobody closes pile up (hundreds after a month): a change to one rewrites its row, not the
    book."""
    cfg, store, hall, clock, decider = started(tmp_path)
    feed = Feed()
    for i in range(3):  # three bad ratings: three rectification tickets
        msg = feed("evaluator", "EV1", 60 + i, type="rating.submitted", window_id="W1", ticket_id=f"t{i}", score=1)
        hall.apply(msg)
        decider.on_message(msg)
    clock.set(T0 + timedelta(seconds=70))
    decider.evaluate()
    ids = [t.id for t in decider.tickets.tickets]
    assert len(ids) == 3

    def saved_tickets() -> dict[str, float]:
        return {
            n.removeprefix(TICKET_PART): at for n, at in rows(cfg.storage.path).items() if n.startswith(TICKET_PART)
        }

    before = saved_tickets()
    assert set(before) == set(ids)  # each in a row of its own
    clock.set(T0 + timedelta(seconds=80))
    decider.ticket_transition(ids[1], "acknowledge", "manager", "")
    after = saved_tickets()
    assert after[ids[1]] > before[ids[1]]  # the one acknowledged: its row rewritten …
    for tid in (ids[0], ids[2]):
        assert after[tid] == before[tid]  # … the others not

    again = decider_for(cfg, builtin_rules(), store, clock, hall.snapshot, stream=Broadcaster())
    assert again.tickets.tickets == decider.tickets.tickets  # the whole book, as it stood
    store.close()
