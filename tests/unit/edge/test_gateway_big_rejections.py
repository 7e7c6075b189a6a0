"""Refused messages as large as the broker lets through (900 KiB each): the gateway keeps only the start a dead letter
keeps until its commit, and commits once a batch's worth has been refused — a flood of them held whole took 40–115 MB
that the process never gave back (the reliability soak, issue 22). Real SQLite file."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from edge.config import load_config
from edge.gateway import MAX_BATCH, Gateway
from edge.store import DEAD_LETTER_KEEP_BYTES
from rules.clock import FixedClock

CST = timezone(timedelta(hours=8))
AT = datetime(2026, 11, 23, 10, 0, tzinfo=CST)
BIG = b'{"v": 1, "junk": "' + b"x" * (900 * 1024) + b'"'  # not JSON: refused as bad_json


def test_a_big_refused_message_is_held_as_its_start_and_kept_with_its_whole_size(tmp_path: Path) -> None:
    cfg = load_config(None, {"hall": {"id": "h1"}, "storage": {"path": str(tmp_path / "g.db")}})
    gw = Gateway(cfg, clock=FixedClock(AT))
    gw.open()
    assert gw.store is not None
    try:
        gw.handle("hall/h1/kiosk/K1/hb", BIG, AT)
        held = gw._batch.rejected
        assert len(held) == 1 and len(held[0].payload) == DEAD_LETTER_KEEP_BYTES  # not 900 KiB until the commit
        gw.flush()
        [letter] = gw.store.dead_letters.newest(1)
        assert letter.size == len(BIG) and letter.payload == BIG[:DEAD_LETTER_KEEP_BYTES]
    finally:
        gw.close()


def test_a_flood_of_refused_messages_commits_at_a_batch_not_at_the_next_second(tmp_path: Path) -> None:
    cfg = load_config(None, {"hall": {"id": "h1"}, "storage": {"path": str(tmp_path / "g.db")}})
    gw = Gateway(cfg, clock=FixedClock(AT))
    gw.open()
    assert gw.store is not None
    try:
        for _ in range(MAX_BATCH):
            gw.handle("hall/h1/kiosk/K1/hb", b"{", AT)
        assert len(gw._batch.rejected) == 0  # committed when the batch was full
        assert sum(gw.store.dead_letters.counts().values()) == MAX_BATCH
    finally:
        gw.close()
