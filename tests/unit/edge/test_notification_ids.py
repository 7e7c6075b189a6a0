"""A notification's `id` is the notification's, as docs/api.md ("Notifications and their ids") promises, on every
channel — MQTT, each webhook, the live stream — and for every kind: each event of one ticket has its own, so a
receiver that drops repeats by `id` drops no event; the ticket's own id is its `ticket_id`. Through the real decider
on a real SQLite file, on a fixed clock."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

from edge.config import load_config
from edge.decisions import Decider, decider_for
from edge.store import Store
from edge.wording.notify import notice_words
from rules.clock import FixedClock
from rules.hall import HallState
from rules.language import builtin_rules
from tests.unit.edge.test_decider_storage_fault import Recorder
from tests.unit.rules.feed import T0, Feed

HOOK = "https://ops.test/hallops"


def test_each_event_of_a_ticket_is_a_notification_with_its_own_id_on_every_channel(tmp_path: Path) -> None:
    cfg = load_config(
        None,
        {"hall": {"id": "h1"}, "storage": {"path": str(tmp_path / "g.db")}, "notify": {"webhooks": [HOOK]}},
    )
    store = Store(cfg.storage.path)
    hall = HallState(cfg.profile())
    clock = FixedClock(T0)
    stream = Recorder()
    decider = decider_for(cfg, builtin_rules(), store, clock, hall.snapshot, stream=stream)
    paper_out = Feed()("ticket_machine", "TM1", 0, on="state", online=True, printer="paper_out", paper_pct=0)
    hall.apply(paper_out)
    decider.on_message(paper_out)
    decider.evaluate()
    (ticket,) = decider.tickets.tickets
    clock.set(T0 + timedelta(seconds=30))
    decider.ticket_transition(ticket.id, "acknowledge", "li", "")

    rows = store.outbox.due(T0.timestamp() + 10**9)
    mqtt = [json.loads(r.payload) for r in rows if r.channel == "mqtt" and r.target == "hallops/h1/tickets"]
    hook = [json.loads(r.payload) for r in rows if r.channel == "webhook" and r.target == HOOK]
    hook = [m for m in hook if m["type"] == "ticket"]
    live = [body for event, body in stream.sent if event == "ticket"]
    store.close()

    ids = [m["id"] for m in mqtt]
    assert [m["notification"]["event"] for m in mqtt] == ["opened", "acknowledged"]
    assert ids == [f"ticket:{ticket.id}:opened:1", f"ticket:{ticket.id}:acknowledged:2"]  # docs/api.md's pattern
    assert [m["id"] for m in hook] == [m["id"] for m in live] == ids  # the same id on every channel
    assert [m["ticket_id"] for m in mqtt] == [m["ticket_id"] for m in live] == [ticket.id, ticket.id]
    # a group robot's text and an SMS gateway's Idempotency-Key carry the same id and name the ticket by its own id
    words = [notice_words(m) for m in hook]
    assert [w.id for w in words] == ids
    assert all(w.title.startswith("【P") and f"设备故障工单 {ticket.id} " in w.title for w in words)


def test_a_recommendation_notification_keeps_its_own_id_as_rec_id() -> None:
    body: dict[str, object] = {"id": "R-20261123-0002", "kind": "open", "status": "approved"}
    note = Decider.notification("recommendation", body, "recommendation:R-20261123-0002:approved")
    assert note == {
        "id": "recommendation:R-20261123-0002:approved",
        "rec_id": "R-20261123-0002",
        "kind": "open",
        "status": "approved",
    }
    assert re.fullmatch(r"recommendation:R-\d{8}-\d{4}:approved", str(note["id"]))
